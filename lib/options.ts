// Argument checking, done in full before any I/O so bad input never touches a file.
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import { isNbdUri, parseNbdUri } from './nbd';
import { MAX_NAME } from './stream/format';
import { BACKEND_NAMES, IMAGE_FORMATS, REFLINK_MODES, SPARSE_MODES, SYNC_MODES } from './types';
import type { BackendName, CopyOptions, CopyQueueOptions, ExtentsOptions, ImageFormat, Progress, ReflinkMode, SparseMode, SyncMode, Target } from './types';

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_FD = 2 ** 31 - 1;
const MAX_MS = 2 ** 31 - 1;
/**
 * I/O size and io_uring queue depth when the caller does not choose, from the
 * The benchmark (docs/benchmarks.md): buffered copies do as well at depth 4 to 64 as at any
 * other (depth 1 is clearly slower), while direct I/O keeps gaining up to 64.
 */
export const DEFAULT_BLOCK_SIZE = 1 * MiB;
export const DEFAULT_QUEUE_DEPTH = 16;
export const DEFAULT_DIRECT_QUEUE_DEPTH = 64;
/** NBD connections per end when the server allows several, as nbdcopy opens. */
export const DEFAULT_NBD_CONNECTIONS = 4;
/** A stream or an extent query does one request at a time: one connection is all it uses. */
export const ONE_CONNECTION = 1;
/** How long one wait for an NBD server may last (NbdWaitOptions.nbdTimeout); the environment may change the default. */
export const DEFAULT_NBD_TIMEOUT = defaultNbdTimeout(process.env.BLOCKCOPY_NBD_TIMEOUT_MS);

function defaultNbdTimeout(env: string | undefined): number {
  const ms = env === undefined ? NaN : Number(env);
  return Number.isInteger(ms) && ms >= 0 && ms <= 2 ** 31 - 1 ? ms : 30_000;
}

/** Every copy option, checked and with its default: what a copy runs with. */
export interface CopySettings {
  srcOffset: number;
  dstOffset: number;
  length?: number;
  dstSize?: number;
  sparse: SparseMode;
  fsync: SyncMode;
  backend: BackendName;
  reflink: ReflinkMode;
  direct: boolean;
  blockSize: number;
  queueDepth: number;
  truncate: boolean;
  targetIsZero: boolean;
  overwrite: boolean;
  force: boolean;
  verify: boolean;
  bandwidth: number;
  progressInterval: number;
  progressDelay: number;
  srcFormat: ImageFormat;
  dstFormat: ImageFormat;
  connections: number;
  nbdTimeout: number;
  dstCompress: boolean;
}

export interface CheckedCopy {
  settings: CopySettings;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void | boolean;
}

export function checkTarget(name: string, value: unknown): Target {
  if (typeof value === 'string') {
    if (value.length === 0) throw invalidArgValue(name, value, 'must be a non-empty path');
    if (value.includes('\0')) throw invalidArgValue(name, value, 'must be a string without null bytes');
    if (isNbdUri(value)) parseNbdUri(name, value);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > MAX_FD) throw outOfRange(name, `an integer >= 0 && <= ${MAX_FD}`, value);
    return value;
  }
  throw invalidArgType(name, 'of type string or number (a path or a file descriptor)', value);
}

function checkObject<T extends object>(name: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value);
  return value as Partial<T>;
}

function checkByteCount(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, `an integer >= 0 && <= ${Number.MAX_SAFE_INTEGER}`, value);
  return value;
}

function checkInteger(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, `an integer >= ${min} && <= ${max}`, value);
  return value;
}

function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (!(choices as readonly string[]).includes(value)) {
    throw invalidArgValue(name, value, `must be one of: ${choices.map((c) => `'${c}'`).join(', ')}`);
  }
  return value as T;
}

