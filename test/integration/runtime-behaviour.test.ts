import { inProcessBackend } from '../helpers/backends.js';
import { describeBackend } from './behaviour-suite.js';

describeBackend('in-process ExecRuntime', inProcessBackend);
