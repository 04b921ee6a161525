// The wire client: an `ExecBackend` over a connection to an exec server (WebSocket or stdio), and a
// pool of them over many servers.
export { ExecServerClient } from './exec-server-client.js';
export type { ClientConnectionState, ExecServerClientOptions, ProtocolShape } from './exec-server-client.js';
export { RemoteProcess } from './remote-process.js';
export { ExecServerPool } from './pool.js';
export type { PoolExecOptions, PoolServerInfo, PoolServerState, PoolStartOptions } from './pool.js';
export { POOL_DEFAULTS } from './pool-options.js';
export type { ExecServerPoolOptions, PoolDnsSource, PoolResolver } from './pool-options.js';
export type { ServerCapacity } from '../rpc/wire-types.js';
