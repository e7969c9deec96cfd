/**
 * The tool's side of agent-peer.ts: starts it in the tool's namespace and turns its JSON lines
 * into awaited answers and a log of received frames and datagrams that cases search with
 * bounded waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface PeerFrame {
  readonly kind: 'frame';
  readonly dev: string;
  readonly bytes: Uint8Array;
  readonly at: number;
}

export interface PeerDatagram {
  readonly kind: 'udp';
  readonly id: string;
  readonly from: string;
  readonly port: number;
  readonly bytes: Uint8Array;
  readonly at: number;
}

export type PeerEvent = PeerFrame | PeerDatagram;

type Line = { readonly ev: string } & Record<string, unknown>;

export class PeerClient {
  /** Everything received, in order of arrival. */
  readonly events: PeerEvent[] = [];
  readonly errors: string[] = [];
  private readonly lines: Line[] = [];
  private partial = '';
  private exited = false;
  private stderr = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const text of parts) {
        if (!text.startsWith('{')) continue;
        const line = JSON.parse(text) as Line;
        if (line.ev === 'frame') this.events.push({ kind: 'frame', dev: String(line.dev), bytes: Buffer.from(String(line.hex), 'hex'), at: typeof line.at === 'number' ? line.at : Date.now() });
        else if (line.ev === 'udp') this.events.push({ kind: 'udp', id: String(line.id), from: String(line.from), port: Number(line.port), bytes: Buffer.from(String(line.hex), 'hex'), at: Date.now() });
        else if (line.ev === 'error') this.errors.push(String(line.message));
        else this.lines.push(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.on('close', () => (this.exited = true));
  }

  /** Starts the peer in `namespace` (it exits by itself after `lifetimeSeconds`) and waits for it to be ready. */
  static async start(namespace: string, script: string, lifetimeSeconds: number): Promise<PeerClient> {
    const child = spawn('nsenter', [`--net=/run/netns/${namespace}`, process.execPath, script, String(lifetimeSeconds)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new PeerClient(child);
    await peer.answer((l) => l.ev === 'ready', 10_000, 'the peer to start');
    return peer;
  }

  private command(command: Record<string, unknown>): void {
    if (!this.exited) this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  private async answer(predicate: (line: Line) => boolean, timeoutMs: number, what: string): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex(predicate);
      if (index >= 0) return this.lines.splice(index, 1)[0]!;
      if (this.errors.length > 0) throw new Error(`peer: ${this.errors.join('; ')}`);
      if (this.exited) throw new Error(`the peer exited before ${what}: ${this.stderr.trim().slice(-500)}`);
      if (Date.now() > deadline) throw new Error(`no answer from the peer within ${timeoutMs} ms: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Opens an AF_PACKET link; resolves to its MAC. */
  async openLink(dev: string): Promise<string> {
    this.command({ op: 'link', dev });
    return String((await this.answer((l) => l.ev === 'link' && l.dev === dev, 5_000, `opening ${dev}`)).mac);
  }

  async openUdp(id: string, address: string, port: number): Promise<void> {
    this.command({ op: 'udp', id, address, port });
    await this.answer((l) => l.ev === 'udp-ready' && l.id === id, 5_000, `binding ${address}:${port}`);
  }

  sendFrame(dev: string, frame: Uint8Array): void {
    this.command({ op: 'send', dev, hex: Buffer.from(frame).toString('hex') });
  }

  sendUdp(id: string, payload: Uint8Array, address: string, port: number): void {
    this.command({ op: 'udp-send', id, hex: Buffer.from(payload).toString('hex'), address, port });
  }

  /** Index of the next event to arrive: pass it to `waitFor` to look only at what comes after now. */
  mark(): number {
    return this.events.length;
  }

  /** The first event from index `from` on matching `predicate`, or undefined once `timeoutMs` passed. */
  async waitFor<T>(from: number, pick: (event: PeerEvent, index: number) => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    let next = from;
    for (;;) {
      for (; next < this.events.length; next++) {
        const picked = pick(this.events[next]!, next);
        if (picked !== undefined) return picked;
      }
      if (Date.now() >= deadline || this.exited) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.command({ op: 'exit' });
    this.child.stdin!.end();
  }
}
