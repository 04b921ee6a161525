import { inProcessBackend } from '../helpers/backends.js';
import { describeBackend } from './behaviour-suite.js';

// On Linux the native spawner must load (it is the default there); elsewhere the default is node.
describeBackend('in-process ExecRuntime', () =>
  inProcessBackend(process.platform === 'linux' ? { spawner: 'native' } : {}),
);
