import { describe, expect, it } from 'vitest';
import { methodNames, requestMethods, requestMethodsByName } from '../../../src/rpc/methods.js';
import { handlers } from '../../../src/server/handlers.js';

describe('method table', () => {
  it('declares each wire name once', () => {
    expect(new Set(methodNames).size).toBe(methodNames.length);
    expect(requestMethodsByName.size).toBe(methodNames.length);
  });

  it('has a server handler for every method and no other', () => {
    expect(Object.keys(handlers).sort()).toEqual(Object.keys(requestMethods).sort());
  });

  it('covers the protocol methods', () => {
    expect([...methodNames].sort()).toEqual(
      [
        'initialize',
        'process/ack',
        'process/closeStdin',
        'process/list',
        'process/read',
        'process/resize',
        'process/signal',
        'process/start',
        'process/terminate',
        'process/write',
        'fs/readFile',
        'fs/writeFile',
        'fs/createDirectory',
        'fs/getMetadata',
        'fs/readDirectory',
        'fs/remove',
        'fs/copy',
        // The current upstream shape.
        'fs/canonicalize',
        'fs/walk',
        'fs/open',
        'fs/readBlock',
        'fs/close',
        'environment/info',
        'environment/status',
        'http/request',
      ].sort(),
    );
  });

  it('gives the fs methods, and only them, the filesystem handshake scope', () => {
    for (const method of Object.values(requestMethods)) {
      expect(method.scope === 'fs').toBe(method.name.startsWith('fs/'));
    }
  });
});
