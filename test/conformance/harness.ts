/**
 * The conformance harness: the same black-box cases run against the reference server (the Rust
 * `codex exec-server` of the pinned `@openai/codex`, fetched by bench/lib/codex-reference.ts) and
 * against `execvisor serve`, each over a WebSocket and over stdio. A case of the current protocol
 * shape must pass on all four targets; a case of the seed's shape runs on ours only.
 *
 * If the reference cannot be fetched, its targets are skipped with a printed reason, except under
 * CI=true, where that is a failure.
 *
 * Every server is started with the same small, known environment (SERVER_ENV), so that cases about
 * `envPolicy` can say exactly what a child inherits.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  referenceBinary,
  spawnReferenceStdio,
  startReferenceServer,
  type ReferenceServer,
} from '../../bench/lib/codex-reference.js';
import { RawClient, RawStdioClient, type Json, type RawJsonRpcClient } from '../helpers/raw-ws.js';
import { spawnServe, spawnServeStdio, stopAll } from '../helpers/serve.js';

export type { Json };

/** The environment every server under test runs with. */
export const SERVER_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  LANG: 'C.UTF-8',
  USER: 'conformance',
  CONFORMANCE_MARK: 'exec-server',
  API_KEY: 'must-not-leak',
  MY_SECRET: 'must-not-leak',
  FOO: 'foo',
  FOX: 'fox',
  FOOO: 'fooo',
};

/** Resolves the reference binary once: its path, or null (printed reason) when it cannot be had. */
let referencePath: Promise<string | null> | null = null;
export function reference(): Promise<string | null> {
  referencePath ??= referenceBinary().then(
    (path) => path,
    (error: unknown) => {
      if (process.env.CI === 'true') {
        throw new Error(`CI=true: the reference codex exec-server could not be fetched: ${String(error)}`);
      }
      console.warn(`skipping the reference targets of the conformance suite: ${String(error)}`);
      return null;
    },
  );
  return referencePath;
}

export type ServerKind = 'reference' | 'ours';
export type Carrier = 'ws' | 'stdio';

export interface Target {
  readonly name: string;
  readonly server: ServerKind;
  readonly carrier: Carrier;
  /** `ws://…` (ws targets) or `stdio:<command>` (stdio targets), for `ExecServerClient.connect`. */
  readonly url: string;
  /** A fresh connection, not yet initialized (over stdio: a fresh server process). */
  connect(): Promise<RawJsonRpcClient>;
  /** A fresh connection past the handshake. */
  ready(): Promise<RawJsonRpcClient>;
  stop(): Promise<void>;
}

const OURS_ARGS = ['--log-level', 'error', '--workers', '1'];
const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

/** Starts the targets of one test file: ours over ws and stdio, and the reference's when it exists. */
export async function startTargets(options: { readonly seedOnly?: boolean } = {}): Promise<Target[]> {
  const targets: Target[] = [];
  const stdioClients = new Set<RawStdioClient>();
  const wsClients = new Set<RawClient>();
  const ready = async (connect: () => Promise<RawJsonRpcClient>) => {
    const client = await connect();
    await client.handshake();
    return client;
  };
  const openWs = async (url: string) => {
    const client = await RawClient.open(url);
    wsClients.add(client);
    return client;
  };
  const stopStdio = async () => {
    await Promise.all(
      [...stdioClients].map(async (client) => {
        if (client.closeCode === null) {
          client.endInput();
          const timer = setTimeout(() => client.terminate(), 5_000);
          await client.closed(10_000).catch(() => client.terminate());
          clearTimeout(timer);
        }
      }),
    );
    stdioClients.clear();
  };
  const closeWs = () => {
    for (const client of wsClients) client.terminate();
    wsClients.clear();
  };

  const binary = options.seedOnly === true ? null : await reference();
  if (binary !== null) {
    let server: ReferenceServer | null = await startReferenceServer(SERVER_ENV);
    const url = server.url;
    const connect = () => openWs(url);
    targets.push({
      name: 'reference over ws',
      server: 'reference',
      carrier: 'ws',
      url,
      connect,
      ready: () => ready(connect),
      stop: async () => {
        closeWs();
        await server?.stop();
        server = null;
      },
    });
    const connectStdio = async () => {
      const client = new RawStdioClient(await spawnReferenceStdio(SERVER_ENV));
      stdioClients.add(client);
      return client;
    };
    targets.push({
      name: 'reference over stdio',
      server: 'reference',
      carrier: 'stdio',
      url: `stdio:exec env -i ${envArgs()} ${binary} exec-server --listen stdio`,
      connect: connectStdio,
      ready: () => ready(connectStdio),
      stop: stopStdio,
    });
  }

  const ours = await spawnServe(OURS_ARGS, SERVER_ENV);
  const connect = () => openWs(ours.url);
  targets.push({
    name: 'execvisor over ws',
    server: 'ours',
    carrier: 'ws',
    url: ours.url,
    connect,
    ready: () => ready(connect),
    stop: async () => {
      closeWs();
      await stopAll();
    },
  });
  const connectStdio = () => {
    const { client } = spawnServeStdio(OURS_ARGS, SERVER_ENV);
    stdioClients.add(client);
    return Promise.resolve(client);
  };
  targets.push({
    name: 'execvisor over stdio',
    server: 'ours',
    carrier: 'stdio',
    url: `stdio:exec env -i ${envArgs()} ${process.execPath} ${CLI} serve --listen stdio ${OURS_ARGS.join(' ')}`,
    connect: connectStdio,
    ready: () => ready(connectStdio),
    stop: stopStdio,
  });
  return targets;
}

