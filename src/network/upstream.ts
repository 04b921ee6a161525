/**
 * Opens the connection to a destination the policy allowed: to the checked addresses only (never a
 * name, so nothing is resolved a second time), one after the other, each within the connect
 * timeout.
 */
import { connect, type Socket } from 'node:net';

export type UpstreamFailure = 'refused' | 'unreachable' | 'timeout' | 'failed';

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  constructor(failure: UpstreamFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.failure = failure;
  }
}

function classify(error: NodeJS.ErrnoException): UpstreamFailure {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'failed';
  }
}

function connectOne(address: string, port: number, timeoutMs: number, track: (socket: Socket) => void) {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    track(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError('timeout', `connect to ${address}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new UpstreamError(classify(error), `connect to ${address}:${port}: ${error.message}`, {
          cause: error,
        }),
      );
    });
  });
}

/**
 * Connects to the first address that answers, all attempts within `timeoutMs` together. `track`
 * sees every socket created (the proxy destroys them all when it closes); `isCancelled` stops
 * between attempts once the client left.
 */
export async function connectUpstream(
  addresses: readonly string[],
  port: number,
  timeoutMs: number,
  track: (socket: Socket) => void,
  isCancelled: () => boolean = () => false,
): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  let last: UpstreamError = new UpstreamError('unreachable', 'no address to connect to');
  for (const address of addresses) {
    if (isCancelled()) throw new UpstreamError('failed', 'the client went away');
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      return await connectOne(address, port, remaining, track);
    } catch (error) {
      last = error instanceof UpstreamError ? error : new UpstreamError('failed', String(error));
    }
  }
  throw last;
}
