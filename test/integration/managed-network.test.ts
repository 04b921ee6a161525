/**
 * The managed network end to end with real bubblewrap: sandboxed processes reach local HTTP and
 * TLS origins only through the runtime's proxy (the launcher's bridge in their own network
 * namespace), every decision is reported on `events$` (in process and over the wire), denials in
 * `info()` and `sandboxDenied`, and nothing else gets out. Every origin here is on the host's
 * loopback, so policies allow `127.0.0.1` exactly (the only way a local address is allowed) or use
 * `allowLocalBinding` with names the test resolver points there.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  ExecBackend,
  ExecProcess,
  ExecRuntime,
  ExecRuntimeOptions,
  NetworkPolicyDecision,
  NetworkProxyOption,
  ReadResult,
  SandboxOptions,
  StartOptions,
} from '../../src/index.js';
import { inProcessBackend, wireBackend } from '../helpers/backends.js';
import { bwrapAvailable } from '../helpers/bwrap.js';
import { commandAvailable, withOrigins } from '../helpers/network-fixtures.js';
import { eventually, isDead, withDescendants } from '../helpers/process.js';
import { managedNetworkProxy } from '../../src/core/network-options.js';

const available = bwrapAvailable() && commandAvailable('curl') && commandAvailable('openssl');
const READ_ONLY: SandboxOptions = { mode: 'require', policy: { type: 'read-only' } };
const PATH = { PATH: '/usr/local/bin:/usr/bin:/bin' };

function proxy(
  domains: Record<string, 'allow' | 'deny'> | null,
  extra: Partial<NetworkProxyOption['proxy']> = {},
): NetworkProxyOption {
  return managedNetworkProxy(domains, extra);
}

interface Ran {
  readonly process: ExecProcess;
  readonly output: string;
  readonly exitCode: number | null;
  readonly exitDenied: boolean | undefined;
  readonly decisions: NetworkPolicyDecision[];
  readonly read: ReadResult;
}

/** Runs `script` with `sh -c` to its close, collecting output, the exit and every decision. */
async function run(backend: ExecBackend, script: string, extra: Partial<StartOptions>): Promise<Ran> {
  const process = await backend.start({
    argv: ['/bin/sh', '-c', script],
    cwd: tmpdir(),
    env: PATH,
    sandbox: READ_ONLY,
    ...extra,
  });
  let output = '';
  let exitCode: number | null = null;
  let exitDenied: boolean | undefined;
  const decisions: NetworkPolicyDecision[] = [];
  await new Promise<void>((resolve, reject) =>
    process.events$.subscribe({
      next: (event) => {
        if (event.type === 'output') output += Buffer.from(event.chunk).toString();
        else if (event.type === 'network') decisions.push(event.decision);
        else if (event.type === 'exited') {
          exitCode = event.exitCode;
          exitDenied = event.sandboxDenied;
        }
      },
      complete: resolve,
      error: reject,
    }),
  );
  return { process, output, exitCode, exitDenied, decisions, read: await process.read() };
}

const brief = (d: NetworkPolicyDecision) => `${d.decision}:${d.reason}:${d.protocol}:${d.host}:${d.port}`;

/** Names the test resolver answers with 127.0.0.1 (a stand-in for DNS in a test without any). */
const resolve = (name: string) =>
  Promise.resolve(name.endsWith('.example.test') ? { addresses: ['127.0.0.1'] } : { error: 'ENOTFOUND' });

const RUNTIME: ExecRuntimeOptions = { workers: 2, networkProxy: { resolve, headersTimeoutMs: 2_000 } };

const origins = withOrigins(available);

