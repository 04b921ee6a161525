// Piscina task entry: one call per process, pending until the process closes.
import { parentPort, threadId } from 'node:worker_threads';
import { ActorHost } from '../src/actor/host.js';
import { ACTOR_WORKER_READY, type ActorTask, type ActorWorkerReady } from '../src/actor/messages.js';
import { runProcessActor } from '../src/actor/run-process.js';

const host = new ActorHost();

export default function processActor(task: ActorTask): Promise<void> {
  return runProcessActor(task, host);
}

// Loaded and evaluated: hand the Supervisor this worker's control and event ports. From now on it
// may also stop this thread without catching it mid-module-load (which aborts the process on Node 20).
const { controlPort, eventPort } = host.supervisorPorts;
parentPort?.postMessage(
  { type: ACTOR_WORKER_READY, threadId, controlPort, eventPort } satisfies ActorWorkerReady,
  [controlPort, eventPort],
);
