import { describe, expect, it } from 'vitest';
import { environmentFromPolicy, globMatches, type EnvPolicy } from '../../../src/spawn/env-policy.js';

const BASE = {
  PATH: '/usr/bin',
  HOME: '/home/u',
  USER: 'u',
  USERNAME: 'windows-only',
  LANG: 'C.UTF-8',
  LC_ALL: 'C',
  TMPDIR: '/t',
  SHELL: '/bin/sh',
  API_KEY: 'k',
  my_token: 't',
  MYSECRET: 's',
  FOO: '1',
  FOX: '2',
  FOOO: '3',
};

const policy = (extra: Partial<EnvPolicy>): EnvPolicy => ({
  inherit: 'all',
  ignoreDefaultExcludes: false,
  exclude: [],
  set: {},
  includeOnly: [],
  ...extra,
});

describe('globMatches', () => {
  it('matches *, ? and classes without regard to case', () => {
    expect(globMatches('*KEY*', 'api_key')).toBe(true);
    expect(globMatches('FO?', 'FOO')).toBe(true);
    expect(globMatches('FO?', 'FOOO')).toBe(false);
    expect(globMatches('F[OX]X', 'fox')).toBe(true);
    expect(globMatches('F[!O]?', 'FOO')).toBe(false);
    expect(globMatches('A*B*C', 'AxxBxxC')).toBe(true);
    expect(globMatches('A*B*C', 'AxxBxx')).toBe(false);
    expect(globMatches('[', '[')).toBe(true);
  });

  it('stays linear on a pattern built to backtrack', () => {
    expect(globMatches(`${'*a'.repeat(30)}b`, 'a'.repeat(5000))).toBe(false);
  });
});

describe('environmentFromPolicy', () => {
  it('core keeps the reference list (not USERNAME), then drops the default excludes', () => {
    expect(environmentFromPolicy(policy({ inherit: 'core' }), BASE)).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/u',
      USER: 'u',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      TMPDIR: '/t',
      SHELL: '/bin/sh',
    });
  });

  it('all drops names matching KEY, SECRET, TOKEN in any case, unless told not to', () => {
    const env = environmentFromPolicy(policy({}), BASE);
    expect(Object.keys(env)).not.toEqual(expect.arrayContaining(['API_KEY']));
    expect(env).not.toHaveProperty('my_token');
    expect(env).not.toHaveProperty('MYSECRET');
    expect(environmentFromPolicy(policy({ ignoreDefaultExcludes: true }), BASE)).toHaveProperty(
      'API_KEY',
      'k',
    );
  });

  it('applies exclude, then set, then includeOnly', () => {
    expect(
      environmentFromPolicy(
        policy({ exclude: ['fo?'], set: { S: '1', FOO: 'set' }, includeOnly: ['F*', 's'] }),
        BASE,
      ),
    ).toEqual({ FOO: 'set', FOOO: '3', S: '1' });
  });

  it('none starts empty', () => {
    expect(environmentFromPolicy(policy({ inherit: 'none', set: { A: '1' } }), BASE)).toEqual({ A: '1' });
  });
});
