// Piscina task entry: one call per process, pending until the process closes.
import { parentPort, threadId } from 'node:worker_threads';
import { runProcessActor } from '../src/spawn/process-actor.js';
import { ACTOR_WORKER_READY, type ActorTask, type ActorWorkerReady } from '../src/protocol/process-actor.js';

export default function processActor(task: ActorTask): Promise<void> {
  return runProcessActor(task);
}

// Loaded and evaluated: the supervisor may stop this thread from now on without catching it
// mid-module-load (terminating a worker then aborts the whole process on Node 20).
parentPort?.postMessage({ type: ACTOR_WORKER_READY, threadId } satisfies ActorWorkerReady);
