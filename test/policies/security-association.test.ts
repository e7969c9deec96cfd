import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { computeAuthenticator, verifyAuthenticator } from '../../policies/auth.js';
import {
  DEFAULT_REPLAY_WINDOW_SECONDS,
  SecurityAssociationError,
  SecurityAssociationTable,
  createSecurityContext,
  validateSecurityContext,
  type MobilitySecurityContext,
} from '../../policies/security-association.js';

const mobileNode = ipv4('198.51.100.10');
const foreignAgent = ipv4('203.0.113.1');
const key = new Uint8Array(16).fill(0x5a);

describe('createSecurityContext', () => {
  it('[R5.7.1-1] defaults to HMAC-MD5, timestamps and a 7 s window', () => {
    const context = createSecurityContext({ spi: 256, key });
    expect(context).toEqual({ spi: 256, algorithm: 'hmac-md5', key, replay: 'timestamp', replayWindowSeconds: 7 });
    expect(DEFAULT_REPLAY_WINDOW_SECONDS).toBe(7);
  });

  it('[R1.6-3] refuses every SPI from 0 to 255 and accepts 256 and 0xffffffff', () => {
    for (let spi = 0; spi < 256; spi++) {
      expect(() => createSecurityContext({ spi, key }), `SPI ${spi}`).toThrow(/reserved/);
    }
    expect(createSecurityContext({ spi: 256, key }).spi).toBe(256);
    expect(createSecurityContext({ spi: 0xffffffff, key }).spi).toBe(0xffffffff);
  });

  it('refuses SPIs that are not 32-bit unsigned integers', () => {
    for (const spi of [-1, 0x1_0000_0000, 1000.5, Number.NaN]) {
      expect(() => createSecurityContext({ spi, key })).toThrow(SecurityAssociationError);
    }
  });

  it('[R5.7.1-2] refuses a replay window of 3 s or less and accepts anything above', () => {
    for (const replayWindowSeconds of [3, 2, 0, -7, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createSecurityContext({ spi: 300, key, replayWindowSeconds })).toThrow(/5\.7\.1|greater than 3/);
    }
    expect(createSecurityContext({ spi: 300, key, replayWindowSeconds: 3.5 }).replayWindowSeconds).toBe(3.5);
    expect(createSecurityContext({ spi: 300, key, replayWindowSeconds: 30 }).replayWindowSeconds).toBe(30);
  });

  it('refuses an empty key, an unknown algorithm and an unknown replay style', () => {
    expect(() => createSecurityContext({ spi: 300, key: new Uint8Array(0) })).toThrow(/key/);
    const bad = { spi: 300, key, algorithm: 'sha1', replay: 'timestamp', replayWindowSeconds: 7 } as unknown as MobilitySecurityContext;
    expect(() => validateSecurityContext(bad)).toThrow(/algorithm/);
    const badReplay = { spi: 300, key, algorithm: 'hmac-md5', replay: 'counter', replayWindowSeconds: 7 } as unknown as MobilitySecurityContext;
    expect(() => validateSecurityContext(badReplay)).toThrow(/replay/);
  });

  it('[R5.1-3] accepts keys with arbitrary binary values and lengths, and they authenticate', () => {
    const message = new Uint8Array(46).map((_, i) => i * 7);
    message[24] = 32;
    const keys = [new Uint8Array([0]), new Uint8Array(16), new Uint8Array(16).fill(0xff), new Uint8Array(64).map((_, i) => 255 - i), new Uint8Array(100).fill(0x80)];
    for (const k of keys) {
      for (const algorithm of ['hmac-md5', 'keyed-md5'] as const) {
        const context = createSecurityContext({ spi: 1000, key: k, algorithm });
        const authenticator = computeAuthenticator(context.algorithm, context.key, message, 24);
        expect(verifyAuthenticator(context.algorithm, context.key, message, { offset: 24, authenticator })).toBe(true);
      }
    }
  });
});

