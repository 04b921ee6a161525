import { wireBackend } from '../helpers/backends.js';
import { describeBackend } from './behaviour-suite.js';

describeBackend('ExecServerClient over WebSocket', () => wireBackend('behaviour-suite'));
