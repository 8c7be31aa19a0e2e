// Object-mode streams over the engine: an image read as data pieces and holes,
// and an image written from them. The file work runs on engine threads.
import { Readable, Writable } from 'node:stream';
import { claimDestination, spansChanged } from '../claims';
import { fromNative } from '../errors';
import { addon, type EngineReaderOptions, type EngineWriterOptions, type NativeReader, type NativeWriter, type StreamItem } from '../native';
import { engineTarget } from '../nbd';
import { checkReadStreamArgs, checkWriteStreamArgs, ONE_CONNECTION, type ReadStreamChecked, type WriteStreamChecked } from '../options';
import { SPARSE_MODES, SYNC_MODES, zeroMethodNames } from '../types';
import type { ImageFormat, NbdWaitOptions, SparseMode, SyncMode, Target, ZeroMethod } from '../types';
import { framePieces, MAX_DATA, StreamFormatError } from './format';
import { ImageTally } from './tally';

export type ExtentItem = StreamItem;
/** Also accepted by the write stream: decode()'s view of a transfer's first and last frames. */
export type ImageBoundary = { type: 'begin'; size: number } | { type: 'end' };

export interface ExtentReadStreamOptions extends NbdWaitOptions {
  offset?: number;
  length?: number;
  sparse?: SparseMode;
  /** The image's format (see CopyOptions.srcFormat). Default 'raw'. */
  format?: ImageFormat;
}

export interface ExtentWriteStreamOptions extends NbdWaitOptions {
  /** The image size; else the first object must be { type: 'begin', size }. */
  size?: number;
  /** Where the image starts in the destination. Default 0. */
  offset?: number;
  dstSize?: number;
  /** Default: true when offset is 0 and dstSize is unset. */
  truncate?: boolean;
  targetIsZero?: boolean;
  overwrite?: boolean;
  force?: boolean;
  fsync?: SyncMode;
  /** The image's format (see CopyOptions.dstFormat). Default 'raw'. */
  format?: ImageFormat;
  /**
   * At the end, after the flush: read the image back from the disk (not the
   * page cache) and compare its checksum, per 16 MiB window, with that of
   * what was written; a difference is ERR_BLOCKCOPY_VERIFY naming the window. Default false.
   */
  verify?: boolean;
}

export interface WriteResult {
  /** Data bytes written. */
  bytesWritten: number;
  /** Hole bytes made zero over old data, and how (as in a copy's result). */
  bytesZeroed: number;
  zeroedBy: ZeroMethod[];
  /** Hole bytes that needed nothing. */
  bytesSkipped: number;
  checksum: string;
}

export interface ImageInfo {
  /** Bytes in the image (the range read). */
  size: number;
  /** Bytes of it in data extents, an upper bound: only the first 128 MiB is mapped at the start, the rest counts as data. */
  dataBytes: number;
}

/** Items handed over per trip to the engine thread. */
const ITEMS_PER_READ = 8;

export class ExtentReadStream extends Readable {
  readonly #native: NativeReader;
  readonly #target: Target;
  #info: ImageInfo | undefined;
  #checksum = '';
  /** Resuming: the receiver's digests, handed to the engine before the first read. */
  #theirs: Promise<Buffer> | undefined;
  readonly #ready: Promise<ImageInfo>;
  #settleReady!: [(info: ImageInfo) => void, (error: Error) => void];

  constructor(target: Target, options?: ExtentReadStreamOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    const checked = checkReadStreamArgs(target, options);
    this.#target = checked.target;
    // Data items no larger than a DATA frame takes, so they go on the wire as they are.
    this.#native = new addon.NativeReader(engineTarget(checked.target, checked.format, ONE_CONNECTION, checked.nbdTimeout), engineReaderOptions(checked));
    this.#ready = new Promise((resolve, reject) => (this.#settleReady = [resolve, reject]));
    this.#ready.catch(() => {}); // also reported as the stream's 'error'
  }

  /** Size and data bytes, once the file is open and mapped. */
  ready(): Promise<ImageInfo> {
    return this.#ready;
  }

