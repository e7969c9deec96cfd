/**
 * The hands of `mip4 conformance --role fa|mn` inside the tool's own network namespace: a Node
 * process cannot move itself into another namespace, so agent-mode.ts starts this file there
 * (`nsenter --net=… node agent-peer.js SECONDS`) and drives it over stdin/stdout, one JSON
 * object per line. It only moves bytes: whole Ethernet frames on named links (AF_PACKET, the
 * io/linux Link layer) and UDP datagrams through the kernel (node:dgram). Every decision about
 * what to send and what a received message means stays in agent-mode.ts.
 *
 * Commands: {op:'link',dev} opens a link (answer {ev:'link',dev,mac}); {op:'send',dev,hex};
 * {op:'udp',id,address,port} binds a socket ({ev:'udp-ready',id}); {op:'udp-send',id,hex,address,port};
 * {op:'exit'}. Events: {ev:'frame',dev,at,hex} (at: ms, this process's clock), {ev:'udp',id,from,port,hex}, {ev:'error',message}.
 * Bounded: it exits after the seconds given as its argument, or when its stdin closes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { Effect, Scope, Exit } from 'effect';
import { Link, type LinkInterface } from '../../../io/link.js';
import { LinuxLinkLive } from '../../../io/linux/packet.js';

type Command =
  | { readonly op: 'link'; readonly dev: string }
  | { readonly op: 'send'; readonly dev: string; readonly hex: string }
  | { readonly op: 'udp'; readonly id: string; readonly address: string; readonly port: number }
  | { readonly op: 'udp-send'; readonly id: string; readonly hex: string; readonly address: string; readonly port: number }
  | { readonly op: 'exit' };

const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const lifetimeSeconds = Math.min(600, Math.max(1, Number(process.argv[2] ?? 120)));
setTimeout(() => process.exit(3), lifetimeSeconds * 1000).unref();

const scope = Effect.runSync(Scope.make());
const links = new Map<string, LinkInterface>();
const sockets = new Map<string, Socket>();

function shutdown(code: number): void {
  for (const socket of sockets.values()) socket.close();
  void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(code));
}

async function handle(command: Command): Promise<void> {
  switch (command.op) {
    case 'link': {
      const link = await Effect.runPromise(
        Effect.gen(function* () {
          return yield* (yield* Link).open(command.dev);
        }).pipe(Effect.provide(LinuxLinkLive), Scope.extend(scope)),
      );
      // `at`: when this process read it, so the gaps the cases measure carry no pipe delay.
      link.onFrame((frame) => say({ ev: 'frame', dev: command.dev, at: Date.now(), hex: Buffer.from(frame).toString('hex') }));
      link.onError((error) => say({ ev: 'error', message: `${command.dev}: ${error.message}` }));
      links.set(command.dev, link);
      say({ ev: 'link', dev: command.dev, mac: link.mac });
      return;
    }
    case 'send': {
      const link = links.get(command.dev);
      if (link === undefined) throw new Error(`link ${command.dev} is not open`);
      link.send(Buffer.from(command.hex, 'hex'));
      return;
    }
    case 'udp': {
      const socket = createSocket({ type: 'udp4', reuseAddr: true });
      socket.on('message', (message, remote) => say({ ev: 'udp', id: command.id, from: remote.address, port: remote.port, hex: message.toString('hex') }));
      socket.on('error', (error) => say({ ev: 'error', message: `udp ${command.id}: ${error.message}` }));
      await new Promise<void>((resolve) => socket.bind(command.port, command.address, resolve));
      sockets.set(command.id, socket);
      say({ ev: 'udp-ready', id: command.id });
      return;
    }
    case 'udp-send': {
      const socket = sockets.get(command.id);
      if (socket === undefined) throw new Error(`udp socket ${command.id} is not open`);
      socket.send(Buffer.from(command.hex, 'hex'), command.port, command.address);
      return;
    }
    case 'exit':
      shutdown(0);
  }
}

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  let command: Command;
  try {
    command = JSON.parse(line) as Command;
  } catch {
    say({ ev: 'error', message: `not JSON: ${line.slice(0, 80)}` });
    return;
  }
  handle(command).catch((error: unknown) => say({ ev: 'error', message: (error as Error).message ?? String(error) }));
});
input.on('close', () => shutdown(0));
say({ ev: 'ready' });
