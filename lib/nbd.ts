// NBD URIs (the NBD project's URI spec) and how a target reaches the engine:
// a path or descriptor as it is, an NBD URI as the address the engine
// connects to, an image file in a format as the file qemu-nbd serves.
import { invalidArgValue } from './errors';
import { CopyError } from './errors';
import type { ImageFormat, Target } from './types';

/** Where an NBD export is: a unix socket, or a TCP host and port; and the export's name. */
export interface NbdAddress {
  socket?: string;
  host?: string;
  port?: number;
  export: string;
}

/** The engine's view of a target (native/binding/convert.cc reads it). */
export type EngineTarget =
  | string
  | number
  | { path: string; format: ImageFormat; connections: number; nbdTimeout: number; compress: boolean }
  | { uri: string; nbd: NbdAddress; connections: number; nbdTimeout: number };

const NBD_PORT = 10809;
const URI_SCHEME = /^(nbds?)(\+unix|\+vsock)?:\/\//;

export function isNbdUri(target: Target): target is string {
  return typeof target === 'string' && URI_SCHEME.test(target);
}

function tlsRefused(uri: string): CopyError {
  return new CopyError(
    `ENOTSUP: TLS (nbds://) is not supported yet: serve the export on a unix socket (nbd+unix:///?socket=PATH) ` +
      `or tunnel it (ssh -L) and use nbd://, '${uri}'`,
    { code: 'ENOTSUP', errno: -95, syscall: 'connect', path: uri },
  );
}

/**
 * The address in an NBD URI, checked in full: nbd://host[:port][/export] and
 * nbd+unix:///[export]?socket=PATH. nbds:// (TLS) and vsock are refused.
 */
export function parseNbdUri(name: string, uri: string): NbdAddress {
  const scheme = URI_SCHEME.exec(uri);
  if (!scheme) throw invalidArgValue(name, uri, 'is not an NBD URI');
  if (scheme[1] === 'nbds') throw tlsRefused(uri);
  if (scheme[2] === '+vsock') throw invalidArgValue(name, uri, 'uses vsock, which blockcopy does not speak');
  let url: URL;
  try {
    // As a scheme the URL parser has no rules of its own for (no default port, an empty host allowed).
    url = new URL(uri.replace(URI_SCHEME, 'x-nbd://'));
  } catch {
    throw invalidArgValue(name, uri, 'is not a valid NBD URI');
  }
  if (url.username || url.password || url.hash) throw invalidArgValue(name, uri, 'has user info or a fragment, which NBD URIs do not');
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const params = [...url.searchParams.keys()];
  if (scheme[2] === '+unix') {
    const socket = url.searchParams.get('socket');
    if (url.host !== '') throw invalidArgValue(name, uri, 'names a host, which an nbd+unix URI must not (nbd+unix:///export?socket=PATH)');
    if (!socket) throw invalidArgValue(name, uri, 'needs ?socket=PATH (nbd+unix:///export?socket=PATH)');
    if (params.some((p) => p !== 'socket')) throw invalidArgValue(name, uri, 'has a query parameter other than socket');
    return { socket, export: exportName };
  }
  if (url.hostname === '') throw invalidArgValue(name, uri, 'needs a host (nbd://host[:port][/export])');
  if (params.length > 0) throw invalidArgValue(name, uri, 'has a query parameter, which nbd:// URIs here do not take');
  const port = url.port ? Number(url.port) : NBD_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgValue(name, uri, 'has a port outside 1 to 65535');
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, export: exportName };
}

/** How the engine reaches `target`: an NBD URI by its address; an image file in a format through qemu-nbd. */
export function engineTarget(target: Target, format: ImageFormat, connections: number, nbdTimeout: number, compress = false): EngineTarget {
  if (isNbdUri(target)) return { uri: target, nbd: parseNbdUri('target', target), connections, nbdTimeout };
  if (format !== 'raw' && typeof target === 'string') return { path: target, format, connections, nbdTimeout, compress };
  return target;
}