describe.runIf(available).each([
  ['in process', () => inProcessBackend(RUNTIME)],
  ['over the wire', () => wireBackend('managed-network', RUNTIME)],
])('managed network (%s)', (_label, factory) => {
  let backend: ExecBackend;
  let runtime: ExecRuntime;
  let under: Awaited<ReturnType<typeof factory>>;
  beforeAll(async () => {
    under = await factory();
    ({ backend, runtime } = under);
  });
  afterAll(() => under.cleanup());

  const enforced = (domains: Record<string, 'allow' | 'deny'> | null, extra = {}) => ({
    enforceManagedNetwork: true,
    networkProxy: proxy(domains, extra),
  });

  it('reaches an allowed host through the proxy with curl, and reports the allow', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/allowed`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(ran.output).toBe('hello GET /allowed\n');
    expect(ran.exitCode).toBe(0);
    expect(ran.process.sandboxType).toBe('linux-seccomp');
    expect(ran.decisions.map(brief)).toEqual([`allow:allow:http:127.0.0.1:${origins.origin.port}`]);
    expect(ran.decisions[0]).toMatchObject({
      processId: ran.process.processId,
      scope: 'domain',
      source: 'baseline_policy',
      method: 'GET',
      policyOverride: false,
    });
    // The client address is the one inside the sandbox, as the bridge saw it.
    expect(ran.decisions[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ran.read.sandboxDenied).toBe(false);
    expect(ran.process.info().networkDenials).toEqual([]);
  });

  it('refuses a host that is not allowed, reports it, and calls the failure a sandbox denial', async () => {
    const ran = await run(
      backend,
      `curl -sS -f -m 10 http://localhost:${origins.origin.port}/no`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(ran.exitCode).toBe(22); // curl -f: HTTP 403
    expect(ran.decisions.map(brief)).toEqual([
      `deny:not_allowed_local:http:localhost:${origins.origin.port}`,
    ]);
    expect(ran.process.info().networkDenials?.map(brief)).toEqual(ran.decisions.map(brief));
    expect(ran.read.sandboxDenied).toBe(true);
    expect(ran.exitDenied).toBe(true);
    expect(origins.origin.requests.some((request) => request.url === '/no')).toBe(false);
  });

  it('lets deny win over allow', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 http://ok.example.test:${origins.origin.port}/ok; curl -sS -m 10 http://bad.example.test:${origins.origin.port}/bad`,
      enforced({ '*.example.test': 'allow', 'bad.example.test': 'deny' }, { allowLocalBinding: true }),
    );
    expect(ran.output).toContain('hello GET /ok\n');
    expect(ran.output).toContain('"reason":"denied"');
    expect(ran.decisions.map(brief)).toEqual([
      `allow:allow:http:ok.example.test:${origins.origin.port}`,
      `deny:denied:http:bad.example.test:${origins.origin.port}`,
    ]);
  });

  it('refuses loopback unless that exact host is listed', async () => {
    const wildcard = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/star`,
      enforced({ '*': 'allow' }),
    );
    expect(wildcard.decisions.map(brief)).toEqual([
      `deny:not_allowed_local:http:127.0.0.1:${origins.origin.port}`,
    ]);
    expect(wildcard.output).toContain('"reason":"not_allowed_local"');
    const listed = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/listed`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(listed.output).toBe('hello GET /listed\n');
  });

  it("gets nothing with curl --noproxy '*', and no decision is made", async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 --noproxy '*' http://127.0.0.1:${origins.origin.port}/direct; echo "rc=$?"`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(ran.output).toMatch(/Failed to connect to 127\.0\.0\.1 port \d+.*\nrc=7\n$/);
    expect(ran.decisions).toEqual([]);
    expect(origins.origin.requests.some((request) => request.url === '/direct')).toBe(false);
  });

  it('works the same under a terminal (the launcher runs first as an exec step there)', async () => {
    const ran = await run(backend, `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/terminal`, {
      ...enforced({ '127.0.0.1': 'allow' }),
      tty: true,
    });
    expect(ran.output).toBe('hello GET /terminal\r\n');
    expect(ran.decisions.map(brief)).toEqual([`allow:allow:http:127.0.0.1:${origins.origin.port}`]);
  });

  it('tunnels HTTPS through CONNECT to an allowed local TLS server', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 --cacert ${origins.certificate.certPath} https://127.0.0.1:${origins.tls.port}/secure`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(ran.output).toBe('hello GET /secure\n');
    expect(ran.decisions.map(brief)).toEqual([`allow:allow:https_connect:127.0.0.1:${origins.tls.port}`]);
    expect(ran.decisions[0]!.method).toBe('CONNECT');
  });

  it('serves SOCKS5 (ALL_PROXY is socks5h) on the same bridge', async () => {
    const ran = await run(
      backend,
      `echo "$ALL_PROXY"; curl -sS -m 10 -x "$ALL_PROXY" http://127.0.0.1:${origins.origin.port}/socks`,
      enforced({ '127.0.0.1': 'allow' }),
    );
    expect(ran.output).toBe('socks5h://127.0.0.1:3128\nhello GET /socks\n');
    expect(ran.decisions.map(brief)).toEqual([`allow:allow:socks5_tcp:127.0.0.1:${origins.origin.port}`]);
    expect(ran.decisions[0]!.method).toBeUndefined();
  });

  it("sets the proxy variables over the request's own", async () => {
    const ran = await run(backend, 'echo "$HTTP_PROXY $NO_PROXY|$CODEX_NETWORK_PROXY_ACTIVE"', {
      ...enforced({ '127.0.0.1': 'allow' }, { enableSocks5: false }),
      env: { ...PATH, HTTP_PROXY: 'http://evil:1', NO_PROXY: '*' },
    });
    expect(ran.output).toBe('http://127.0.0.1:3128 |1\n');
  });

  it('fails closed: enforced without a proxy config there is no network, even with the policy saying on', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/closed; echo "rc=$?"`,
      {
        sandbox: { mode: 'require', policy: { type: 'read-only', network_access: true } },
        enforceManagedNetwork: true,
      },
    );
    expect(ran.output).toMatch(/rc=7\n$/);
    expect(ran.decisions).toEqual([]);
  });

  it('confines the network alone when the start asked for no sandbox', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/bare; curl -sS -m 10 --noproxy '*' http://127.0.0.1:${origins.origin.port}/bare-direct; echo "rc=$?"`,
      { ...enforced({ '127.0.0.1': 'allow' }), sandbox: null },
    );
    expect(ran.process.sandboxType).toBe('linux-seccomp');
    expect(ran.output).toMatch(/^hello GET \/bare\n[^]*rc=7\n$/);
  });

  it('a proxy that is not enforced is advisory: the variables name it, the sandbox policy decides the rest', async () => {
    const ran = await run(
      backend,
      `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/advisory; curl -sS -m 10 --noproxy '*' http://127.0.0.1:${origins.origin.port}/around`,
      { networkProxy: proxy({ '127.0.0.1': 'allow' }), sandbox: null },
    );
    expect(ran.process.sandboxType).toBe('none');
    expect(ran.output).toBe('hello GET /advisory\nhello GET /around\n');
    expect(ran.decisions.map(brief)).toEqual([`allow:allow:http:127.0.0.1:${origins.origin.port}`]);
  });

  it('lets nothing out directly: no connection to the host, no raw or Unix socket, not the proxy socket', async () => {
    const script = [
      'import socket, sys',
      'def attempt(name, f):',
      '    try:',
      '        f(); print(name, "ok")',
      '    except OSError as e:',
      '        print(name, e.errno)',
      `attempt("tcp-host", lambda: socket.create_connection(("127.0.0.1", ${origins.origin.port}), 3))`,
      'attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))',
      'attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))',
      'attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))',
      'attempt("unix", lambda: socket.socket(socket.AF_UNIX).connect("/dev/.execvisor/net.sock"))',
      'attempt("unix-dgram", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))',
      'attempt("bridge", lambda: socket.create_connection(("127.0.0.1", 3128), 3).close())',
    ].join('\n');
    const ran = await run(backend, `python3 - <<'EOF'\n${script}\nEOF`, enforced({ '127.0.0.1': 'allow' }));
    expect(ran.output.trim().split('\n')).toEqual([
      'tcp-host 111', // ECONNREFUSED: the namespace has only its own loopback
      'raw 1',
      'packet 1',
      'netlink 1',
      'unix 1',
      'unix-dgram 1',
      'bridge ok',
    ]);
  });

  it('the bridge dies with its process: nothing is left in the sandbox, no connection at the proxy', async () => {
    const process = await backend.start({
      argv: ['/bin/sh', '-c', 'echo ready; exec sleep 60'],
      cwd: tmpdir(),
      env: PATH,
      sandbox: READ_ONLY,
      ...enforced({ '127.0.0.1': 'allow' }),
    });
    await new Promise<void>((resolve) => {
      const subscription = process.events$.subscribe((event) => {
        if (event.type === 'output' && Buffer.from(event.chunk).toString().includes('ready')) {
          resolve();
          queueMicrotask(() => subscription.unsubscribe());
        }
      });
    });
    // The pid is bwrap's on the host (in process; the wire pid is the same host's).
    const root = process.pid!;
    const tree = withDescendants(root);
    const bridges = tree.filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/dev/.execvisor/launcher');
      } catch {
        return false;
      }
    });
    expect(bridges).toHaveLength(1);
    await process.terminate();
    await process.closed;
    await eventually(() => tree.every((pid) => isDead(pid)), 'every process of the sandbox to be gone');
    expect(bridges.every((pid) => isDead(pid))).toBe(true);
  });

  it('counts every decision by decision and reason (what the metrics endpoint renders)', () => {
    const counts = runtime.stats().networkDecisions ?? [];
    const count = (decision: string, reason: string) =>
      counts.find((entry) => entry.decision === decision && entry.reason === reason)?.count ?? 0;
    expect(count('allow', 'allow')).toBeGreaterThanOrEqual(6);
    expect(count('deny', 'not_allowed_local')).toBeGreaterThanOrEqual(2);
    expect(count('deny', 'denied')).toBe(1);
  });
});

