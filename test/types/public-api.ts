/**
 * Compile-time checks of the public types (run by test/unit/types.test.ts through `tsc`): every
 * `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
 */
import { pino } from 'pino';
import type { ExecRuntime, ExecServerClient } from '../../src/index.js';
import type {
  ExecProcess,
  FileSystemPolicyOption,
  Logger,
  SandboxOptions,
  StartOptions,
} from '../../src/index.js';

declare const runtime: ExecRuntime;
declare const client: ExecServerClient;
declare const proc: ExecProcess;
const base = { argv: ['true'], cwd: '/', env: {} } as const;

// ---- sandbox: the configs of docs/sandbox.md compile; typos and unknown tags do not ----------
export const configs: SandboxOptions[] = [
  {},
  { mode: 'require', policy: { type: 'read-only' } },
  { mode: 'require', policy: { type: 'workspace-write', writable_roots: ['/x'], network_access: true } },
  { mode: 'auto', fileSystemPolicy: { kind: 'restricted', entries: [] }, networkPolicy: 'restricted' },
  { sandboxPreference: 'forbid' },
];
export const starts: StartOptions[] = [
  { ...base, sandbox: { mode: 'require', policy: { type: 'workspace-write' } } },
  { ...base, sandbox: null },
  // @ts-expect-error a misspelt member
  { ...base, sandbox: { mdoe: 'require' } },
  // @ts-expect-error an unknown mode
  { ...base, sandbox: { mode: 'required' } },
  // @ts-expect-error an unknown policy type
  { ...base, sandbox: { policy: { type: 'workspace_write' } } },
  // @ts-expect-error a member of another policy type
  { ...base, sandbox: { policy: { type: 'read-only', writable_roots: [] } } },
  // @ts-expect-error a string where the config object goes
  { ...base, sandbox: 'workspace-write' },
];

export const badAccess: FileSystemPolicyOption = {
  kind: 'restricted',
  // @ts-expect-error an unknown access
  entries: [{ path: { type: 'path', path: '/' }, access: 'rw' }],
};

// ---- signals: aliases and real names compile, made-up names do not ---------------------------
export async function signals(): Promise<void> {
  await proc.signal('interrupt');
  await proc.signal('SIGUSR1');
  await proc.signal('SIGKILL');
  // @ts-expect-error not a signal
  await proc.signal('SIGNOPE');
  // @ts-expect-error the alias is lower case
  await proc.signal('Terminate');
  // @ts-expect-error a number is not a name
  await proc.signal(9);
}

// ---- start limits and exec ------------------------------------------------------------------
export async function conveniences(): Promise<void> {
  const controller = new AbortController();
  await runtime.start({ ...base, timeoutMs: 1000, terminateGraceMs: 100, signal: controller.signal });
  await proc.read({ waitMs: 1000, signal: controller.signal });
  const text: string = (await runtime.exec(base)).stdout;
  const bytes: Uint8Array = (await client.exec({ ...base, encoding: 'buffer' })).stdout;
  // @ts-expect-error with encoding 'buffer' the output is bytes, not a string
  const notText: string = (await runtime.exec({ ...base, encoding: 'buffer' })).stderr;
  // @ts-expect-error an unknown encoding
  await runtime.exec({ ...base, encoding: 'latin1' });
  // @ts-expect-error timeoutMs is a number of milliseconds
  await runtime.start({ ...base, timeoutMs: '5s' });
  const { exitCode, signal, timedOut, durationMs } = await client.exec(base);
  void [text, bytes, notText, exitCode, signal, timedOut, durationMs];
}

// ---- logging: a pino logger is a Logger as is; the old (message, fields) shape is not -------
export const fromPino: Logger = pino();
const messageFirst = (_message: string) => {};
const messageFirstLogger = {
  debug: messageFirst,
  info: messageFirst,
  warn: messageFirst,
  error: messageFirst,
};
// @ts-expect-error fields come first, as in pino
export const oldShape: Logger = messageFirstLogger;
