/**
 * The logging interface the runtime and the server write to. Its call shape is pino's,
 * `logger.info({ processId, err }, 'message')`: fields first, then a fixed message, so a pino
 * logger fits as is and every line is structured. Ids, peers and errors go in fields, never in the
 * message text.
 */

/** Structured fields of one log line. An `err` field holding an Error is serialized in full. */
export type LogFields = Readonly<Record<string, unknown>>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Any pino logger (or child logger) is one; so is `stderrLogger()`. */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

const noop = () => undefined;
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Keys every line carries; a field of the same name cannot replace them. */
const RESERVED = new Set(['time', 'level', 'msg']);

/**
 * One JSON object per line on stderr (or `write`), at `level` and above:
 * `{"time":"2025-01-01T00:00:00.000Z","level":"info","msg":"listening","url":"ws://127.0.0.1:4000"}`.
 * An Error anywhere in the fields becomes `{type, message, code?, stack}`.
 */
export function stderrLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const min = LEVELS.indexOf(level);
  const at =
    (name: LogLevel) =>
    (fields: LogFields, message: string): void => {
      if (LEVELS.indexOf(name) < min) return;
      write(`${formatLogLine(name, fields, message)}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The JSON text of one line (no newline), as `stderrLogger` writes it. */
export function formatLogLine(level: LogLevel, fields: LogFields, message: string): string {
  const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
  for (const [key, value] of Object.entries(fields)) if (!RESERVED.has(key)) line[key] = value;
  try {
    return JSON.stringify(line, errorReplacer);
  } catch (error) {
    // A cycle or a BigInt in the fields must not lose the line itself.
    return JSON.stringify({ time: line.time, level, msg: message, logError: String(error) });
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as { code?: unknown }).code;
  return {
    type: value.name,
    message: value.message,
    ...(code === undefined ? {} : { code }),
    ...(value.stack === undefined ? {} : { stack: value.stack }),
  };
}
