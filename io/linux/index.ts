/** `mip4/linux`: the Linux layers of the IO services (UDP, AF_PACKET links, raw IP, TUN, host routes, the mobile node's host) over the native helper. */
export * from './udp.js';
export * from './packet.js';
export * from './raw-ip.js';
export * from './tun.js';
export * from './routes.js';
export * from './mn-host.js';
export * from './link-events.js';
export { nativeAvailable, loadNative, NativeHelperMissingError, NATIVE_MISSING_MESSAGE } from './native.js';
