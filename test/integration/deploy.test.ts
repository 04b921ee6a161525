/**
 * The deployment files, checked as far as this machine allows (it has no container engine, no
 * systemd and no cluster): the Dockerfile copies paths that exist and are not docker-ignored, starts
 * the built CLI, and its `serve` flags are accepted; the systemd unit's ExecStart starts a real
 * server with its own flags (paths mapped to this checkout) that shuts down cleanly on SIGTERM; the
 * Kubernetes manifests agree with one another and with the server (flags it has, probe paths that
 * answer, the port it listens on, a grace period that covers the drain).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { CLI, requireBuild } from '../helpers/serve.js';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The long flags `execvisor serve --help` lists. */
async function serveFlags(): Promise<Set<string>> {
  const help = await runCli(['serve', '--help']);
  expect(help.code).toBe(0);
  return new Set(help.stdout.match(/--[a-z][a-z-]+/g));
}

/**
 * Runs `execvisor serve` with these flags until it prints its URL, runs `whileUp` against it, then
 * SIGTERM: the exit code.
 */
async function serveOnce(
  args: string[],
  whileUp: (url: string) => Promise<void> = () => Promise.resolve(),
): Promise<number | null> {
  requireBuild();
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const [line] = (await Promise.race([once(child.stdout, 'data'), exited.then(() => [null])])) as [
    Buffer | null,
  ];
  try {
    expect(line?.toString(), stderr).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\n$/);
    await whileUp(line!.toString().trim());
  } finally {
    child.kill('SIGTERM');
  }
  return (await exited)[0];
}

function tokenFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'execvisor-deploy-'));
  temps.push(dir);
  const file = join(dir, 'token');
  writeFileSync(file, 'a-token\n');
  return file;
}

/** Exec-form instruction (`["a", "b"]`) arguments. */
function execForm(dockerfile: string, instruction: string): string[] {
  const match = new RegExp(`^${instruction}\\s+(\\[.*\\])\\s*$`, 'm').exec(dockerfile);
  if (match === null) throw new Error(`no exec-form ${instruction}`);
  return JSON.parse(match[1]!) as string[];
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);

  it('copies from the build context only paths that exist and are not docker-ignored', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/));
    expect(copies.length).toBeGreaterThan(0);
    for (const parts of copies) {
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(
          ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
          source,
        ).toBe(false);
      }
    }
  });

  it('uses the Node.js major version package.json requires, and starts the CLI the build produces', () => {
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const major = /(\d+)/.exec(engines.node)![1];
    for (const [, version] of dockerfile.matchAll(/^FROM node:(\d+)/gm)) expect(version).toBe(major);
    const entrypoint = execForm(dockerfile, 'ENTRYPOINT');
    expect(entrypoint.slice(-3)).toEqual(['node', '/app/dist/src/cli/main.js', 'serve']);
    expect(existsSync(join(ROOT, 'dist/src/cli/main.js'))).toBe(true);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/apt-get install .*bubblewrap/);
  });

  it('passes serve only flags it accepts, and they start a server', async () => {
    const cmd = execForm(dockerfile, 'CMD');
    const flags = await serveFlags();
    for (const flag of cmd.filter((arg) => arg.startsWith('--'))) expect(flags, flag).toContain(flag);
    // The container's address and secret mapped to this machine: loopback, port 0, a temp file.
    const args = cmd.map((arg) =>
      arg.startsWith('ws://')
        ? 'ws://127.0.0.1:0'
        : arg === '/run/secrets/execvisor-token'
          ? tokenFile()
          : arg,
    );
    expect(await serveOnce(args)).toBe(0);
  });
});

describe('docs/deploy/execvisor.service', () => {
  const unit = readFileSync(join(ROOT, 'docs/deploy/execvisor.service'), 'utf8');

  it('ExecStart runs the CLI with flags serve accepts, and they start a server that stops on SIGTERM', async () => {
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(/\s+/);
    expect(execStart.slice(0, 3)).toEqual(['/usr/bin/node', '/opt/execvisor/dist/src/cli/main.js', 'serve']);
    const args = execStart.slice(3);
    const flags = await serveFlags();
    for (const flag of args.filter((arg) => arg.startsWith('--'))) expect(flags, flag).toContain(flag);
    const mapped = args.map((arg) =>
      arg.startsWith('ws://') ? 'ws://127.0.0.1:0' : arg === '/etc/execvisor/token' ? tokenFile() : arg,
    );
    expect(await serveOnce(mapped)).toBe(0);
  });

  it('stops with SIGTERM and leaves the namespaces bubblewrap needs available', () => {
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^KillMode=mixed$/m);
    expect(unit).not.toMatch(/^RestrictNamespaces=/m);
    expect(unit).not.toMatch(/^PrivateUsers=/m);
    expect(unit).not.toMatch(/^ProtectProc=invisible/m);
  });
});

// ---- Kubernetes ---------------------------------------------------------------------------------

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const K8S = join(ROOT, 'docs/deploy/kubernetes');

/** Every document of every manifest, with the file it came from. */
function manifests(): { file: string; doc: Yaml }[] {
  const files = ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'networkpolicy.yaml'];
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((document) => {
      expect(document.errors, file).toEqual([]);
      return { file, doc: document.toJS() as Yaml };
    }),
  );
}

