/**
 * Fixtures for the managed-network tests: local HTTP and TLS origins, a self-signed certificate,
 * a `curl` runner that never outlives its test, and a test bridge that speaks the bridge preamble
 * (what the launcher's bridge will do inside a sandbox).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { formatPreamble } from '../../src/network/index.js';
import { afterAll, beforeAll } from 'vitest';

/** Whether a command is on PATH; under CI=true a missing one fails (`.ci/run` installs it). */
export function commandAvailable(name: string): boolean {
  const found = (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) {
    if (process.env.CI === 'true') throw new Error(`${name} is required under CI=true but is not on PATH`);
    console.warn(`skipping the tests that need ${name}: it is not on PATH (apt-get install -y ${name})`);
  }
  return found;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface Origin {
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

function closeServer(server: HttpServer | Server): Promise<void> {
  (server as HttpServer).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

function listen(server: HttpServer | Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
}

function answer(requests: SeenRequest[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.setHeader('content-type', 'text/plain');
      res.end(`hello ${req.method} ${req.url}${body === '' ? '' : ` ${body}`}\n`);
    });
  };
}

/** A plain HTTP origin on 127.0.0.1 answering `hello METHOD URL [body]`. */
export async function startOrigin(): Promise<Origin> {
  const requests: SeenRequest[] = [];
  const server = createHttpServer(answer(requests));
  const port = await listen(server, '127.0.0.1');
  return { port, requests, close: () => closeServer(server) };
}

export interface Certificate {
  readonly dir: string;
  readonly certPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  dispose(): void;
}

/** A self-signed certificate for `localhost` and `127.0.0.1`, made with openssl. */
export function makeCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'execvisor-net-cert-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl failed: ${result.stderr}`);
  }
  return {
    dir,
    certPath,
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A TLS origin on 127.0.0.1 with the given certificate. */
export async function startTlsOrigin(certificate: Certificate): Promise<Origin> {
  const requests: SeenRequest[] = [];
  const server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, answer(requests));
  const port = await listen(server, '127.0.0.1');
  return { port, requests, close: () => closeServer(server) };
}

export interface CurlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();

/** Runs curl (`-sS`, a 20 s cap of its own); killed by `killAllCurl` if the test ends first. */
export function curl(args: readonly string[]): Promise<CurlResult> {
  return curlWithEnv(args, withoutProxyVariables(process.env));
}

/** The test runner's env minus any proxy it may have: curl then goes where the test says. */
function withoutProxyVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && !/_proxy$/i.test(entry[0]),
    ),
  );
}

/** curl with exactly `env` (proxy variables included). */
export function curlWithEnv(args: readonly string[], env: Record<string, string>): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--max-time', '20', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export function killAllCurl(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export interface Bridge {
  readonly port: number;
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * What the launcher's bridge does inside a sandbox: a loopback listener whose every connection is
 * carried to the proxy's socket behind a preamble naming the lease (and the client's address).
 */
export async function startBridge(socketPath: string, token: string): Promise<Bridge> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createNetServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = connect({ path: socketPath, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.once('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.write(formatPreamble(token, `${client.remoteAddress}:${client.remotePort}`));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await listen(server, '127.0.0.1');
  return {
    port,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await closeServer(server);
    },
  };
}

/** A plain HTTP origin, a TLS origin and its certificate, for one test file. */
export interface Origins {
  readonly origin: Origin;
  readonly tls: Origin;
  readonly certificate: Certificate;
}

/**
 * Starts the origins before the file's tests (when `enabled`) and stops them after; the fields are
 * set once `beforeAll` has run.
 */
export function withOrigins(enabled: boolean): Origins {
  const origins = {} as { origin: Origin; tls: Origin; certificate: Certificate };
  beforeAll(async () => {
    if (!enabled) return;
    origins.origin = await startOrigin();
    origins.certificate = makeCertificate();
    origins.tls = await startTlsOrigin(origins.certificate);
  });
  afterAll(async () => {
    if (!enabled) return;
    await origins.origin.close();
    await origins.tls.close();
    origins.certificate.dispose();
  });
  return origins;
}
