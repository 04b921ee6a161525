/**
 * Adapts a worker_threads MessagePort to the Endpoint comlink expects (comlink is written against
 * the DOM's EventTarget; Node ports deliver the payload itself to 'message' listeners).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

type MessageListener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

export function portEndpoint(port: MessagePort): Endpoint {
  const wrapped = new WeakMap<MessageListener, (data: unknown) => void>();
  const endpoint = {
    postMessage: (message: unknown, transfer?: unknown[]) => port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: MessageListener) => {
      const handler = (data: unknown) => {
        if (typeof listener === 'function') listener({ data });
        else listener.handleEvent({ data });
      };
      wrapped.set(listener, handler);
      port.on('message', handler);
    },
    removeEventListener: (_type: string, listener: MessageListener) => {
      const handler = wrapped.get(listener);
      if (handler !== undefined) port.off('message', handler);
    },
    start: () => port.start(),
  };
  // comlink types its endpoint with the DOM's listener types, which this Node build does not load.
  return endpoint;
}
