/**
 * Host routes through one interface, over rtnetlink (native helper): the home agent's way of
 * attracting the datagrams for its mobile nodes away from home (RFC 5944 4.2.3) into its TUN
 * device — one /32 route per home address with a binding.
 *
 * A registration storm changes thousands of routes a second, so a change is one synchronous
 * rtnetlink request and its ack on a socket kept open (no `ip route` process, no Effect per
 * route); Effect carries only the lifetime: opening brings the device up and clears routes a
 * crashed predecessor left, closing the scope removes every route added here.
 *
 * Every route is marked with a routing protocol number of its own (rtm_protocol, shown by
 * `ip route` as `proto 77` or the name /etc/iproute2/rt_protos gives it), so that routes of
 * this process can be told from anyone else's and found again after a crash.
 */
import { Data, Effect } from 'effect';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import { interfaceNameProblem, isNativeError, loadNative, RouteOperation } from './native.js';

/** rtm_protocol of mip4's routes: unassigned in linux/rtnetlink.h and iproute2's rt_protos. */
export const MIP4_ROUTE_PROTOCOL = 77;
/** The main routing table (RT_TABLE_MAIN). */
export const MAIN_ROUTE_TABLE = 254;

export type RouteErrorReason =
  /** Changing routes needs CAP_NET_ADMIN. */
  | 'permission'
  | 'no-such-interface'
  /** The kernel refused the change (the message says why, with the errno name). */
  | 'refused'
  /** Used after its scope closed. */
  | 'closed';

