/**
 * The sandbox transform: policy model, validation, selection and the platform launchers.
 * See docs/sandbox.md.
 */
export { BRIDGE_PORT, transformLaunch, SPEC_FD, DEV_NULL_FD } from './transform.js';
export { parseSandboxLaunchConfig } from './policy/parse.js';
export {
  fileSystemPolicyFromLegacy,
  legacyPolicyFromSplit,
  networkPolicyFromLegacy,
} from './policy/convert.js';
export { nodeHostView, probeCanMountProc } from './host.js';
export type { NodeHostViewOptions } from './host.js';
export {
  BWRAP_LOCATIONS,
  launcherBuildPath,
  resolveBwrap,
  resolveLauncher,
  resolveSandboxTools,
} from './tools.js';
export type { BwrapChoice, BwrapSource, SandboxTools } from './tools.js';
export { LAUNCHER_IN_SANDBOX, PRIVATE_MOUNT_DIR, PROXY_SOCKET_IN_SANDBOX } from './linux/bwrap-args.js';
export { buildSeccompProgram, seccompArchOf } from './linux/seccomp-bpf.js';
export type { SeccompArch, SeccompOptions } from './linux/seccomp-bpf.js';
export { sandboxConfigFromFlags } from './flags.js';
export type { SandboxFlags, SandboxLaunchConfigJson } from './flags.js';
export type {
  HostView,
  InnerLaunch,
  LaunchRequest,
  ManagedNetworkLaunch,
  PreparedLaunch,
  PrivateMount,
  ResolvedTool,
} from './types.js';
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
