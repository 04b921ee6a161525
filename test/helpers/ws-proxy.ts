/**
 * A WebSocket proxy between a client under test and a server, for faults a real network has: it
 * can stop reading the server's side (the server's socket then backs up, as with a slow client on
 * a slow link) and drop chosen messages from the server (a lost notification). Messages pass as
 * text, unchanged and in order. One client connection at a time.
 */
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';

export interface WsProxy {
  /** `ws://127.0.0.1:<port>` for the client. */
  readonly url: string;
  /** Messages from the server the `drop` filter took out. */
  readonly dropped: string[];
  /** Stops reading what the server sends (it accumulates in the server's socket buffers). */
  pauseServerSide(): void;
  resumeServerSide(): void;
  close(): Promise<void>;
}

export interface WsProxyOptions {
  /** Messages from the server for which this returns true are not passed on. */
  readonly drop?: (text: string) => boolean;
}

export async function startWsProxy(target: string, options: WsProxyOptions = {}): Promise<WsProxy> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const dropped: string[] = [];
  const upstreams = new Set<WebSocket>();
  let paused = false;

  wss.on('connection', (client: WebSocket) => {
    const upstream = new WebSocket(target, { perMessageDeflate: false });
    upstreams.add(upstream);
    // What the client sends before the server side is open waits here, in order.
    const early: string[] = [];
    client.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else early.push(text);
    });
    upstream.on('open', () => {
      // (A socket still connecting cannot be paused.)
      if (paused) upstream.pause();
      for (const text of early.splice(0)) upstream.send(text);
    });
    upstream.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      if (options.drop?.(text) === true) dropped.push(text);
      else if (client.readyState === WebSocket.OPEN) client.send(text);
    });
    const closeBoth = (code?: number) => {
      const usable = code !== undefined && code >= 1000 && code < 5000 && code !== 1005 && code !== 1006;
      for (const ws of [client, upstream]) {
        if (ws.readyState === WebSocket.OPEN) ws.close(usable ? code : 1000);
        else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      }
    };
    client.on('close', (code) => closeBoth(code));
    upstream.on('close', (code) => closeBoth(code));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    upstream.once('close', () => upstreams.delete(upstream));
  });

  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    dropped,
    pauseServerSide() {
      paused = true;
      for (const upstream of upstreams) upstream.pause();
    },
    resumeServerSide() {
      paused = false;
      for (const upstream of upstreams) upstream.resume();
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      for (const upstream of upstreams) upstream.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