export class RouteError extends Data.TaggedError('RouteError')<{
  readonly reason: RouteErrorReason;
  /** The interface the routes point at. */
  readonly interfaceName: string;
  /** The route concerned, e.g. "198.51.100.10/32", or "" for the interface itself. */
  readonly route: string;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export interface HostRoutesOptions {
  /** Routing table (default 254, main). */
  readonly table?: number;
  /** rtm_protocol marking the routes (default MIP4_ROUTE_PROTOCOL). */
  readonly protocol?: number;
  /** Set the interface up first (routes cannot point at a down device). Default true. */
  readonly bringUp?: boolean;
}

export interface HostRoutesCounters {
  added: number;
  removed: number;
  /** Changes the kernel refused (each also returned as a RouteError). */
  failed: number;
  /** Routes with this marker found on the interface at open (left by a crashed run). */
  staleRemoved: number;
}

/** /32 routes to addresses through one interface, owned by this process. */
export interface HostRoutes {
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly counters: HostRoutesCounters;
  /** Routes `address`/32 into the interface (replacing a route of the same key). */
  add(address: Ipv4Address): RouteError | undefined;
  /** Removes the route added for `address`; one already gone counts as removed. */
  remove(address: Ipv4Address): RouteError | undefined;
  /** Whether this process routes `address` now. */
  has(address: Ipv4Address): boolean;
  /** Addresses routed now by this process. */
  addresses(): Ipv4Address[];
  /** What the kernel's table holds with this marker on this interface (a dump; for checks). */
  kernelRoutes(): Array<{ destination: Ipv4Address; prefixLength: number }>;
}

function failure(interfaceName: string, route: string, error: unknown, what: string): RouteError {
  if (isNativeError(error)) {
    if (error.code === 'EPERM' || error.code === 'EACCES') {
      return new RouteError({
        reason: 'permission',
        interfaceName,
        route,
        message: `no permission to ${what}: run as root or grant CAP_NET_ADMIN`,
      });
    }
    if (error.code === 'ENODEV') {
      return new RouteError({ reason: 'no-such-interface', interfaceName, route, message: `cannot ${what}: ${interfaceName} is gone` });
    }
    return new RouteError({ reason: 'refused', interfaceName, route, message: `cannot ${what}: ${error.message}` });
  }
  return new RouteError({ reason: 'refused', interfaceName, route, message: `cannot ${what}: ${String(error)}` });
}

/**
 * Opens a route set on `interfaceName` for the scope: brings the interface up, removes routes
 * left with the same marker on it, and on close removes every route it added.
 */
export function openHostRoutes(interfaceName: string, options: HostRoutesOptions = {}) {
  const table = options.table ?? MAIN_ROUTE_TABLE;
  const protocol = options.protocol ?? MIP4_ROUTE_PROTOCOL;
  const acquire = Effect.try({
    try: () => {
      const problem = interfaceNameProblem(interfaceName);
      if (problem !== undefined) throw new RouteError({ reason: 'no-such-interface', interfaceName, route: '', message: problem });
      const native = loadNative();
      const ifindex = native.interfaceIndex(interfaceName);
      if (ifindex === 0) {
        throw new RouteError({
          reason: 'no-such-interface',
          interfaceName,
          route: '',
          message: `no interface named ${interfaceName} on this host (or in this network namespace)`,
        });
      }
      const fd = native.openNetlink();
      try {
        if (options.bringUp ?? true) {
          try {
            native.setLinkUp(fd, ifindex, true);
          } catch (error) {
            throw failure(interfaceName, '', error, `set ${interfaceName} up`);
          }
        }
        const counters: HostRoutesCounters = { added: 0, removed: 0, failed: 0, staleRemoved: 0 };
        const kernelRoutes = () =>
          native
            .routeList(fd, table, protocol)
            .filter((r) => r.ifindex === ifindex)
            .map((r) => ({ destination: r.destination >>> 0, prefixLength: r.prefixLength }));
        for (const stale of kernelRoutes()) {
          try {
            native.routeChange(fd, RouteOperation.Delete, stale.destination, stale.prefixLength, ifindex, table, protocol);
            counters.staleRemoved++;
          } catch (error) {
            throw failure(interfaceName, `${ipv4ToString(stale.destination)}/${stale.prefixLength}`, error, 'remove a stale route');
          }
        }
        const routed = new Set<number>();
        let closed = false;
        const closedError = (route: string) =>
          new RouteError({ reason: 'closed', interfaceName, route, message: `the routes on ${interfaceName} are closed` });
        const routes: HostRoutes = {
          interfaceName,
          ifindex,
          counters,
          add(address) {
            const route = `${ipv4ToString(address)}/32`;
            if (closed) return closedError(route);
            try {
              native.routeChange(fd, RouteOperation.Replace, address >>> 0, 32, ifindex, table, protocol);
            } catch (error) {
              counters.failed++;
              return failure(interfaceName, route, error, `route ${route} into ${interfaceName}`);
            }
            if (!routed.has(address >>> 0)) counters.added++;
            routed.add(address >>> 0);
            return undefined;
          },
          remove(address) {
            const route = `${ipv4ToString(address)}/32`;
            if (closed) return closedError(route);
            if (!routed.delete(address >>> 0)) return undefined;
            try {
              native.routeChange(fd, RouteOperation.Delete, address >>> 0, 32, ifindex, table, protocol);
            } catch (error) {
              // Already gone (removed by hand, or with its device): what remove wanted.
              if (!(isNativeError(error) && error.code === 'ESRCH')) {
                counters.failed++;
                return failure(interfaceName, route, error, `remove route ${route} from ${interfaceName}`);
              }
            }
            counters.removed++;
            return undefined;
          },
          has: (address) => routed.has(address >>> 0),
          addresses: () => [...routed],
          kernelRoutes: () => (closed ? [] : kernelRoutes()),
        };
        const release = () => {
          if (closed) return;
          for (const address of [...routed]) routes.remove(address);
          closed = true;
          native.close(fd);
        };
        return { routes, release };
      } catch (error) {
        native.close(fd);
        throw error;
      }
    },
    catch: (error) => (error instanceof RouteError ? error : failure(interfaceName, '', error, `open routes on ${interfaceName}`)),
  });
  return Effect.acquireRelease(acquire, ({ release }) => Effect.sync(release)).pipe(Effect.map(({ routes }) => routes));
}
