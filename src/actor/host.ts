/**
 * `ActorHost` is the worker's side of its link to the Supervisor: the registry of live actors, the
 * comlink-exposed `WorkerControl` that routes calls to them by id, and the shared event queue
 * (the worker's outbox). One per worker thread; `workers/process-actor.ts` creates it.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { portEndpoint } from './comlink-endpoint.js';
import type { ProcessControl, WorkerControl } from './messages.js';
import { EventQueue } from './event-queue.js';
import { nativeSpawner } from '../spawn/native-binding.js';

export class ActorHost {
  readonly #actors = new Map<number, ProcessControl>();
  readonly #queue: EventQueue;
  /** The ports to hand to the Supervisor (transferred once, in the ready message). */
  readonly supervisorPorts: { readonly controlPort: MessagePort; readonly eventPort: MessagePort };

  constructor() {
    // Load the native spawner with the thread, not at its first spawn (which may come when no
    // descriptor is left to probe the kernel with). Whether it is used is the runtime's choice.
    nativeSpawner();
    const control = new MessageChannel();
    const events = new MessageChannel();
    this.#queue = new EventQueue((batch, transfer) => events.port1.postMessage(batch, transfer));
    Comlink.expose(this.#workerControl(), portEndpoint(control.port1));
    // The host lives as long as the thread; its ports must not keep an idle thread busy.
    control.port1.unref();
    events.port1.unref();
    this.supervisorPorts = { controlPort: control.port2, eventPort: events.port2 };
  }

  get queue(): EventQueue {
    return this.#queue;
  }

  register(actorId: number, control: ProcessControl): void {
    this.#actors.set(actorId, control);
  }

  unregister(actorId: number): void {
    this.#actors.delete(actorId);
  }

  #workerControl(): WorkerControl {
    const actor = (actorId: number) => this.#actors.get(actorId);
    return {
      write: (actorId, data) => actor(actorId)?.write(data) ?? Promise.resolve('stdinClosed'),
      closeStdin: (actorId) => actor(actorId)?.closeStdin() ?? Promise.resolve(),
      resize: (actorId, size) => actor(actorId)?.resize(size) ?? Promise.resolve(),
      signal: (actorId, signal) => actor(actorId)?.signal(signal) ?? Promise.resolve(false),
      terminate: (actorId, graceMs) => actor(actorId)?.terminate(graceMs) ?? Promise.resolve(false),
      acknowledge: (actorId, bytes) => actor(actorId)?.acknowledge(bytes) ?? Promise.resolve(),
    };
  }
}
