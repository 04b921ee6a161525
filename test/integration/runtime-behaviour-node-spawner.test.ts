// The behaviour suite once more with the node backends (child_process, node-pty): the fallback
// where the native spawner does not load, and the `spawner: 'node'` option.
import { inProcessBackend } from '../helpers/backends.js';
import { describeBackend } from './behaviour-suite.js';

describeBackend('in-process ExecRuntime, spawner node', () => inProcessBackend({ spawner: 'node' }));