describe('SecurityAssociationTable', () => {
  it('[R3.2-1] indexes contexts by peer address and SPI', () => {
    const table = new SecurityAssociationTable();
    const forNode = createSecurityContext({ spi: 4096, key });
    const forAgent = createSecurityContext({ spi: 4096, key: new Uint8Array(16).fill(1) });
    table.add(mobileNode, forNode);
    table.add(foreignAgent, forAgent);
    expect(table.get(mobileNode, 4096)).toBe(forNode);
    expect(table.get(foreignAgent, 4096)).toBe(forAgent);
    expect(table.get(mobileNode, 4097)).toBeUndefined();
    expect(table.get(ipv4('198.51.100.11'), 4096)).toBeUndefined();
    expect(table.has(mobileNode)).toBe(true);
    expect(table.has(ipv4('198.51.100.11'))).toBe(false);
    expect(table.size).toBe(2);
  });

  it('[R1.6-3] add refuses a reserved SPI with a clear error and leaves the table unchanged', () => {
    const table = new SecurityAssociationTable();
    const reserved = { spi: 255, key, algorithm: 'hmac-md5', replay: 'timestamp', replayWindowSeconds: 7 } as const;
    expect(() => table.add(mobileNode, reserved)).toThrow(/SPI 255 is reserved.*1\.6/);
    expect(table.has(mobileNode)).toBe(false);
  });

  it('[R3.5.1-3] maps any SPI to any algorithm, per peer', () => {
    const table = new SecurityAssociationTable();
    table.add(mobileNode, createSecurityContext({ spi: 256, key, algorithm: 'keyed-md5' }));
    table.add(mobileNode, createSecurityContext({ spi: 257, key, algorithm: 'hmac-md5' }));
    table.add(mobileNode, createSecurityContext({ spi: 0xffffffff, key, algorithm: 'keyed-md5', replay: 'nonce' }));
    table.add(foreignAgent, createSecurityContext({ spi: 256, key, algorithm: 'hmac-md5' }));
    expect(table.get(mobileNode, 256)?.algorithm).toBe('keyed-md5');
    expect(table.get(mobileNode, 257)?.algorithm).toBe('hmac-md5');
    expect(table.get(mobileNode, 0xffffffff)?.algorithm).toBe('keyed-md5');
    expect(table.get(foreignAgent, 256)?.algorithm).toBe('hmac-md5');
  });

  it('first() is the oldest context, the one to reply with when the requested SPI is unknown', () => {
    const table = new SecurityAssociationTable();
    const old = createSecurityContext({ spi: 500, key });
    const fresh = createSecurityContext({ spi: 400, key });
    table.add(mobileNode, old);
    table.add(mobileNode, fresh);
    expect(table.first(mobileNode)).toBe(old);
    expect(table.association(mobileNode)?.first()).toBe(old);
    expect(table.remove(mobileNode, 500)).toBe(true);
    expect(table.first(mobileNode)).toBe(fresh);
    expect(table.remove(mobileNode, 400)).toBe(true);
    expect(table.has(mobileNode)).toBe(false);
    expect(table.first(mobileNode)).toBeUndefined();
  });

  it('refuses a second context with the same SPI for the same peer', () => {
    const table = new SecurityAssociationTable();
    table.add(mobileNode, createSecurityContext({ spi: 4096, key }));
    expect(() => table.add(mobileNode, createSecurityContext({ spi: 4096, key }))).toThrow(/already has a context with SPI 4096/);
    expect(table.association(mobileNode)?.size).toBe(1);
  });

  it('remove(peer) drops all contexts of the peer; removing nothing reports false', () => {
    const table = new SecurityAssociationTable();
    table.add(mobileNode, createSecurityContext({ spi: 300, key }));
    table.add(mobileNode, createSecurityContext({ spi: 301, key }));
    expect(table.remove(mobileNode, 999)).toBe(false);
    expect(table.remove(mobileNode)).toBe(true);
    expect(table.remove(mobileNode)).toBe(false);
    expect([...table.peers()]).toEqual([]);
  });
});
