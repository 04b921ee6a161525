// The sandboxed fs helper: a short-lived process started under the sandbox for one operation.
import { runFsHelper } from '../src/fs/helper-main.js';

process.exitCode = await runFsHelper(process.stdin, process.stdout);
