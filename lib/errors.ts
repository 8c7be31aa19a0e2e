// Errors in Node's own shapes, so callers can handle them as they handle fs errors.
import util from 'node:util';
import type { NativeError } from './native';
import type { Target } from './types';

/** How far a copy got before it stopped; every source byte below resumeOffset is in the destination. */
export interface StopPoint {
  bytesWritten: number;
  bytesDone: number;
  resumeOffset: number;
}

/** A system error during a copy, shaped like Node's fs errors plus where the copy stopped. */
export class CopyError extends Error implements StopPoint {
  code: string;
  errno: number;
  syscall: string;
  /** The file the failing call was made on (absent for file descriptors). */
  declare path?: string;
  /** The copy's destination (absent for file descriptors and for queries of one file). */
  declare dest?: string;
  bytesWritten = 0;
  bytesDone = 0;
  resumeOffset = 0;

  constructor(message: string, fields: { code: string; errno: number; syscall: string; path?: string; dest?: string }) {
    super(message);
    this.code = fields.code;
    this.errno = fields.errno;
    this.syscall = fields.syscall;
    if (fields.path !== undefined) this.path = fields.path;
    if (fields.dest !== undefined) this.dest = fields.dest;
  }
}

/** A cancelled copy: Node's AbortError shape (code 'ABORT_ERR') plus where it stopped. */
export class AbortError extends Error implements StopPoint {
  code = 'ABORT_ERR' as const;
  bytesWritten = 0;
  bytesDone = 0;
  resumeOffset = 0;

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

// On the prototype, as Node does it, so `name` is not an own enumerable field.
Object.defineProperty(CopyError.prototype, 'name', { value: 'CopyError', configurable: true, writable: true });
Object.defineProperty(AbortError.prototype, 'name', { value: 'AbortError', configurable: true, writable: true });

type NodeErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

function withCode<E extends Error>(error: E, code: NodeErrorCode): E & { code: NodeErrorCode } {
  return Object.assign(error, { code });
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return `Received an instance of ${value.constructor?.name ?? 'Object'}`;
  let shown = util.inspect(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  return withCode(
    new TypeError(`The argument '${name}' ${reason}. Received ${util.inspect(value)}`),
    'ERR_INVALID_ARG_VALUE',
  );
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

function systemErrorText(errno: number): [string, string] {
  const entry = util.getSystemErrorMap().get(-errno);
  return entry ?? [`Unknown system error ${errno}`, 'unknown error'];
}

/** Turns an engine error into the JS error a caller sees. */
export function fromNative(error: NativeError, src: Target, dst?: Target): Error {
  if (error.kind === 'invalid') return withCode(new TypeError(error.detail), 'ERR_INVALID_ARG_VALUE');
  if (error.kind === 'range') return withCode(new RangeError(error.detail), 'ERR_OUT_OF_RANGE');
  if (error.kind === 'coded') {
    return new CopyError(error.detail, { code: error.code ?? 'ERR_BLOCKCOPY', errno: 0, syscall: '', dest: typeof dst === 'string' ? dst : undefined });
  }
  const file = error.side === 'destination' ? dst : error.side === 'source' ? src : undefined;
  return systemError(error.errno, error.syscall, file, dst, error.detail);
}

/** A CopyError for errno, worded as Node words fs errors: `CODE: description, syscall 'path'`. */
export function systemError(errno: number, syscall: string, file: Target | undefined, dst: Target | undefined, detail = ''): CopyError {
  const [code, description] = systemErrorText(errno);
  const path = typeof file === 'string' ? file : undefined;
  const where = path === undefined ? syscall : `${syscall} '${path}'`;
  return new CopyError(`${code}: ${detail || description}, ${where}`, {
    code,
    errno: -errno,
    syscall,
    path,
    dest: typeof dst === 'string' ? dst : undefined,
  });
}

export function setStopPoint(error: Error, stop: StopPoint): void {
  if (error instanceof CopyError || error instanceof AbortError) {
    error.bytesWritten = stop.bytesWritten;
    error.bytesDone = stop.bytesDone;
    error.resumeOffset = stop.resumeOffset;
  }
}