function envArgs(): string {
  return Object.entries(SERVER_ENV)
    .map(([name, value]) => `${name}='${value ?? ''}'`)
    .join(' ');
}

export async function stopTargets(targets: readonly Target[]): Promise<void> {
  for (const target of targets) await target.stop();
}

/** `file:///…` for a native path. */
export function uri(path: string): string {
  return pathToFileURL(path).href;
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function scratch(prefix: string): { readonly dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `execvisor-conf-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let counter = 0;
/** A process, handle or request id unique in this run. */
export function fresh(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** `process/start` params in the current shape (cwd a URI). */
export function startParams(processId: string, argv: string[], extra: Json = {}): Json {
  return { processId, argv, cwd: uri(tmpdir()), env: {}, tty: false, arg0: null, ...extra };
}

export interface Collected {
  readonly output: string;
  readonly exitCode: number | null;
  readonly closed: boolean;
  readonly failure: string | null;
}

/** Reads a process from the start until it is closed (the upstream tests' read loop). */
export async function readAll(
  client: RawJsonRpcClient,
  processId: string,
  timeoutMs = 15_000,
): Promise<Collected> {
  let output = '';
  let afterSeq: number | null = null;
  let exitCode: number | null = null;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await client.result('process/read', { processId, afterSeq, maxBytes: null, waitMs: 1000 });
    for (const chunk of result.chunks as Json[])
      output += Buffer.from(chunk.chunk as string, 'base64').toString();
    if (result.exited === true) exitCode = result.exitCode as number | null;
    if (result.failure !== null)
      return { output, exitCode, closed: result.closed as boolean, failure: result.failure };
    if (result.closed === true) return { output, exitCode, closed: true, failure: null };
    afterSeq = (result.nextSeq as number) - 1;
    if (Date.now() > deadline) throw new Error(`process ${processId} did not close within ${timeoutMs} ms`);
  }
}

/** Waits for the `process/closed` notification of `processId`. */
export function closedNotification(client: RawJsonRpcClient, processId: string): Promise<Json> {
  return client.notification(
    (m) => m.method === 'process/closed' && m.params?.processId === processId,
    `process/closed of ${processId}`,
    15_000,
  );
}

/** The notifications of one process, in order, as the upstream tests snapshot them. */
export function eventsOf(client: RawJsonRpcClient, processId: string): Json[] {
  return client.others
    .filter(
      (m) =>
        typeof m.method === 'string' && m.method.startsWith('process/') && m.params?.processId === processId,
    )
    .map((m) => {
      const p = m.params as Json;
      switch (m.method) {
        case 'process/output':
          return { seq: p.seq, stream: p.stream, text: Buffer.from(p.chunk as string, 'base64').toString() };
        case 'process/exited':
          return { seq: p.seq, exitCode: p.exitCode };
        default:
          return { seq: p.seq, closed: true };
      }
    });
}

export const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
/** The text of a base64 member (of a raw, untyped answer). */
export const text = (base64: unknown) =>
  Buffer.from(typeof base64 === 'string' ? base64 : '', 'base64').toString();

/** Runs `command` through a shell and resolves once it exited (for fixtures: mkfifo…). */
export function sh(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code}`))));
  });
}
