/**
 * Adapts a worker_threads MessagePort to the Endpoint comlink expects (comlink is written against
 * the DOM's EventTarget; Node ports deliver the payload itself to 'message' listeners).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

type Listener = Parameters<Endpoint['addEventListener']>[1];

export function portEndpoint(port: MessagePort): Endpoint {
  const wrapped = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: unknown[]) =>
      port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: Listener) => {
      const handler = (data: unknown) => {
        const event = { data } as MessageEvent;
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      };
      wrapped.set(listener, handler);
      port.on('message', handler);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const handler = wrapped.get(listener);
      if (handler !== undefined) port.off('message', handler);
    },
    start: () => port.start(),
  };
}