function only(kind: string): Yaml {
  const found = manifests().filter(({ doc }) => doc.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!.doc;
}

/** The value after `--flag` in an argument list. */
function flagValue(args: readonly string[], flag: string): string {
  const index = args.indexOf(flag);
  expect(index, flag).toBeGreaterThanOrEqual(0);
  return args[index + 1]!;
}

function matches(selector: Yaml, labels: Yaml): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('docs/deploy/kubernetes', () => {
  const deployment = only('Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0] as Yaml;
  const args = container.args as string[];
  const port = (container.ports as Yaml[]).find((p) => p.name === 'ws')!;
  const portOf = (value: unknown): unknown => (value === port.name ? port.containerPort : value);

  it('lists every manifest in its kustomization, and every manifest parses', () => {
    const kustomization = parseAllDocuments(
      readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'),
    )[0]!.toJS() as Yaml;
    const yamlFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...(kustomization.resources as string[])].sort()).toEqual(yamlFiles.sort());
    expect(
      manifests()
        .map(({ doc }) => String(doc.kind))
        .sort(),
    ).toEqual(['Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service'].sort());
  });

  it('passes serve only flags it has; the server listens on the container port the probes use', async () => {
    const flags = await serveFlags();
    for (const flag of args.filter((arg) => arg.startsWith('--'))) expect(flags, flag).toContain(flag);
    expect(new URL(flagValue(args, '--listen')).port).toBe(String(port.containerPort));
    expect(portOf(container.readinessProbe.httpGet.port)).toBe(port.containerPort);
    expect(portOf(container.livenessProbe.httpGet.port)).toBe(port.containerPort);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/livez');
    // The image is the Dockerfile's: its ENTRYPOINT ends in `serve`, these are serve's arguments.
    expect(container.command).toBeUndefined();
    expect(execForm(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), 'ENTRYPOINT').at(-1)).toBe('serve');
  });

  it('its arguments start a server whose probe paths and metrics answer', async () => {
    const token = tokenFile();
    const mapped = args.map((arg) =>
      arg.startsWith('ws://') ? 'ws://127.0.0.1:0' : arg === flagValue(args, '--token-file') ? token : arg,
    );
    const code = await serveOnce(mapped, async (url) => {
      const base = url.replace('ws://', 'http://');
      expect((await fetch(`${base}${container.livenessProbe.httpGet.path}`)).status).toBe(200);
      // 200, or 503 while the required sandbox is being checked; never 404.
      expect([200, 503]).toContain((await fetch(`${base}${container.readinessProbe.httpGet.path}`)).status);
      const annotations = pod.metadata.annotations as Yaml;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/port']).toBe(String(port.containerPort));
      const metrics = await fetch(`${base}${annotations['prometheus.io/path']}`, {
        headers: { authorization: `Bearer ${readFileSync(token, 'utf8').trim()}` },
      });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('execvisor_live_processes');
    });
    expect(code).toBe(0);
  });

  it('gives the pod a grace period that covers the drain and the shutdown after it', () => {
    const drainMs = Number(flagValue(args, '--drain-ms'));
    const shutdownMs = Number(flagValue(args, '--shutdown-timeout-ms'));
    expect(drainMs).toBeGreaterThan(0);
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drainMs + shutdownMs);
    // A new pod is ready before an old one goes (rolling updates never lose capacity).
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('reads the token from a mounted Secret, at the path --token-file names', () => {
    const tokenPath = flagValue(args, '--token-file');
    const mount = (container.volumeMounts as Yaml[]).find((m) => tokenPath.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = (pod.spec.volumes as Yaml[]).find((v) => v.name === mount!.name);
    expect(volume?.secret?.secretName).toBeTruthy();
    // Readable by the server's group, by nobody else.
    expect(volume!.secret.defaultMode).toBe(0o440);
  });

  it('selects the pods with the headless Service, the budget and the network policy', () => {
    const labels = pod.metadata.labels as Yaml;
    expect(matches(deployment.spec.selector.matchLabels as Yaml, labels)).toBe(true);
    const service = only('Service');
    expect(service.spec.clusterIP).toBe('None');
    expect(matches(service.spec.selector as Yaml, labels)).toBe(true);
    expect(service.spec.publishNotReadyAddresses ?? false).toBe(false);
    expect(portOf(service.spec.ports[0].targetPort)).toBe(port.containerPort);
    expect(service.spec.ports[0].port).toBe(port.containerPort);
    const budget = only('PodDisruptionBudget');
    expect(matches(budget.spec.selector.matchLabels as Yaml, labels)).toBe(true);
    const policy = only('NetworkPolicy');
    expect(matches(policy.spec.podSelector.matchLabels as Yaml, labels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(
      (policy.spec.ingress as Yaml[]).flatMap((rule) => (rule.ports as Yaml[]).map((p): unknown => p.port)),
    ).toEqual([port.containerPort]);
  });

  it('runs unprivileged, with what bubblewrap needs and nothing more', () => {
    const context = container.securityContext as Yaml;
    expect(context.privileged ?? false).toBe(false);
    expect(context.allowPrivilegeEscalation).toBe(false);
    expect(context.capabilities.drop).toEqual(['ALL']);
    expect(context.capabilities.add).toBeUndefined();
    expect(context.seccompProfile.type).toBe('Unconfined');
    expect(context.appArmorProfile.type).toBe('Unconfined');
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    // The image's `node` user.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^USER node$/m);
    expect(pod.spec.securityContext.runAsUser).toBe(1000);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(container.resources.requests.memory).toBeTruthy();
    expect(container.resources.limits.memory).toBeTruthy();
    // --require-sandbox: a node where the sandbox cannot work never gets traffic.
    expect(args).toContain('--require-sandbox');
  });
});
