/**
 * A child process for the tc-BPF tests: run in a namespace's network (`nsenter --net=...`, so
 * that /sys/fs/bpf stays the host's and pins are visible to the test) and driven by one JSON
 * command per stdin line; answers `{ event: 'result', id, value }` or `{ event: 'failed', id,
 * message, code }`. `crash` exits without closing: what a killed daemon leaves behind. Exits
 * on its own after DEADLINE_MS.
 */
import { createInterface } from 'node:readline';
import { ipv4 } from '../../io/wire/bytes.js';
import { BpfInstance, type BpfProgramName } from '../../io/linux/bpf.js';
import { loadNative } from '../../io/linux/native.js';

const DEADLINE_MS = 120_000;
let instance: BpfInstance | undefined;

function report(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function opened(): BpfInstance {
  if (instance === undefined) throw new Error('open first');
  return instance;
}

type Command = { id: number; op: string } & Record<string, unknown>;

function execute(command: Command): unknown {
  const s = (name: string) => String(command[name]);
  switch (command.op) {
    case 'open': {
      const result = BpfInstance.open({ instance: s('instance') });
      instance = result.instance;
      return { staleRemoved: result.staleRemoved, folder: instance.folder };
    }
    case 'load':
      opened().load(s('program') as BpfProgramName);
      return true;
    case 'attach':
      return opened().attach(s('program') as BpfProgramName, s('interface'), (command.direction as 'ingress' | 'egress' | undefined) ?? 'ingress', {
        ...(typeof command.entry === 'string' ? { entry: command.entry } : {}),
      });
    case 'detach':
      return opened().detach(s('interface'), (command.direction as 'ingress' | 'egress' | undefined) ?? 'ingress');
    case 'setBinding':
      opened().homeBindings().set(ipv4(s('home')), {
        careOfAddress: ipv4(s('careOf')),
        tunnelSource: ipv4(s('source')),
        encapsulation: (command.encapsulation as 'ip-in-ip' | 'gre' | undefined) ?? 'ip-in-ip',
        tunnelMtu: (command.mtu as number | undefined) ?? 0,
      });
      return true;
    case 'getBinding':
      return opened().homeBindings().get(ipv4(s('home'))) ?? null;
    case 'deleteBinding':
      return opened().homeBindings().delete(ipv4(s('home')));
    case 'bindingKeys':
      return opened().homeBindings().keys();
    case 'clearBindings':
      return opened().homeBindings().clear();
    case 'settings':
      opened().setHaSettings({ tunnelMtu: command.tunnelMtu as number, outerTtl: command.outerTtl as number });
      return true;
    case 'setCareOf':
      opened().careOfAddresses().set(ipv4(s('address')), command.role as 'foreign-agent' | 'co-located');
      return true;
    case 'getCareOf':
      return opened().careOfAddresses().get(ipv4(s('address'))) ?? null;
    case 'deleteCareOf':
      return opened().careOfAddresses().delete(ipv4(s('address')));
    case 'setVisitor':
      opened().visitors().set(ipv4(s('home')), { ifindex: loadNative().interfaceIndex(s('interface')), visitorMac: s('visitorMac'), ownMac: s('ownMac') });
      return true;
    case 'deleteVisitor':
      return opened().visitors().delete(ipv4(s('home')));
    case 'getVisitor':
      return opened().visitors().get(ipv4(s('home'))) ?? null;
    case 'counters':
      if (s('program') === 'reverse_encap') return opened().reverseEncapCounters();
      return s('program') === 'ha_encap' ? opened().haEncapCounters() : opened().decapCounters();
    case 'setReverse':
      opened().reverseTunnels().set(ipv4(s('home')), {
        careOfAddress: ipv4(s('careOf')),
        homeAgent: ipv4(s('homeAgent')),
        encapsulation: (command.encapsulation as 'ip-in-ip' | 'gre' | undefined) ?? 'ip-in-ip',
        forwards: command.forwards !== false,
      });
      return true;
    case 'getReverse':
      return opened().reverseTunnels().get(ipv4(s('home'))) ?? null;
    case 'timeUpdates': {
      // Map updates from JS through the addon, for the report (not a bar: benchmarks measure speed).
      const map = opened().homeBindings();
      const count = Number(command.count);
      const started = process.hrtime.bigint();
      for (let i = 0; i < count; i++) map.set(0xc6336400 + (i % 200), { careOfAddress: 0xcb007102, tunnelSource: 0xcb007101, encapsulation: 'ip-in-ip' });
      const elapsed = Number(process.hrtime.bigint() - started) / 1e3;
      for (let i = 0; i < 200; i++) map.delete(0xc6336400 + i);
      return { microsecondsPerUpdate: elapsed / count };
    }
    case 'close':
      opened().close();
      instance = undefined;
      return true;
    case 'crash':
      process.exit(0);
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

const timer = setTimeout(() => {
  instance?.close();
  report('timeout', {});
  process.exit(2);
}, DEADLINE_MS);
timer.unref();

createInterface({ input: process.stdin }).on('line', (line) => {
  let command: Command;
  try {
    command = JSON.parse(line) as Command;
  } catch {
    return;
  }
  try {
    report('result', { id: command.id, value: execute(command) ?? null });
  } catch (error) {
    const failure = error as Error & { code?: string; log?: string };
    report('failed', { id: command.id, message: failure.message, code: failure.code, log: failure.log });
  }
}).on('close', () => {
  instance?.close();
  process.exit(0);
});
report('ready', {});
