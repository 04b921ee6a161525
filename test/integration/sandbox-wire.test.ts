/** The sandbox escape attempts of sandbox-suite.ts, over the wire: ExecServerClient ↔ startServer. */
import { wireBackend } from '../helpers/backends.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { describeSandbox } from './sandbox-suite.js';

describeSandbox('over the wire', () => wireBackend('sandbox-wire'), bwrapAvailable());
