// The rules one transfer's frames obey, checked the same way by whoever sends
// and whoever receives: pieces in ascending order, never overlapping, never
// past the image's end, covering it exactly; and the END checksum.
import { addon, type NativeChecksum, type SameItem, type StreamItem } from '../native';
import { MAX_DATA, StreamFormatError } from './format';

export class ChecksumMismatchError extends Error {
  readonly code = 'ERR_BLOCKCOPY_CHECKSUM' as const;
}
Object.defineProperty(ChecksumMismatchError.prototype, 'name', { value: 'ChecksumMismatchError', configurable: true, writable: true });

/** What an END frame says against what arrived (or was written): data bytes, then checksum. */
export function checkEnd(sent: { dataBytes: number; checksum: string }, arrived: { dataBytes: number; checksum: string }): void {
  if (sent.dataBytes !== arrived.dataBytes) {
    throw new ChecksumMismatchError(`the sender counted ${sent.dataBytes} data bytes, ${arrived.dataBytes} arrived`);
  }
  if (sent.checksum !== arrived.checksum) {
    throw new ChecksumMismatchError(`checksum mismatch: the sender's is ${sent.checksum}, the data that arrived sums to ${arrived.checksum}`);
  }
}

/** The block a resuming receiver describes with one digest (docs/checksum.md). */
export const DIGEST_BLOCK = 64 * 1024;
/**
 * The largest image a transfer resumes: each end keeps 32 to 40 bytes per
 * block (4 Mi blocks, 256 GiB: 160 MiB at the receiver), so a peer cannot make
 * us hold more than that by declaring a bigger image.
 */
export const MAX_RESUME_BYTES = 4 * 1024 * 1024 * DIGEST_BLOCK;

/** The refusal of a resume past MAX_RESUME_BYTES, the same words at either end. */
export function resumeTooBig(size: number): Error {
  return Object.assign(new RangeError(`resume takes images of at most ${MAX_RESUME_BYTES} bytes (256 GiB); this one is ${size}`), {
    code: 'ERR_OUT_OF_RANGE',
  });
}

export class ImageTally {
  /** Image bytes covered so far, from 0: the next piece starts here or later. */
  position = 0;
  dataBytes = 0;
  holeBytes = 0;
  /** Resuming: bytes the receiver already held (SAME frames). */
  sameBytes = 0;
  readonly #sum: NativeChecksum | undefined;

  /** `summing` false: placement rules only, for a writer that trusts its decoder's checksum. */
  constructor(
    readonly size: number,
    summing = true,
  ) {
    this.#sum = summing ? new addon.NativeChecksum() : undefined;
  }

  data(offset: number, data: Uint8Array): void {
    if (data.length === 0 || data.length > MAX_DATA) throw new StreamFormatError(`data piece of ${data.length} bytes (1 to ${MAX_DATA} allowed)`);
    this.#place(offset, data.length, 'data');
    this.#sum?.update(offset, data);
    this.dataBytes += data.length;
  }

  hole(offset: number, length: number): void {
    if (length <= 0) throw new StreamFormatError(`hole of ${length} bytes`);
    this.#place(offset, length, 'hole');
    this.holeBytes += length;
  }

  /** Whole blocks of the image (the last may be short), of the first `held` the receiver announced. */
  same(offset: number, length: number, held: number): void {
    const end = offset + length;
    const wholeBlocks = offset % DIGEST_BLOCK === 0 && (end % DIGEST_BLOCK === 0 || end === this.size);
    if (length <= 0 || !wholeBlocks) throw new StreamFormatError(`SAME at ${offset} of ${length} bytes is not whole blocks of ${DIGEST_BLOCK}`);
    if (Math.ceil(end / DIGEST_BLOCK) > held) throw new StreamFormatError(`SAME at ${offset} of ${length} bytes covers blocks this end never said it held (${held})`);
    this.#place(offset, length, 'same');
    this.sameBytes += length;
  }

  /** One piece, checked and counted. */
  add(item: StreamItem): void {
    if (item.type === 'data') this.data(item.offset, item.data);
    else this.hole(item.offset, item.length);
  }

  checksum(): string {
    if (!this.#sum) throw new Error('this tally does not sum');
    return this.#sum.value();
  }

  /** At END: the pieces covered the image. */
  checkCovered(): void {
    if (this.position !== this.size) {
      throw new StreamFormatError(`the stream ended at byte ${this.position} of a ${this.size}-byte image`);
    }
  }

  /** At END: the pieces covered the image, and what the sender counted and summed arrived. */
  verify(dataBytes: number, checksum: string): void {
    this.checkCovered();
    checkEnd({ dataBytes, checksum }, { dataBytes: this.dataBytes, checksum: this.checksum() });
  }

  #place(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < this.position) {
      throw new StreamFormatError(`${what} at ${offset} overlaps or precedes what came before (next offset is ${this.position})`);
    }
    if (offset + length > this.size) {
      throw new StreamFormatError(`${what} at ${offset} of ${length} bytes reaches past the image's end (${this.size} bytes)`);
    }
    // A gap between pieces is a hole nobody announced: the image would not be exact.
    if (offset !== this.position) {
      throw new StreamFormatError(`${what} at ${offset} leaves bytes ${this.position}-${offset} undescribed`);
    }
    this.position = offset + length;
  }
}
