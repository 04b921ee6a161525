// Piscina task entry: one call per process, pending until the process closes.
import { runProcessActor } from '../src/spawn/process-actor.js';
import type { ActorTask } from '../src/protocol/process-actor.js';

export default function processActor(task: ActorTask): Promise<void> {
  return runProcessActor(task);
}
