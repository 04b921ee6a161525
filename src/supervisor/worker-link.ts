/**
 * The Supervisor's end of one worker thread's link: the comlink proxy of its `WorkerControl`, its
 * event port, and a promise that settles when the thread is gone (after which no answer will come).
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { portEndpoint } from '../actor/comlink-endpoint.js';
import type { ActorEventBatch, ActorWriteResult, ProcessControl, WorkerControl } from '../actor/messages.js';
import type { TerminalSize } from '../core/types.js';

export class WorkerLink {
  readonly threadId: number;
  readonly gone: Promise<void>;
  readonly #control: Comlink.Remote<WorkerControl>;
  readonly #controlPort: MessagePort;
  readonly #eventPort: MessagePort;
  /** Control calls sent and not yet answered: each keeps the event loop alive until it settles. */
  #pendingCalls = 0;
  /** Handles of this worker's processes until they are forgotten: told when the worker is gone. */
  readonly #members = new Set<{ actorGone(): void }>();
  #markGone!: () => void;

  constructor(
    threadId: number,
    controlPort: MessagePort,
    eventPort: MessagePort,
    onBatch: (batch: ActorEventBatch) => void,
  ) {
    this.threadId = threadId;
    this.gone = new Promise((resolve) => (this.#markGone = resolve));
    void this.gone.then(() => {
      for (const member of this.#members) member.actorGone();
      this.#members.clear();
    });
    this.#control = Comlink.wrap<WorkerControl>(portEndpoint(controlPort));
    this.#controlPort = controlPort;
    this.#eventPort = eventPort;
    eventPort.on('message', onBatch);
    // Both ports close when the thread ends; every message it posted arrives before that.
    controlPort.once('close', () => this.#markGone());
    eventPort.once('close', () => this.#markGone());
    // A link keeps the embedding process alive only while processes live (see `setRef`) or a
    // control call waits for its answer (see `#track`).
    controlPort.unref();
    eventPort.unref();
  }

  /** Whether this link keeps the event loop alive: while the runtime has live processes. */
  setRef(active: boolean): void {
    if (active) this.#eventPort.ref();
    else this.#eventPort.unref();
  }

  /** Also watch the thread itself: a terminated thread's ports may close late. */
  watch(worker: Worker): void {
    worker.once('exit', () => this.#markGone());
  }

  attach(member: { actorGone(): void }): void {
    this.#members.add(member);
  }

  detach(member: { actorGone(): void }): void {
    this.#members.delete(member);
  }

  /** The control surface of one actor on this worker. */
  controlFor(actorId: number): ProcessControl {
    const control = this.#control;
    const track = <T>(call: Promise<T>) => this.#track(call);
    return {
      write: (data: Uint8Array): Promise<ActorWriteResult> => track(control.write(actorId, data)),
      closeStdin: () => track(control.closeStdin(actorId)),
      resize: (size: TerminalSize) => track(control.resize(actorId, size)),
      signal: (signal: NodeJS.Signals) => track(control.signal(actorId, signal)),
      terminate: (graceMs: number | null) => track(control.terminate(actorId, graceMs)),
      acknowledge: (bytes: number) => track(control.acknowledge(actorId, bytes)),
    };
  }

  /**
   * Keeps the event loop alive while `call` waits for its answer. Without this a call made after
   * the last process closed (a `terminate()` between `exited` and `closed`, say) waited on
   * unref'd ports only, and Node could end with an unsettled promise (exit code 13). A thread that
   * ends closes the port, which then holds nothing, so a call its death leaves unanswered does not
   * keep the process alive.
   */
  #track<T>(call: Promise<T>): Promise<T> {
    if (this.#pendingCalls++ === 0) this.#controlPort.ref();
    const settled = () => {
      if (--this.#pendingCalls === 0) this.#controlPort.unref();
    };
    call.then(settled, settled);
    return call;
  }

  close(): void {
    this.#markGone();
    this.#eventPort.close();
  }
}
