// The exec server: WebSocket JSON-RPC in front of an ExecRuntime.
export { startServer } from './server.js';
export type { ExecServer } from './server.js';
export { SERVER_DEFAULTS, resolveServerOptions } from './server-options.js';
export type { ResolvedServerOptions, ServerOptions } from './server-options.js';
export { DEFAULT_LISTEN_URL, isLoopback, parseListenUrl } from './listen-url.js';
export type { RuntimeSession, ServerRuntime } from './runtime-port.js';
