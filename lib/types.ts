/**
 * A path, an open file descriptor (left open by blockcopy), or an NBD URI:
 * `nbd://host[:port][/export]` or `nbd+unix:///[export]?socket=PATH`.
 */
export type Target = string | number;

// Each list of modes, stated once: the types below, the argument checks, the
// CLI's flags and the engine take them from here. The engine receives a mode
// as its index in its list, and its enums (native/engine/request.h) follow
// the same order.
export const SPARSE_MODES = ['auto', 'always', 'never'] as const;
export const REFLINK_MODES = ['auto', 'always', 'never'] as const;
export const BACKEND_NAMES = ['auto', 'io_uring', 'pread', 'copy_file_range'] as const;
export const SYNC_MODES = ['none', 'data', 'full'] as const;
/**
 * How a destination range was made to read as zeros where it held old data:
 * NBD WRITE_ZEROES, fallocate PUNCH_HOLE or ZERO_RANGE, BLKZEROOUT on a block
 * device, or zeros written where none of those works. The engine reports a
 * bit per entry, in this order (native/engine/zeroing.h).
 */
export const ZERO_METHODS = ['write_zeroes', 'punch_hole', 'zero_range', 'blkzeroout', 'zeros_written'] as const;
/** Image formats, as qemu-img names them; anything but raw is reached through qemu-nbd. */
export const IMAGE_FORMATS = ['raw', 'qcow2', 'qcow', 'qed', 'vmdk', 'vhdx', 'vdi', 'vpc', 'parallels', 'dmg', 'cloop', 'bochs'] as const;

export type SparseMode = (typeof SPARSE_MODES)[number];
export type ReflinkMode = (typeof REFLINK_MODES)[number];
export type BackendName = (typeof BACKEND_NAMES)[number];
export type SyncMode = (typeof SYNC_MODES)[number];
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export type ZeroMethod = (typeof ZERO_METHODS)[number];

/** How long blockcopy waits for an NBD server (an NBD URI, or the qemu-nbd it runs for an image format). */
export interface NbdWaitOptions {
  /**
   * Milliseconds any one wait for the server may last: the handshake, sending
   * a request, and each request's whole reply, counted from its turn (when
   * the requests before it on the connection have been answered). A server
   * that stalls or trickles fails the job with ETIMEDOUT. 0: no limit.
   * Default 30000, or the environment's BLOCKCOPY_NBD_TIMEOUT_MS.
   */
  nbdTimeout?: number;
}

export interface CopyOptions extends NbdWaitOptions {
  /** Where in the source the range starts. Default 0. */
  srcOffset?: number;
  /** Where in the destination the range lands. Default 0. */
  dstOffset?: number;
  /** Bytes to copy. Default: to the end of the source. */
  length?: number;
  /**
   * auto: holes in the source stay holes; always: all-zero blocks become holes
   * too; never: the destination range is fully written. Default 'auto'.
   */
  sparse?: SparseMode;
  /** FICLONE/FICLONERANGE. Default 'auto'. */
  reflink?: ReflinkMode;
  /** Default 'auto'. */
  backend?: BackendName;
  /** I/O size in bytes, a multiple of 4 KiB from 4 KiB to 64 MiB. Default 1 MiB. */
  blockSize?: number;
  /** Requests in flight (io_uring, or NBD requests), 1 to 256. Default 16; 64 with direct I/O. */
  queueDepth?: number;
  /** O_DIRECT on both ends. */
  direct?: boolean;
  /** Flush the destination at the end. Default 'none'. */
  fsync?: SyncMode;
  /**
   * Regular-file destination: cut or extend it to dstOffset + length. Default:
   * true when srcOffset and dstOffset are 0 and length and dstSize are unset.
   */
  truncate?: boolean;
  /** Set the destination file's size before copying (resize tools). */
  dstSize?: number;
  /** The destination range already reads as zeros: holes need no zeroing. */
  targetIsZero?: boolean;
  /** Bytes per second, 0 = unlimited. */
  bandwidth?: number;
  /** Cancels the copy when aborted. */
  signal?: AbortSignal;
  /** Called with each progress report; returning false cancels the copy. */
  onProgress?: (progress: Progress) => void | boolean;
  /** Milliseconds between progress reports. Default 250. */
  progressInterval?: number;
  /** Milliseconds before the first progress report. Default 0. */
  progressDelay?: number;
  /** false: fail with EEXIST when the destination exists. Default true. */
  overwrite?: boolean;
  /** Write to a block device even if it is mounted or in use. */
  force?: boolean;
  /**
   * After the copy, flush the destination, read its range back from the disk
   * (not the page cache) and compare it with the source range. A difference
   * fails the job with code 'ERR_BLOCKCOPY_VERIFY', naming the first byte that
   * differs. Reports during the read-back carry phase 'verify'. Default false.
   */
  verify?: boolean;
  /** The source image's format. Anything but 'raw' is read through a qemu-nbd run for the job. Default 'raw'. */
  srcFormat?: ImageFormat;
  /** The destination image's format; a new (or truncated) one is made with `qemu-img create`. Default 'raw'. */
  dstFormat?: ImageFormat;
  /** NBD connections per end, 1 to 16, used when the server allows several (multi-conn). Default 4. */
  connections?: number;
  /**
   * With dstFormat 'qcow2': write a compressed image (qemu-img convert -c), through
   * qemu-nbd's compress filter, which takes every cluster whole and once. Default false.
   */
  dstCompress?: boolean;
}

