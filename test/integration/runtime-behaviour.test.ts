import { ExecRuntime } from '../../src/index.js';
import { describeBackend } from './behaviour-suite.js';

describeBackend('in-process ExecRuntime', async () => {
  const runtime = await ExecRuntime.create();
  return { backend: runtime, cleanup: () => runtime.close() };
});
