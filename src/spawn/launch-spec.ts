/**
 * The launch spec our launcher (`src/native/launcher/launcher.c`) reads from a descriptor: what to
 * exec, with exactly which argv and env, which files to open onto descriptors 3, 4, … first, and
 * the seccomp program to apply before the exec. It travels through a descriptor, never a command
 * line (`/proc/PID/cmdline` is world-readable and env values may be secrets).
 *
 * Format (integers are little-endian u32): the header `"EXVL"` + version, then tagged records
 * `tag, length, payload`. Version 1 knows PROGRAM, ARG, ENV, OPEN and SECCOMP; the launcher refuses
 * an unknown tag, so a step added later (the network bridge) fails loudly on an old launcher.
 */

export const LAUNCH_SPEC_VERSION = 1;

export const SpecTag = Object.freeze({
  PROGRAM: 1,
  ARG: 2,
  ENV: 3,
  OPEN: 4,
  SECCOMP: 5,
} as const);

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
