import { describe, expect, it } from 'vitest';
import { leastLoaded, rendezvous, type PlacementCandidate } from '../../../src/client/placement.js';

const server = (url: string, own = 0, others = 0, maxProcesses: number | null = 100): PlacementCandidate => ({
  url,
  own,
  others,
  maxProcesses,
});

describe('leastLoaded', () => {
  it('takes the smallest share of capacity in use, counting other clients', () => {
    expect(leastLoaded([server('a', 5), server('b', 3), server('c', 4)], 0)).toBe(1);
    expect(leastLoaded([server('a', 0, 9), server('b', 5), server('c', 6)], 0)).toBe(1);
    // A bigger server at the same count is less loaded.
    expect(leastLoaded([server('a', 10, 0, 100), server('b', 10, 0, 1000)], 0)).toBe(1);
    // No reported limit: taken as the server's default (4096).
    expect(leastLoaded([server('a', 10, 0, 100), server('b', 10, 0, null)], 0)).toBe(1);
  });

  it('breaks ties from the rotation point, so equal servers fill in turn', () => {
    const equal = [server('a'), server('b'), server('c')];
    expect([0, 1, 2, 3, 4].map((from) => leastLoaded(equal, from))).toEqual([0, 1, 2, 0, 1]);
    expect(leastLoaded([], 0)).toBe(-1);
  });
});

describe('rendezvous', () => {
  const urls = ['ws://10.0.0.1:8765', 'ws://10.0.0.2:8765', 'ws://10.0.0.3:8765', 'ws://10.0.0.4:8765'];
  const keys = Array.from({ length: 2000 }, (_, i) => `agent-${i}`);

  it('sends each key to one server, whatever the order of the list', () => {
    for (const key of keys.slice(0, 50)) {
      const url = urls[rendezvous(key, urls)];
      const reversed = [...urls].reverse();
      expect(reversed[rendezvous(key, reversed)]).toBe(url);
    }
    expect(rendezvous('k', [])).toBe(-1);
  });

  it('spreads keys evenly and moves only the keys of a server that goes', () => {
    const counts = new Map<string, number>();
    const before = new Map(keys.map((key) => [key, urls[rendezvous(key, urls)]!]));
    for (const url of before.values()) counts.set(url, (counts.get(url) ?? 0) + 1);
    for (const count of counts.values()) expect(count).toBeGreaterThan(400);
    const fewer = urls.filter((url) => url !== urls[2]);
    for (const key of keys) {
      const after = fewer[rendezvous(key, fewer)]!;
      if (before.get(key) !== urls[2]) expect(after).toBe(before.get(key));
    }
  });
});
