/**
 * Raw JSON-RPC clients for tests that speak the protocol by hand (wire, stress, fuzz, security,
 * conformance): every message is kept in arrival order (`messages`), answers are also indexed by
 * id, notifications and -1 errors are kept in order (`others`), the raw text of every message is
 * kept too (`raw`), and every wait is bounded. A test that streams a lot sets `onNotification` and
 * gets notifications there instead of keeping them. `RawClient` speaks over a WebSocket;
 * `RawStdioClient` over the stdin/stdout of a server started with `--listen stdio`.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';

// Raw protocol messages: their shape is what the tests check.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

/** The bookkeeping shared by both carriers. */
export abstract class RawJsonRpcClient {
  /** Answers by id (JSON of the id, so 1 and "1" stay apart). */
  readonly answers = new Map<string, Json>();
  /** Messages that are not answers to a usable id: notifications and id -1 errors, in order. */
  readonly others: Json[] = [];
  /** Frames that were not JSON objects (never expected from the server). */
  readonly malformed: string[] = [];
  /** The text of every message received, in order (not kept for notifications given to `onNotification`). */
  readonly raw: string[] = [];
  /** Every JSON message received, answers and notifications, in arrival order. */
  readonly messages: Json[] = [];
  /** When set, notifications go here only (neither `messages`, `others` nor `raw` keeps them). */
  onNotification: ((message: Json) => void) | null = null;
  closeCode: number | null = null;
  readonly #waiters = new Set<() => void>();
  #nextId = 1;

  abstract get isOpen(): boolean;
  /** Sends a message (an object as JSON, a string as it is, a Buffer as a binary frame). */
  abstract send(message: Json | string | Buffer): void;
  /** Drops the connection at once. */
  abstract terminate(): void;

  protected received(text: string, binary = false): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = undefined;
    }
    if (binary || typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.raw.push(text);
      this.malformed.push(text.slice(0, 200));
    } else {
      const json = message as Json;
      if ('method' in json && this.onNotification !== null) {
        this.onNotification(json);
        return;
      }
      this.raw.push(text);
      this.messages.push(json);
      if ('method' in json || json.id === -1 || json.id === undefined) this.others.push(json);
      else this.answers.set(JSON.stringify(json.id), json);
    }
    this.#wake();
  }

  protected ended(code: number): void {
    this.closeCode = code;
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Sends a request with a fresh integer id (from 1); returns the id. */
  request(method: string, params?: unknown): number {
    const id = this.#nextId++;
    this.send(params === undefined ? { id, method } : { id, method, params });
    return id;
  }

  /** Waits until `condition` holds, the connection closes, or the deadline passes (then it rejects). */
  until<T>(condition: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      const check = () => {
        const value = condition();
        if (value !== undefined) return finish(() => resolve(value));
        if (this.closeCode !== null) {
          return finish(() => reject(new Error(`closed (${this.closeCode}) waiting for ${what}`)));
        }
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${what}`))),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /** The first message of any kind matching `predicate`, waiting for it if need be. */
  waitFor(predicate: (message: Json) => boolean, what = 'message', timeoutMs?: number): Promise<Json> {
    return this.until(() => this.messages.find(predicate), what, timeoutMs);
  }

  answer(id: number | string, timeoutMs?: number): Promise<Json> {
    return this.until(() => this.answers.get(JSON.stringify(id)), `answer ${JSON.stringify(id)}`, timeoutMs);
  }

  async call(method: string, params?: unknown, timeoutMs?: number): Promise<Json> {
    return this.answer(this.request(method, params), timeoutMs);
  }

  async result(method: string, params?: unknown, timeoutMs?: number): Promise<Json> {
    const message = await this.call(method, params, timeoutMs);
    if (message.error !== undefined) throw new Error(`${method}: ${JSON.stringify(message.error)}`);
    return message.result as Json;
  }

  async handshake(extra: Json = {}): Promise<Json> {
    const result = await this.result('initialize', { clientName: 'raw-test', ...extra });
    this.send({ method: 'initialized', params: {} });
    return result;
  }

  /** The first notification matching `predicate`, waiting for it if need be. */
  notification(predicate: (message: Json) => boolean, what: string, timeoutMs?: number): Promise<Json> {
    return this.until(() => this.others.find((m) => 'method' in m && predicate(m)), what, timeoutMs);
  }

  /** Text of a process's output notifications so far. */
  outputOf(processId: string): string {
    return this.others
      .filter((m) => m.method === 'process/output' && m.params?.processId === processId)
      .map((m) => Buffer.from(m.params.chunk as string, 'base64').toString('utf8'))
      .join('');
  }

  /** The answer to request `id` (an alias of `answer`). */
  response(id: number | string, timeoutMs?: number): Promise<Json> {
    return this.answer(id, timeoutMs);
  }

  async closed(timeoutMs = 10_000): Promise<number> {
    return this.until(() => this.closeCode ?? undefined, 'close', timeoutMs).catch((error: unknown) => {
      if (this.closeCode !== null) return this.closeCode;
      throw error;
    });
  }
}

export class RawClient extends RawJsonRpcClient {
  readonly ws: WebSocket;

  constructor(url: string, headers: Record<string, string> = {}) {
    super();
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data, isBinary) => this.received((data as Buffer).toString('utf8'), isBinary));
    this.ws.on('close', (code) => this.ended(code));
  }

  static async open(url: string, headers?: Record<string, string>): Promise<RawClient> {
    const client = new RawClient(url, headers);
    await once(client.ws, 'open');
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: Json | string | Buffer): void {
    if (Buffer.isBuffer(message)) this.ws.send(message, { binary: true });
    else this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** A process whose stdin and stdout carry JSON lines (a server started with `--listen stdio`). */
export type StdioServerProcess = ChildProcessByStdio<Writable, Readable, Readable | null>;

export class RawStdioClient extends RawJsonRpcClient {
  readonly child: StdioServerProcess;
  #buffer = '';

  constructor(child: StdioServerProcess) {
    super();
    this.child = child;
    child.stdin.on('error', () => undefined);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      this.#buffer += text;
      for (let newline = this.#buffer.indexOf('\n'); newline >= 0; newline = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        if (line.trim() !== '') this.received(line);
      }
    });
    child.once('exit', (code, signal) => this.ended(code ?? (signal !== null ? 128 : -1)));
  }

  get isOpen(): boolean {
    return this.closeCode === null && this.child.stdin.writable;
  }

  /** One message per line; a Buffer is written as it is (it must end with its own newline). */
  send(message: Json | string | Buffer): void {
    if (Buffer.isBuffer(message)) this.child.stdin.write(message);
    else this.child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  }

  /** EOF on the server's stdin: the connection (and the server) ends. */
  endInput(): void {
    this.child.stdin.end();
  }

  terminate(): void {
    this.child.kill('SIGKILL');
  }
}

/**
 * The HTTP status with which the server refused a WebSocket upgrade. Rejects if the upgrade
 * succeeded or no HTTP answer came (a refused connection, a header the client cannot send): a
 * refusal is only what the server answered.
 */
export async function refusedUpgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const failure = new Promise<never>((_, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
  });
  const [request, response] = (await Promise.race([once(ws, 'unexpected-response'), failure])) as [
    { destroy(): void },
    { statusCode: number; resume(): void },
  ];
  response.resume();
  request.destroy();
  return response.statusCode;
}