  /** The checksum (docs/stream-format.md) of the data read, once the stream has ended. */
  checksum(): string {
    if (!this.readableEnded) throw new Error('the checksum is known once the stream has ended');
    return this.#checksum;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    if (!this.#native) return callback(); // the constructor threw: nothing to open
    this.#native.open((error, value) => {
      if (error) {
        const e = fromNative(error, this.#target);
        this.#settleReady[1](e);
        callback(e);
        return;
      }
      this.#info = { size: value.length, dataBytes: value.dataBytes };
      this.#settleReady[0](this.#info);
      callback();
    });
  }

  /**
   * @internal Resuming: reading waits for the receiver's block digests, and
   * blocks it holds come out as { type: 'same' } items. Before the first read.
   */
  resumeFrom(theirs: Promise<Buffer>): void {
    this.#theirs = theirs;
  }

  override _read(): void {
    const theirs = this.#theirs;
    if (theirs) {
      this.#theirs = undefined;
      theirs.then(
        (digests) =>
          this.#native.resumeFrom(digests, (error) => {
            if (this.destroyed) return;
            if (error) return this.destroy(fromNative(error, this.#target));
            this._read();
          }),
        (error: Error) => this.destroy(error),
      );
      return;
    }
    this.#native.read(ITEMS_PER_READ, (error, items) => {
      if (this.destroyed) return;
      if (error) {
        this.destroy(fromNative(error, this.#target));
        return;
      }
      if (items.length === 0) {
        this.#checksum = this.#native.checksum();
        this.push(null);
        return;
      }
      for (const item of items) this.push(item);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#info) this.#settleReady?.[1](error ?? new Error('the stream was closed before it opened'));
    // 'close' follows once the file really is closed, off the main thread.
    if (this.#native) this.#native.close(() => callback(error));
    else callback(error);
  }
}

export class ExtentWriteStream extends Writable {
  readonly #checked: WriteStreamChecked;
  #native: NativeWriter | undefined;
  #tally: ImageTally | undefined;
  #placedBy: ImageTally | undefined; // a Connection's tally: it has checked the pieces already
  #kept: Buffer[] = []; // resuming: blocks kept, for verify
  #result: WriteResult | undefined;
  #owner = 'an extent write stream';
  #release: (() => void) | undefined;

  constructor(target: Target, options?: ExtentWriteStreamOptions) {
    // Up to 64 pieces (4 to 16 MiB) wait while the engine writes the last
    // batch, so reading the input and writing the file overlap.
    super({ objectMode: true, highWaterMark: 64 });
    this.#checked = checkWriteStreamArgs(target, options);
  }

  /** What finishing reported: bytes written and skipped, and the checksum of the data written. */
  get result(): WriteResult | undefined {
    return this.#result;
  }

  /**
   * @internal The pieces come already checked against `tally`, as they
   * arrived (a Connection does so, and a bad frame fails its transfer at once):
   * they are not checked a second time here.
   */
  placedBy(tally: ImageTally): void {
    this.#placedBy = tally;
  }

  /**
   * @internal Resuming: image blocks [first, first + count) were kept, not
   * written; `sums` holds each block's stream checksum share (u64 LE), which
   * verify adds to what it expects to read back.
   */
  kept(first: number, count: number, sums: Buffer): void {
    const pairs = Buffer.alloc(16 * count);
    for (let i = 0; i < count; i++) {
      pairs.writeBigUInt64LE(BigInt(first + i), 16 * i);
      sums.copy(pairs, 16 * i + 8, 8 * (first + i), 8 * (first + i + 1));
    }
    this.#kept.push(pairs);
  }

  /** @internal Who writes through this stream, for another job's EBUSY message ("transfer job 3"). */
  set owner(name: string) {
    this.#owner = name;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    // No options: the constructor threw. No size: the first object brings it.
    if (this.#checked?.size === undefined) callback();
    else this.#open(this.#checked.size, callback);
  }

  #open(size: number, callback: (error?: Error | null) => void): void {
    const c = this.#checked;
    const options = engineWriterOptions(c, size);
    // One job per target, as for copies: another job writing these bytes is refused before anything opens.
    try {
      this.#release = claimDestination(this.#owner, c.target, spansChanged(c.offset, size, options.truncate, c.dstSize));
    } catch (error) {
      return callback(error as Error);
    }
    this.#tally = this.#placedBy ?? new ImageTally(size, false);
    this.#native = new addon.NativeWriter(engineTarget(c.target, c.format, ONE_CONNECTION, c.nbdTimeout), options);
    this.#native.open((error) => callback(error ? fromNative(error, c.target, c.target) : null));
  }

  override _writev(chunks: Array<{ chunk: unknown }>, callback: (error?: Error | null) => void): void {
    let items: StreamItem[] = [];
    const flush = (next: () => void) => {
      if (items.length === 0) return next();
      // Destroyed while the last batch was being written: its file is closed, nothing more goes in.
      if (this.destroyed) return callback();
      const batch = items;
      items = [];
      this.#native!.write(batch, (error) => {
        if (error) callback(fromNative(error, this.#checked.target, this.#checked.target));
        else next();
      });
    };
    const step = (i: number): void => {
      if (i === chunks.length) return flush(() => callback());
      const object = chunks[i]!.chunk as ExtentItem | ImageBoundary;
      try {
        if (object.type === 'begin') {
          // The image size arrives with the first object: open then.
          if (this.#tally) {
            if (object.size !== this.#tally.size) throw new StreamFormatError(`a second image (of ${object.size} bytes) began`);
            return step(i + 1);
          }
          return this.#open(object.size, (error) => (error ? callback(error) : step(i + 1)));
        }
        if (object.type === 'end') return step(i + 1);
        if (!this.#tally) throw new StreamFormatError('the image size is not known: pass options.size or a begin object first');
        // Checked before anything of it is written: nothing lands outside the image.
        if (object.type !== 'data' && object.type !== 'hole') {
          throw new StreamFormatError(`unknown object type '${(object as { type: unknown }).type}'`);
        }
        for (const piece of framePieces(object)) {
          if (!this.#placedBy) this.#tally.add(piece);
          items.push(piece);
        }
      } catch (error) {
        return flush(() => callback(error as Error));
      }
      step(i + 1);
    };
    step(0);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const tally = this.#tally;
    if (!tally || !this.#native) return callback(new StreamFormatError('the stream ended before the image began'));
    if (tally.position !== tally.size) {
      return callback(new StreamFormatError(`the stream ended at byte ${tally.position} of a ${tally.size}-byte image`));
    }
    this.#native.finish(Buffer.concat(this.#kept), (error, result) => {
      if (error) return callback(fromNative(error, this.#checked.target, this.#checked.target));
      const { zeroMethods, ...totals } = result;
      this.#result = { ...totals, zeroedBy: zeroMethodNames(zeroMethods) };
      this.#release?.(); // the engine let go of its lock in finish()
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const done = () => {
      this.#release?.();
      callback(error);
    };
    // Closed (and, after a failure, a file it created and never wrote removed)
    // off the main thread; the claim goes, and 'close' comes, once that is done.
    if (this.#native) this.#native.close(error !== null, done);
    else done();
  }
}

/** How the engine writes an image of `size` bytes by these options. */
export function engineWriterOptions(c: WriteStreamChecked, size: number): EngineWriterOptions & { truncate: boolean } {
  const options = {
    offset: c.offset,
    length: size,
    // A whole image written from the start replaces the file, unless told otherwise.
    truncate: c.truncate ?? (c.offset === 0 && c.dstSize === undefined),
    targetIsZero: c.targetIsZero,
    overwrite: c.overwrite,
    force: c.force,
    fsync: SYNC_MODES.indexOf(c.fsync),
    verify: c.verify,
  };
  return c.dstSize === undefined ? options : { ...options, dstSize: c.dstSize };
}

/** How the engine reads an image by these options, in pieces a DATA frame carries. */
export function engineReaderOptions(c: ReadStreamChecked): EngineReaderOptions {
  const options: EngineReaderOptions = { offset: c.offset, sparse: SPARSE_MODES.indexOf(c.sparse), piece: MAX_DATA };
  if (c.length !== undefined) options.length = c.length;
  return options;
}

export function createExtentReadStream(target: Target, options?: ExtentReadStreamOptions): ExtentReadStream {
  return new ExtentReadStream(target, options);
}

export function createExtentWriteStream(target: Target, options?: ExtentWriteStreamOptions): ExtentWriteStream {
  return new ExtentWriteStream(target, options);
}
