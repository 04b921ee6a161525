#!/usr/bin/env node
/** The `execvisor` command line: serve, run, load. */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { ExecRuntime } from '../runtime/exec-runtime.js';
import { stderrLogger } from '../core/logger.js';
import { sandboxConfigFromFlags } from '../sandbox/index.js';
import { runCommand } from './run.js';
import { registerLoadCommand } from './load.js';
import { registerServeCommand, spawnerOption } from './serve.js';
import { ExecServerClient } from '../client/index.js';

const program = new Command('execvisor')
  .description(
    'Exec server for AI agents: sandboxed commands with replayable output, in-process or over WebSocket',
  )
  .showHelpAfterError();

registerServeCommand(program);
registerLoadCommand(program);

program
  .command('run')
  .description(
    'run one command through the embedded runtime (or a server with --remote) and exit with its code',
  )
  .argument('<command...>', 'the command and its arguments (put -- before it)')
  .option('--tty', 'run under a pseudo-terminal; the local terminal goes raw', false)
  .option('--cwd <dir>', 'working directory', process.cwd())
  .option('--clean-env', 'start the command with an empty environment instead of this one', false)
  .addOption(
    new Option('--sandbox <policy>', 'run under a sandbox policy').choices(['read-only', 'workspace-write']),
  )
  .option('--writable-root <dir>', 'with --sandbox workspace-write: another writable directory', collect, [])
  .option('--network', 'with --sandbox: allow network access', false)
  .option('--remote <url>', 'run through an exec server at ws://IP:PORT instead of in-process')
  .option('--token-file <file>', 'with --remote: file holding the bearer token')
  .addOption(spawnerOption())
  .action(async (command: string[], flags: RunFlags) => {
    const env = flags.cleanEnv ? {} : definedEnv();
    const sandbox =
      flags.sandbox === undefined
        ? null
        : sandboxConfigFromFlags({
            policy: flags.sandbox,
            writableRoots: flags.writableRoot,
            network: flags.network,
            mode: 'require',
          });
    const backend =
      flags.remote === undefined
        ? await ExecRuntime.create({ logger: stderrLogger('warn'), spawner: flags.spawner })
        : await ExecServerClient.connect(flags.remote, {
            token: await readToken(flags.tokenFile),
            clientName: 'execvisor-run',
          });
    let code = 1;
    try {
      code = await runCommand(backend, { argv: command, cwd: flags.cwd, env, tty: flags.tty, sandbox });
    } catch (error) {
      process.stderr.write(`execvisor: ${error instanceof Error ? error.message : String(error)}\n`);
      code = 127;
    } finally {
      await backend.close();
    }
    process.exit(code);
  });

interface RunFlags {
  tty: boolean;
  cwd: string;
  cleanEnv: boolean;
  sandbox?: 'read-only' | 'workspace-write';
  writableRoot: string[];
  network: boolean;
  remote?: string;
  tokenFile?: string;
  spawner?: 'native' | 'node';
}

function collect(value: string, previous: string[]): string[] {
  if (value.length === 0) throw new CommanderArgumentError('must not be empty');
  return [...previous, value];
}

function definedEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return process.env.EXEC_SERVER_TOKEN;
  const { readFile } = await import('node:fs/promises');
  return (await readFile(file, 'utf8')).trim();
}

await program.parseAsync(process.argv);
