import { describe, expect, it } from 'vitest';
import { parseWirePath, toFileUri } from '../../../src/core/path-uri.js';

const relative = (value: string) => `path must be an absolute path, got ${JSON.stringify(value)}`;

describe('wire paths', () => {
  it('takes native absolute paths as they are, and remembers the form', () => {
    const parsed = parseWirePath('/tmp/x', relative);
    expect(parsed).toMatchObject({ ok: true, path: { native: '/tmp/x', form: 'native' } });
    if (parsed.ok) expect(parsed.path.render('/a b')).toBe('/a b');
  });

  it('decodes file:// URIs (empty host or localhost, percent-encoding, dot segments)', () => {
    for (const [text, native] of [
      ['file:///tmp/a%20b', '/tmp/a b'],
      ['file://localhost/tmp/x', '/tmp/x'],
      ['file:///tmp/d/../f%2etxt', '/tmp/f.txt'],
      ['FILE:///tmp', '/tmp'],
    ]) {
      const parsed = parseWirePath(text!, relative);
      expect(parsed, text).toMatchObject({ ok: true, path: { native, form: 'uri' } });
    }
    const parsed = parseWirePath('file:///tmp', relative);
    if (parsed.ok) expect(parsed.path.render('/a b/c')).toBe('file:///a%20b/c');
  });

  it('refuses what the reference refuses, in its words', () => {
    const cases: [string, string][] = [
      ['relative/x', 'path must be an absolute path, got "relative/x"'],
      ['http://x/tmp', 'unsupported path URI scheme `http`'],
      ['file:///tmp/x?y=1', 'query parameters are not allowed in path URIs'],
      ['file:///tmp/x#f', 'fragments are not allowed in path URIs'],
      ['file://host/tmp', "'file://host/tmp' is invalid on 'linux'"],
      ['file:///tmp/%00', "'file:///tmp/%00' is invalid on 'linux'"],
    ];
    for (const [text, why] of cases) expect(parseWirePath(text, relative), text).toEqual({ ok: false, why });
  });

  it('renders URIs as the reference does', () => {
    expect(toFileUri('/tmp/a b/#%')).toBe('file:///tmp/a%20b/%23%25');
  });
});
