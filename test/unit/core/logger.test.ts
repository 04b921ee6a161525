/** `stderrLogger`: one JSON schema on stderr (test/integration/logging.test.ts: pino, `serve`). */
import { describe, expect, it } from 'vitest';
import { stderrLogger } from '../../../src/index.js';

type Line = Record<string, unknown>;

function collector(): { lines: Line[]; write: (line: string) => void } {
  const lines: Line[] = [];
  return { lines, write: (text) => lines.push(JSON.parse(text) as Line) };
}

describe('stderrLogger', () => {
  it('writes one JSON object per line: time, level, msg, then the fields', () => {
    const texts: string[] = [];
    const logger = stderrLogger('debug', (text) => texts.push(text));
    logger.info({ processId: 'p1', bytes: 3 }, 'started');
    expect(texts).toHaveLength(1);
    expect(texts[0]!.endsWith('\n')).toBe(true);
    expect(texts[0]!.slice(0, -1)).not.toContain('\n');
    const line = JSON.parse(texts[0]!) as Line;
    expect(Object.keys(line).slice(0, 3)).toEqual(['time', 'level', 'msg']);
    expect(line).toMatchObject({ level: 'info', msg: 'started', processId: 'p1', bytes: 3 });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
  });

  it('serializes an Error field with its type, message, code and stack', () => {
    const { lines, write } = collector();
    const error = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    stderrLogger('info', write).error({ err: error }, 'failed to listen');
    expect(lines[0]!.err).toMatchObject({ type: 'Error', message: 'listen EADDRINUSE', code: 'EADDRINUSE' });
    expect((lines[0]!.err as Line).stack).toContain('listen EADDRINUSE');
  });

  it('keeps time, level and msg when a field has the same name, and survives a cycle', () => {
    const { lines, write } = collector();
    const logger = stderrLogger('info', write);
    logger.warn({ level: 'debug', msg: 'forged' }, 'real');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    logger.warn({ cyclic }, 'still logged');
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'real' });
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'still logged' });
  });

  it('drops lines below its level', () => {
    const { lines, write } = collector();
    const logger = stderrLogger('warn', write);
    logger.debug({}, 'a');
    logger.info({}, 'b');
    logger.warn({}, 'c');
    logger.error({}, 'd');
    expect(lines.map((line) => line.msg)).toEqual(['c', 'd']);
  });
});
