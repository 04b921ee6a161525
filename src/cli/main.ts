#!/usr/bin/env node
/** The `execvisor` command line: serve, run, load. Exit codes and error lines: exit-codes.ts. */
import { Command, CommanderError } from 'commander';
import { serverVersion } from '../server/server-version.js';
import { EXIT_FAILURE, EXIT_USAGE, errorLine, exitAfterFlush } from './exit-codes.js';
import { registerLoadCommand } from './load.js';
import { registerRunCommand } from './run.js';
import { registerServeCommand } from './serve.js';

const program = new Command('execvisor')
  .description(
    'Exec server for AI agents: sandboxed commands with replayable output, in-process or over WebSocket',
  )
  .version(serverVersion(), '-V, --version', 'print the version')
  // Usage errors are one line, `execvisor: <what is wrong>`, and exit 2 (set before the
  // subcommands are added: they inherit it).
  .exitOverride()
  .configureOutput({
    outputError: (text, write) =>
      write(`execvisor: ${text.replace(/^error: /, '').trimEnd()} (see --help)\n`),
  });

registerServeCommand(program);
registerLoadCommand(program);
registerRunCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version end with 0; every other commander error is a bad command line.
    await exitAfterFlush(error.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  process.stderr.write(errorLine(error));
  await exitAfterFlush(EXIT_FAILURE);
}
