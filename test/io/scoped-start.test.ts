import { describe, expect, it } from 'vitest';
import { Effect } from 'effect';
import { LinkError } from '../../io/link.js';
import { RouteError } from '../../io/linux/routes.js';
import { MnHostError } from '../../io/mn-host.js';
import { PacketTapError } from '../../io/packet-tap.js';
import { RawIpError } from '../../io/raw-ip.js';
import { isStartError, openInScope, type StartError } from '../../io/scoped-start.js';
import { TunError } from '../../io/tun.js';
import { UdpError } from '../../io/udp.js';

/** A resource whose release is recorded, in the order of releases. */
function resource(name: string, released: string[]) {
  return Effect.acquireRelease(Effect.succeed(name), () => Effect.sync(() => void released.push(name)));
}

describe('openInScope', () => {
  it('resolves with the value; close releases in reverse order, once', async () => {
    const released: string[] = [];
    const opened = await openInScope(Effect.all([resource('link', released), resource('socket', released)]));
    expect(opened.value).toEqual(['link', 'socket']);
    expect(released).toEqual([]);
    await Promise.all([opened.close(), opened.close()]);
    await opened.close();
    expect(released).toEqual(['socket', 'link']);
  });

  it('a typed failure closes what was opened and rejects with that very error', async () => {
    const released: string[] = [];
    const failure = new UdpError({ reason: 'address-in-use', endpoint: '192.0.2.1:434', message: 'in use' });
    const start = openInScope(Effect.zipRight(resource('link', released), Effect.fail(failure)));
    await expect(start).rejects.toBe(failure);
    expect(released).toEqual(['link']);
  });

  it('a defect closes what was opened and rejects with the thrown value', async () => {
    const released: string[] = [];
    const defect = new RangeError('impossible configuration');
    const start = openInScope(Effect.zipRight(resource('link', released), Effect.die(defect)));
    await expect(start).rejects.toBe(defect);
    expect(released).toEqual(['link']);
  });
});

describe('StartError', () => {
  const errors: StartError[] = [
    new UdpError({ reason: 'bind', endpoint: '192.0.2.1:434', message: 'm' }),
    new LinkError({ reason: 'closed', interfaceName: 'eth0', message: 'm' }),
    new RawIpError({ reason: 'closed', protocol: 4, message: 'm' }),
    new TunError({ reason: 'closed', interfaceName: 'mip4tun0', message: 'm' }),
    new RouteError({ reason: 'closed', interfaceName: 'mip4ha0', route: '', message: 'm' }),
    new MnHostError({ reason: 'in-use', operation: 'ip route', message: 'm' }),
    new PacketTapError({ reason: 'closed', source: 'tun', message: 'm' }),
  ];

  it.each(errors.map((error) => [error._tag, error] as const))('%s is a start error', (_tag, error) => {
    expect(isStartError(error)).toBe(true);
  });

  it.each([new Error('plain'), new RangeError('range'), { _tag: 'UdpError', message: 'not an Error' }, undefined, 'UdpError'])(
    '%s is not',
    (value) => {
      expect(isStartError(value)).toBe(false);
    },
  );

  it('a switch on _tag reaches each member without casts', () => {
    const describeError = (error: StartError): string => {
      switch (error._tag) {
        case 'UdpError':
          return error.endpoint;
        case 'LinkError':
        case 'TunError':
          return error.interfaceName;
        case 'RawIpError':
          return String(error.protocol);
        case 'RouteError':
          return `${error.interfaceName} ${error.route}`;
        case 'MnHostError':
          return error.operation;
        case 'PacketTapError':
          return error.source;
      }
    };
    expect(errors.map(describeError)).toEqual(['192.0.2.1:434', 'eth0', '4', 'mip4tun0', 'mip4ha0 ', 'ip route', 'tun']);
  });
});
