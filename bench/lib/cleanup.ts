/**
 * Every child the suite starts is registered here, so a failed scenario, a timeout or Ctrl-C still
 * kills it. Raw children run in their own process group (`detached`, like the runtime's), so the
 * whole group is killed.
 */
const groups = new Set<number>();
const finalizers = new Set<() => Promise<void>>();

export function trackGroup(pid: number): () => void {
  groups.add(pid);
  return () => groups.delete(pid);
}

/** A cleanup to run if the suite is interrupted (for example `runtime.destroy()`). */
export function trackFinalizer(finalizer: () => Promise<void>): () => void {
  finalizers.add(finalizer);
  return () => finalizers.delete(finalizer);
}

export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export function killAllTracked(): void {
  for (const pid of groups) killGroup(pid);
  groups.clear();
}

export async function cleanupAll(): Promise<void> {
  killAllTracked();
  await Promise.allSettled([...finalizers].map((finalizer) => finalizer()));
  finalizers.clear();
}

export function liveTrackedGroups(): number {
  return groups.size;
}