/** An image format other than raw names a file qemu-nbd can open: a path, not a descriptor or an NBD URI. */
function checkFormat(name: string, value: unknown, target: Target): ImageFormat {
  const format = checkChoice(name, value, IMAGE_FORMATS) ?? 'raw';
  if (format !== 'raw' && typeof target === 'number') throw invalidArgValue(name, format, 'needs a path: qemu-nbd cannot open a file descriptor');
  if (format !== 'raw' && isNbdUri(target)) throw invalidArgValue(name, format, "does not apply to an NBD URI: the server decides the export's format");
  return format;
}

/** Reached over NBD: an NBD URI, or an image qemu-nbd serves. */
function overNbd(target: Target, format: ImageFormat): boolean {
  return format !== 'raw' || isNbdUri(target);
}

function checkNbdTimeout(o: { nbdTimeout?: unknown }): number {
  return checkInteger('options.nbdTimeout', o.nbdTimeout, 0, MAX_MS) ?? DEFAULT_NBD_TIMEOUT;
}

function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
  return value;
}

export const DEFAULT_PROGRESS_INTERVAL = 250;

function checkProgressInterval(value: unknown): number {
  return checkInteger('options.progressInterval', value, 0, MAX_MS) ?? DEFAULT_PROGRESS_INTERVAL;
}

function checkSum(name: string, a: number, b: number | undefined): void {
  if (b !== undefined && a + b > Number.MAX_SAFE_INTEGER) throw outOfRange(name, `<= ${Number.MAX_SAFE_INTEGER}`, a + b);
}

export function checkCopyArgs(src: unknown, dst: unknown, options: unknown): { src: Target; dst: Target; checked: CheckedCopy } {
  const s = checkTarget('src', src);
  const d = checkTarget('dst', dst);
  const o = checkObject<CopyOptions>('options', options);

  const srcOffset = checkByteCount('options.srcOffset', o.srcOffset) ?? 0;
  const dstOffset = checkByteCount('options.dstOffset', o.dstOffset) ?? 0;
  const length = checkByteCount('options.length', o.length);
  const dstSize = checkByteCount('options.dstSize', o.dstSize);
  checkSum('options.srcOffset + options.length', srcOffset, length);
  checkSum('options.dstOffset + options.length', dstOffset, length);
  const sparse = checkChoice('options.sparse', o.sparse, SPARSE_MODES) ?? 'auto';
  const reflink = checkChoice('options.reflink', o.reflink, REFLINK_MODES) ?? 'auto';
  const backend = checkChoice('options.backend', o.backend, BACKEND_NAMES) ?? 'auto';
  const fsync = checkChoice('options.fsync', o.fsync, SYNC_MODES) ?? 'none';
  const blockSize = checkInteger('options.blockSize', o.blockSize, 4 * KiB, 64 * MiB) ?? DEFAULT_BLOCK_SIZE;
  if (blockSize % (4 * KiB) !== 0) throw invalidArgValue('options.blockSize', blockSize, 'must be a multiple of 4096');
  const direct = checkBoolean('options.direct', o.direct) ?? false;
  const queueDepth = checkInteger('options.queueDepth', o.queueDepth, 1, 256) ?? (direct ? DEFAULT_DIRECT_QUEUE_DEPTH : DEFAULT_QUEUE_DEPTH);
  const truncateOption = checkBoolean('options.truncate', o.truncate);
  const targetIsZero = checkBoolean('options.targetIsZero', o.targetIsZero) ?? false;
  const overwrite = checkBoolean('options.overwrite', o.overwrite) ?? true;
  const force = checkBoolean('options.force', o.force) ?? false;
  const verify = checkBoolean('options.verify', o.verify) ?? false;
  const bandwidth = checkByteCount('options.bandwidth', o.bandwidth) ?? 0;
  const progressInterval = checkProgressInterval(o.progressInterval);
  const progressDelay = checkInteger('options.progressDelay', o.progressDelay, 0, MAX_MS) ?? 0;
  checkSignal('options.signal', o.signal);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw invalidArgType('options.onProgress', 'of type function', o.onProgress);
  }
  if (truncateOption === true && dstSize !== undefined) {
    throw invalidArgValue('options.truncate', truncateOption, 'cannot be true together with dstSize (both set the size)');
  }
  const srcFormat = checkFormat('options.srcFormat', o.srcFormat, s);
  const dstFormat = checkFormat('options.dstFormat', o.dstFormat, d);
  const connections = checkInteger('options.connections', o.connections, 1, 16) ?? DEFAULT_NBD_CONNECTIONS;
  const nbdTimeout = checkNbdTimeout(o);
  const dstCompress = checkBoolean('options.dstCompress', o.dstCompress) ?? false;
  if (dstCompress && dstFormat !== 'qcow2') throw invalidArgValue('options.dstCompress', dstCompress, "needs options.dstFormat 'qcow2'");
  if (overNbd(s, srcFormat) || overNbd(d, dstFormat)) {
    // These name ways of moving bytes between local files; NBD requests do it here.
    if (direct) throw invalidArgValue('options.direct', direct, 'does not apply to an NBD target or an image format');
    if (backend !== 'auto') throw invalidArgValue('options.backend', backend, "must be 'auto' with an NBD target or an image format");
    if (reflink === 'always') throw invalidArgValue('options.reflink', reflink, 'cannot share extents with an NBD target or an image format');
  }
  if (s === d && srcOffset === dstOffset) {
    throw invalidArgValue('dst', d, 'is the source itself, at the same offset');
  }
  const needsUserSpace = sparse === 'always' ? "sparse: 'always'" : direct ? 'direct: true' : undefined;
  if (reflink === 'always' && (needsUserSpace || sparse === 'never')) {
    throw invalidArgValue('options.reflink', reflink, `cannot be combined with ${needsUserSpace ?? "sparse: 'never'"}`);
  }
  if (backend === 'copy_file_range' && needsUserSpace) {
    throw invalidArgValue('options.backend', backend, `cannot be combined with ${needsUserSpace}, which needs the data in user space`);
  }

  const whole = srcOffset === 0 && dstOffset === 0 && length === undefined && dstSize === undefined;
  const settings: CopySettings = {
    srcOffset,
    dstOffset,
    sparse,
    fsync,
    backend,
    reflink,
    direct,
    blockSize,
    queueDepth,
    truncate: truncateOption ?? whole,
    targetIsZero,
    overwrite,
    force,
    verify,
    bandwidth,
    progressInterval,
    progressDelay,
    srcFormat,
    dstFormat,
    connections,
    nbdTimeout,
    dstCompress,
  };
  if (length !== undefined) settings.length = length;
  if (dstSize !== undefined) settings.dstSize = dstSize;
  const checked: CheckedCopy = { settings };
  if (o.signal) checked.signal = o.signal;
  if (o.onProgress) checked.onProgress = o.onProgress;
  return { src: s, dst: d, checked };
}

