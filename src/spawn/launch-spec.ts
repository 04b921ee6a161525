/**
 * The launch spec our launcher (`src/native/launcher/launcher.c`) reads from a descriptor: what to
 * exec, with exactly which argv and env, which files to open onto descriptors 3, 4, … first, and
 * the seccomp program to apply before the exec. It travels through a descriptor, never a command
 * line (`/proc/PID/cmdline` is world-readable and env values may be secrets).
 *
 * Format (integers are little-endian u32): the header `"EXVL"` + version, then tagged records
 * `tag, length, payload`. Version 1 knows PROGRAM, ARG, ENV, OPEN, SECCOMP and BRIDGE; the launcher
 * refuses an unknown tag, so a step added later fails loudly on an older launcher.
 */

export const LAUNCH_SPEC_VERSION = 1;

export const SpecTag = Object.freeze({
  PROGRAM: 1,
  ARG: 2,
  ENV: 3,
  OPEN: 4,
  SECCOMP: 5,
  BRIDGE: 6,
} as const);

/**
 * The managed-network bridge the launcher starts before it applies the filter: it listens on
 * 127.0.0.1:`port` (and [::1]) inside the sandbox's network namespace and forwards each connection
 * to the proxy's Unix socket at `socketPath` (a path inside the sandbox), preamble first.
 */
export interface BridgeSpec {
  readonly port: number;
  /** The lease token the preamble names (32 lowercase hex digits). */
  readonly token: string;
  readonly socketPath: string;
}

export interface LaunchSpec {
  /** Absolute path of the program to exec. */
  readonly program: string;
  /** Exactly the argv it gets, argv[0] included. */
  readonly argv: readonly string[];
  /** Exactly the environment it gets. */
  readonly env: Readonly<Record<string, string>>;
  /** Files the launcher opens read-only onto descriptors 3, 4, … (in order) before the exec. */
  readonly opens?: readonly string[];
  /** A classic BPF program the launcher applies (no_new_privs + seccomp) right before the exec. */
  readonly seccomp?: Uint8Array | null;
  /** Started before the filter is applied (managed network). */
  readonly bridge?: BridgeSpec | null;
}

export function encodeLaunchSpec(spec: LaunchSpec): Uint8Array {
  const records: [number, Uint8Array][] = [];
  const text = (value: string, what: string): Uint8Array => {
    if (value.includes('\0')) throw new TypeError(`${what} must not contain NUL`);
    return Buffer.from(value, 'utf8');
  };
  records.push([SpecTag.PROGRAM, text(spec.program, 'the program path')]);
  for (const arg of spec.argv) records.push([SpecTag.ARG, text(arg, 'an argument')]);
  for (const [name, value] of Object.entries(spec.env)) {
    records.push([SpecTag.ENV, text(`${name}=${value}`, 'an environment variable')]);
  }
  (spec.opens ?? []).forEach((path, index) => {
    const payload = Buffer.alloc(4 + Buffer.byteLength(path));
    payload.writeUInt32LE(3 + index, 0);
    payload.set(text(path, 'a descriptor path'), 4);
    records.push([SpecTag.OPEN, payload]);
  });
  if (spec.seccomp !== undefined && spec.seccomp !== null) records.push([SpecTag.SECCOMP, spec.seccomp]);
  if (spec.bridge !== undefined && spec.bridge !== null)
    records.push([SpecTag.BRIDGE, bridgePayload(spec.bridge)]);

  const size = records.reduce((total, [, payload]) => total + 8 + payload.byteLength, 8);
  const out = Buffer.alloc(size);
  out.write('EXVL', 0, 'latin1');
  out.writeUInt32LE(LAUNCH_SPEC_VERSION, 4);
  let at = 8;
  for (const [tag, payload] of records) {
    out.writeUInt32LE(tag, at);
    out.writeUInt32LE(payload.byteLength, at + 4);
    out.set(payload, at + 8);
    at += 8 + payload.byteLength;
  }
  return out;
}

function bridgePayload(bridge: BridgeSpec): Uint8Array {
  const { port, token, socketPath } = bridge;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad bridge port ${port}`);
  if (!/^[0-9a-f]{1,64}$/.test(token)) throw new TypeError('the bridge token must be lowercase hex');
  if (!socketPath.startsWith('/') || socketPath.includes('\0')) {
    throw new TypeError('the bridge socket path must be absolute, without NUL');
  }
  const path = Buffer.from(socketPath, 'utf8');
  const payload = Buffer.alloc(8 + token.length + path.byteLength);
  payload.writeUInt32LE(port, 0);
  payload.writeUInt32LE(token.length, 4);
  payload.write(token, 8, 'latin1');
  payload.set(path, 8 + token.length);
  return payload;
}
