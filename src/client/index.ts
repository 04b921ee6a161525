// The wire client: an `ExecBackend` over a WebSocket connection to an exec server.
export { ExecServerClient } from './exec-server-client.js';
export type { ExecServerClientOptions } from './exec-server-client.js';
export { RemoteProcess } from './remote-process.js';