export interface ExtentsChecked {
  target: Target;
  offset: number;
  length?: number;
  format: ImageFormat;
  nbdTimeout: number;
}

export function checkExtentsArgs(target: unknown, options: unknown): ExtentsChecked {
  const t = checkTarget('target', target);
  const o = checkObject<ExtentsOptions>('options', options);
  const offset = checkByteCount('options.offset', o.offset) ?? 0;
  const length = checkByteCount('options.length', o.length);
  checkSum('options.offset + options.length', offset, length);
  const format = checkFormat('options.format', o.format, t);
  const nbdTimeout = checkNbdTimeout(o);
  return length === undefined ? { target: t, offset, format, nbdTimeout } : { target: t, offset, length, format, nbdTimeout };
}

export interface ChecksumChecked extends TransferJobChecked, ExtentsChecked {}

/** checksum() takes extents()' range and format, and a job's progressInterval and signal. */
export function checkChecksumArgs(target: unknown, options: unknown): ChecksumChecked {
  const range = checkExtentsArgs(target, options);
  const o = checkObject<{ progressInterval: number; signal: AbortSignal }>('options', options);
  return { ...range, ...checkTransferJobOptions(o) };
}

export function checkBandwidth(value: unknown): number {
  if (value === undefined) throw invalidArgType('bytesPerSecond', 'of type number', value);
  return checkByteCount('bytesPerSecond', value) as number;
}

