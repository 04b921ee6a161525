// The wire client: an `ExecBackend` over a connection to an exec server (WebSocket or stdio).
export { ExecServerClient } from './exec-server-client.js';
export type { ExecServerClientOptions, ProtocolShape } from './exec-server-client.js';
export { RemoteProcess } from './remote-process.js';