export interface Progress {
  /** Data bytes processed (copied, or found zero and skipped). */
  bytesDone: number;
  /**
   * Data bytes to process: the sum of the source's data extents in the range.
   * The range is mapped a window (128 MiB) at a time as the job goes, so the
   * part not mapped yet counts as data: an upper bound, at most `length`, that
   * only shrinks as holes are found, and equals `bytesDone` when a job succeeds.
   */
  bytesTotal: number;
  /** Data bytes written to the destination. */
  bytesWritten: number;
  /**
   * Hole and zero bytes made zero over what the destination held before (an
   * existing file, a device, an NBD export), by a zero request or by writing
   * zeros (see `zeroedBy`), not counted in bytesWritten.
   */
  bytesZeroed: number;
  /**
   * Hole and zero bytes that needed nothing: the destination already read as
   * zeros there (a new or truncated file, `targetIsZero`). A finished copy has
   * bytesWritten + bytesZeroed + bytesSkipped === length.
   */
  bytesSkipped: number;
  /** Furthest logical offset reached, relative to the start of the range. */
  position: number;
  /** Logical length of the range. */
  length: number;
  /** Bytes per second of bytesDone, smoothed; in a result, the average over the whole copy. */
  rate: number;
  /** Seconds left, or null until the estimate has settled. */
  etaSeconds: number | null;
  elapsedMs: number;
  /** Present once a copy with `verify` reads its destination back; rate and ETA are then the comparison's. */
  phase?: 'verify';
  /** With phase 'verify': bytes of the range compared so far (holes included), of `length`. */
  bytesVerified?: number;
}

export type BackendUsed = 'io_uring' | 'pread' | 'copy_file_range' | 'reflink' | 'nbd';

export interface CopyResult extends Progress {
  backend: BackendUsed;
  /** How bytesZeroed were zeroed, each way used once, in ZERO_METHODS order; empty when nothing was. */
  zeroedBy: ZeroMethod[];
}

export interface Extent {
  offset: number;
  length: number;
  type: 'data' | 'hole';
}

export interface ExtentsOptions extends NbdWaitOptions {
  offset?: number;
  length?: number;
  /** The image's format (see CopyOptions.srcFormat). Default 'raw'. */
  format?: ImageFormat;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface CopyQueueOptions {
  /** Jobs running at once, 1 to 1024. Default 4. */
  concurrency?: number;
}

/** The ways of zeroing that an engine bit mask (a bit per ZERO_METHODS entry) says were used. */
export function zeroMethodNames(mask: number): ZeroMethod[] {
  return ZERO_METHODS.filter((_, i) => (mask & (1 << i)) !== 0);
}