export const DEFAULT_CONCURRENCY = 4;

export function checkQueueOptions(options: unknown): { concurrency: number } {
  const o = checkObject<CopyQueueOptions>('options', options);
  return { concurrency: checkInteger('options.concurrency', o.concurrency, 1, 1024) ?? DEFAULT_CONCURRENCY };
}

export interface ReadStreamChecked {
  target: Target;
  offset: number;
  length?: number;
  sparse: SparseMode;
  format: ImageFormat;
  nbdTimeout: number;
}

export function checkReadStreamArgs(target: unknown, options: unknown): ReadStreamChecked {
  const t = checkTarget('target', target);
  const o = checkObject<{ offset: number; length: number; sparse: string; format: string; nbdTimeout: number }>('options', options);
  const offset = checkByteCount('options.offset', o.offset) ?? 0;
  const length = checkByteCount('options.length', o.length);
  checkSum('options.offset + options.length', offset, length);
  const sparse = checkChoice('options.sparse', o.sparse, SPARSE_MODES) ?? 'auto';
  const format = checkFormat('options.format', o.format, t);
  const nbdTimeout = checkNbdTimeout(o);
  return length === undefined ? { target: t, offset, sparse, format, nbdTimeout } : { target: t, offset, length, sparse, format, nbdTimeout };
}

// ---- streams -----------------------------------------------------------------

/** Duck-typed, as Node's own stream helpers check: something with on() and read(), or write() and end(). */
export function checkStream(name: string, value: unknown, side: 'readable' | 'writable'): void {
  const s = value as { on?: unknown; read?: unknown; write?: unknown; end?: unknown } | null;
  const ok =
    s !== null &&
    typeof s === 'object' &&
    typeof s.on === 'function' &&
    (side === 'readable' ? typeof s.read === 'function' : typeof s.write === 'function' && typeof s.end === 'function');
  if (!ok) throw invalidArgType(name, `an instance of stream.${side === 'readable' ? 'Readable' : 'Writable'}`, value);
}

export const DEFAULT_MAX_TRANSFERS = 4;
/** A transfer that hears nothing from its sender this long fails (ETIMEDOUT); so does a peer that reads no replies. */
export const DEFAULT_IDLE_TIMEOUT = 120_000;

export interface ConnectionChecked {
  maxTransfers: number;
  handshake?: boolean;
  idleTimeout: number;
  limit?: unknown;
}

export function checkConnectionArgs(input: unknown, output: unknown, options: unknown): ConnectionChecked {
  if (input !== null) checkStream('input', input, 'readable');
  if (output !== null) checkStream('output', output, 'writable');
  const o = checkObject<{ maxTransfers: number; handshake: boolean; idleTimeout: number; limit: unknown }>('options', options);
  const checked: ConnectionChecked = {
    maxTransfers: checkMaxTransfers('options.maxTransfers', o.maxTransfers) ?? DEFAULT_MAX_TRANSFERS,
    idleTimeout: checkInteger('options.idleTimeout', o.idleTimeout, 0, MAX_MS) ?? DEFAULT_IDLE_TIMEOUT,
  };
  const handshake = checkBoolean('options.handshake', o.handshake);
  if (handshake !== undefined) checked.handshake = handshake;
  if (o.limit !== undefined) checked.limit = o.limit;
  return checked;
}

export function checkMaxTransfers(name: string, value: unknown): number | undefined {
  return checkInteger(name, value, 1, 65_536);
}

function checkTransferName(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalidArgType('options.name', 'of type string', value);
  if (Buffer.byteLength(value, 'utf8') > MAX_NAME) throw invalidArgValue('options.name', value, `must be at most ${MAX_NAME} bytes of UTF-8`);
  return value;
}

/** What every transfer job takes: how often it reports, and a signal that cancels it. */
interface TransferJobChecked {
  progressInterval: number;
  signal?: AbortSignal;
}

function checkTransferJobOptions(o: { progressInterval?: unknown; signal?: unknown }): TransferJobChecked {
  const checked: TransferJobChecked = { progressInterval: checkProgressInterval(o.progressInterval) };
  const signal = checkSignal('options.signal', o.signal);
  if (signal) checked.signal = signal;
  return checked;
}

