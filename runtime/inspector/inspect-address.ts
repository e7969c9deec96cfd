/** The inspector's listen address as `--inspect` gives it (light: the CLI parses it before loading the server). */
import { isIP } from 'node:net';

export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || address === 'localhost' || (isIP(address) === 4 && address.startsWith('127.'));
}

/** Parses `ADDR:PORT` (`[v6]:port` too); a bare port means 127.0.0.1. Returns a problem as text. */
export function parseInspectAddress(text: string): { address: string; port: number } | string {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (match === null) return `--inspect wants ADDR:PORT (e.g. 127.0.0.1:8434), not '${text}'`;
  const address = match[1] || match[2] || '127.0.0.1';
  const port = Number(match[3]);
  if (port > 65535) return `--inspect port ${port} is not a port (0 to 65535)`;
  if (address !== 'localhost' && isIP(address) === 0) return `--inspect address '${address}' is not an IP address`;
  return { address, port };
}
