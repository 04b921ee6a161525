/** The logging interface the runtime writes to; any pino/console-like object fits. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = () => undefined;
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** One JSON line per entry on stderr, at `level` and above. */
export function stderrLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'] as const;
  const min = order.indexOf(level);
  const at =
    (name: (typeof order)[number]) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order.indexOf(name) < min) return;
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: name, message, ...fields })}\n`,
      );
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