export interface SendChecked extends TransferJobChecked {
  reader: ReadStreamChecked;
  name: string;
  resume: boolean;
}

export function checkSendArgs(target: unknown, options: unknown): SendChecked {
  const reader = checkReadStreamArgs(target, options);
  const o = checkObject<{ name: string; progressInterval: number; signal: AbortSignal; resume: boolean }>('options', options);
  return { reader, name: checkTransferName(o.name), resume: checkBoolean('options.resume', o.resume) ?? false, ...checkTransferJobOptions(o) };
}

export interface ReceiveChecked extends TransferJobChecked {
  writer: WriteStreamChecked;
}

/** Everything but the image's size, which comes with the stream. */
export function checkReceiveArgs(target: unknown, options: unknown): ReceiveChecked {
  const o = checkObject<{ size: unknown; progressInterval: number; signal: AbortSignal }>('options', options);
  if (o.size !== undefined) throw invalidArgValue('options.size', o.size, 'comes from the stream: leave it out');
  return { writer: checkWriteStreamArgs(target, options), ...checkTransferJobOptions(o) };
}

export interface EncodeChecked {
  size: number;
  dataBytes: number;
  name: string;
  id: number;
}

export function checkEncodeOptions(options: unknown): EncodeChecked {
  if (options === undefined) throw invalidArgType('options', 'of type object', options);
  const o = checkObject<{ size: number; dataBytes: number; name: string; id: number }>('options', options);
  const size = checkByteCount('options.size', o.size);
  if (size === undefined) throw invalidArgType('options.size', 'of type number', o.size);
  const name = checkTransferName(o.name);
  return {
    size,
    dataBytes: checkByteCount('options.dataBytes', o.dataBytes) ?? 0,
    name,
    id: checkInteger('options.id', o.id, 1, 2 ** 32 - 1) ?? 1,
  };
}

export interface WriteStreamChecked {
  target: Target;
  /** The image size, when known before the first object. */
  size?: number;
  offset: number;
  dstSize?: number;
  truncate?: boolean;
  targetIsZero: boolean;
  overwrite: boolean;
  force: boolean;
  fsync: SyncMode;
  format: ImageFormat;
  verify: boolean;
  nbdTimeout: number;
}

export function checkWriteStreamArgs(target: unknown, options: unknown): WriteStreamChecked {
  const t = checkTarget('target', target);
  const o = checkObject<{
    size: number;
    offset: number;
    dstSize: number;
    truncate: boolean;
    targetIsZero: boolean;
    overwrite: boolean;
    force: boolean;
    fsync: string;
    format: string;
    verify: boolean;
    nbdTimeout: number;
  }>('options', options);
  const size = checkByteCount('options.size', o.size);
  const offset = checkByteCount('options.offset', o.offset) ?? 0;
  checkSum('options.offset + options.size', offset, size);
  const dstSize = checkByteCount('options.dstSize', o.dstSize);
  const truncate = checkBoolean('options.truncate', o.truncate);
  if (truncate === true && dstSize !== undefined) {
    throw invalidArgValue('options.truncate', truncate, 'cannot be true together with dstSize (both set the size)');
  }
  const checked: WriteStreamChecked = {
    target: t,
    offset,
    targetIsZero: checkBoolean('options.targetIsZero', o.targetIsZero) ?? false,
    overwrite: checkBoolean('options.overwrite', o.overwrite) ?? true,
    force: checkBoolean('options.force', o.force) ?? false,
    fsync: checkChoice('options.fsync', o.fsync, SYNC_MODES) ?? 'none',
    verify: checkBoolean('options.verify', o.verify) ?? false,
    format: checkFormat('options.format', o.format, t),
    nbdTimeout: checkNbdTimeout(o),
  };
  if (size !== undefined) checked.size = size;
  if (dstSize !== undefined) checked.dstSize = dstSize;
  if (truncate !== undefined) checked.truncate = truncate;
  return checked;
}