describe.runIf(available)(
  'managed network: the proxy starts only when needed and stops with the runtime',
  () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    it('binds nothing for a runtime that never starts a managed process, and removes its socket on close', async () => {
      const socketDir = mkdtempSync(join(tmpdir(), 'execvisor-net-test-'));
      cleanups.push(() => Promise.resolve(rmSync(socketDir, { recursive: true, force: true })));
      const under = await inProcessBackend({ workers: 1, networkProxy: { socketDir } });
      const backend = under.backend;
      let closed = false;
      cleanups.push(async () => {
        if (!closed) await under.cleanup();
      });
      await run(backend, 'true', { sandbox: READ_ONLY });
      expect(existsSync(join(socketDir, 'proxy.sock'))).toBe(false);
      const ran = await run(backend, `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/lazy`, {
        enforceManagedNetwork: true,
        networkProxy: proxy({ '127.0.0.1': 'allow' }),
      });
      expect(ran.output).toBe('hello GET /lazy\n');
      expect(existsSync(join(socketDir, 'proxy.sock'))).toBe(true);
      await under.cleanup();
      closed = true;
      expect(existsSync(join(socketDir, 'proxy.sock'))).toBe(false);
    });
  },
);

describe.runIf(available)('managed network under load (in process)', () => {
  let backend: ExecBackend;
  let runtime: ExecRuntime;
  let under: Awaited<ReturnType<typeof inProcessBackend>>;
  beforeAll(async () => {
    // A headers deadline long enough for the quick request, short enough to wait for.
    under = await inProcessBackend({ ...RUNTIME, networkProxy: { resolve, headersTimeoutMs: 4_000 } });
    ({ backend, runtime } = under);
  });
  afterAll(() => under.cleanup());

  it('survives 200 concurrent connections from 20 sandboxed processes, each attributed right', async () => {
    const PROCESSES = 20;
    const EACH = 10;
    // Answers nothing until all 200 requests are in: they must be open at once, through the proxy.
    const waiting: { url: string; response: ServerResponse }[] = [];
    const barrier = createServer((request, response) => {
      waiting.push({ url: request.url ?? '', response });
      if (waiting.length === PROCESSES * EACH) {
        for (const held of waiting) held.response.end(`ok ${held.url}\n`);
      }
    });
    await new Promise<void>((resolve) => barrier.listen(0, '127.0.0.1', resolve));
    const port = (barrier.address() as { port: number }).port;
    try {
      const urls = (index: number) =>
        Array.from({ length: EACH }, (_, n) => `http://127.0.0.1:${port}/p${index}-${n}`).join(' ');
      const runs = await Promise.all(
        Array.from({ length: PROCESSES }, (_, index) =>
          run(
            backend,
            `curl -sS --no-progress-meter -m 60 --parallel --parallel-immediate --parallel-max ${EACH} ${urls(index)}`,
            {
              enforceManagedNetwork: true,
              networkProxy: proxy({ '127.0.0.1': 'allow' }),
            },
          ),
        ),
      );
      for (const ran of runs) {
        expect(ran.exitCode, ran.output).toBe(0);
        const lines = ran.output.trim().split('\n').sort();
        const expected = Array.from(
          { length: EACH },
          (_, n) => `ok ${new URL(`http://x/p${runs.indexOf(ran)}-${n}`).pathname}`,
        );
        expect(lines, ran.output).toEqual(expected.sort());
        expect(ran.decisions).toHaveLength(EACH);
        expect(
          ran.decisions.every((d) => d.processId === ran.process.processId && d.decision === 'allow'),
        ).toBe(true);
      }
      expect(waiting).toHaveLength(PROCESSES * EACH);
    } finally {
      barrier.closeAllConnections();
      barrier.close();
    }
  });

  it('a slowloris client in one sandbox does not block another, and is cut off at the headers deadline', async () => {
    const SLOW = 20;
    const slowScript = [
      'import socket, sys, time',
      `conns = [socket.create_connection(("127.0.0.1", 3128), 5) for _ in range(${SLOW})]`,
      `for c in conns: c.sendall(b"GET http://127.0.0.1:${origins.origin.port}/slow HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")`,
      'def still_open(c):',
      '    c.settimeout(0.01)',
      '    try: return c.recv(1) != b""',
      '    except socket.timeout: return True',
      '    except OSError: return False',
      'print("slow-ready", flush=True)',
      'sys.stdin.readline()',
      'print("open", sum(1 for c in conns if still_open(c)), flush=True)',
      'open_ = set(range(len(conns)))',
      'deadline = time.time() + 30',
      'while open_ and time.time() < deadline:',
      '    for i in list(open_):',
      '        try: conns[i].sendall(b"X")',
      '        except OSError: pass',
      '        if not still_open(conns[i]): open_.discard(i)',
      '    time.sleep(0.2)',
      'print("cut", len(conns) - len(open_), flush=True)',
    ].join('\n');
    const slow = await backend.start({
      argv: ['/bin/sh', '-c', `exec python3 -c '${slowScript.replaceAll("'", "'\\''")}'`],
      cwd: tmpdir(),
      env: PATH,
      sandbox: READ_ONLY,
      pipeStdin: true,
      enforceManagedNetwork: true,
      networkProxy: proxy({ '127.0.0.1': 'allow' }),
    });
    let slowOutput = '';
    const slowClosed = new Promise<void>((resolve) =>
      slow.events$.subscribe({
        next: (event) => {
          if (event.type === 'output') slowOutput += Buffer.from(event.chunk).toString();
        },
        complete: resolve,
      }),
    );
    await eventually(
      () => slowOutput.includes('slow-ready'),
      'the slow client to open its connections',
      15_000,
    );
    const quick = await run(backend, `curl -sS -m 10 http://127.0.0.1:${origins.origin.port}/quick`, {
      enforceManagedNetwork: true,
      networkProxy: proxy({ '127.0.0.1': 'allow' }),
    });
    expect(quick.output).toBe('hello GET /quick\n');
    // The slow connections were all still open while the quick request was served.
    await slow.write('count\n');
    await eventually(() => /open \d+/.test(slowOutput), 'the slow client to count', 15_000);
    expect(slowOutput).toContain(`open ${SLOW}`);
    await slowClosed;
    expect(slowOutput).toContain(`cut ${SLOW}`);
    expect(origins.origin.requests.some((request) => request.url === '/slow')).toBe(false);
    expect(runtime.stats().networkDecisions?.length).toBeGreaterThan(0);
  });
});
