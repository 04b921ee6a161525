/**
 * The sandbox transform: policy model, validation, selection and the platform launchers.
 * See docs/sandbox.md.
 */
export { transformLaunch, SECCOMP_FD, DEV_NULL_FD } from './transform.js';
export { parseSandboxLaunchConfig } from './policy/parse.js';
export {
  fileSystemPolicyFromLegacy,
  legacyPolicyFromSplit,
  networkPolicyFromLegacy,
} from './policy/convert.js';
export { nodeHostView, findBwrapOnPath, probeCanMountProc } from './host.js';
export type { NodeHostViewOptions } from './host.js';
export { seccompProgramPath } from './linux/seccomp-file.js';
export { buildSeccompProgram, seccompArchOf } from './linux/seccomp-bpf.js';
export type { SeccompArch, SeccompOptions } from './linux/seccomp-bpf.js';
export { sandboxConfigFromFlags } from './flags.js';
export type { SandboxFlags, SandboxLaunchConfigJson } from './flags.js';
export type { HostView, LaunchRequest, PreparedLaunch } from './types.js';
export type {
  FileSystemAccess,
  FileSystemEntry,
  FileSystemPath,
  FileSystemPolicyKind,
  FileSystemSandboxPolicy,
  NetworkSandboxPolicy,
  ReadOnlyAccess,
  SandboxLaunchConfig,
  SandboxMode,
  SandboxPolicy,
  SpecialPath,
  SpecialPathKind,
  WindowsSandboxLevel,
} from './policy/model.js';
