// TransferJob: one image going out over a stream or coming in from one, with
// the same face as a CopyJob (events, promise, progress(), cancel, for await).
import { AbortError } from '../errors';
import { JobBase, ZERO_PROGRESS } from '../job_base';
import { addon, type NativeMeter, type SameItem, type StreamItem } from '../native';
import { DEFAULT_PROGRESS_INTERVAL } from '../options';
import type { Progress, ZeroMethod } from '../types';

export interface TransferResult extends Progress {
  /** The name the sender gave the image ('' if none). */
  name: string;
  /** The END frame's checksum, as both ends computed it. */
  checksum: string;
  /**
   * Bytes the receiver already held (resume: blocks whose digests matched),
   * neither sent nor written; counted in bytesSkipped too, beside the holes.
   */
  bytesKept: number;
  /** A receiver's: how its bytesZeroed were zeroed (as in a copy's result). A sender's is empty. */
  zeroedBy: ZeroMethod[];
}

/** What the receiver says it did to its destination. */
export type Landed = Pick<TransferResult, 'bytesWritten'> & Partial<Pick<TransferResult, 'bytesZeroed' | 'zeroedBy'>>;

let nextId = 1;

/**
 * Progress of a transfer counts the image's logical bytes: bytesDone is how
 * far into the image it has got (data and holes), bytesTotal its size, since
 * a receiver cannot know beforehand how much of it is data. bytesWritten
 * counts data bytes sent (sender) or written (receiver), bytesSkipped holes
 * (a receiver's, at the end, only those it did not have to zero).
 */
export class TransferJob extends JobBase<TransferResult> {
  /** The job's own number (not the transfer id on the wire). */
  readonly id = nextId++;
  name = '';
  // The engine's meter, so that rate and ETA follow the rule copies use.
  #meter: NativeMeter | undefined;
  #position = 0;
  #kept = 0;
  #nextReportAt = 0;
  #stopper: ((error: AbortError) => void) | undefined;
  #stopping = false;

  /** @internal */
  constructor(private readonly progressInterval = DEFAULT_PROGRESS_INTERVAL) {
    super();
  }

  cancel(options: { wait?: boolean } = {}): Promise<void> {
    const wait = options.wait ?? true;
    if (!this.#stopping && (this.status === 'queued' || this.status === 'running')) {
      this.#stopping = true;
      const error = new AbortError();
      if (this.#stopper) this.#stopper(error);
      else this.fail(error); // not started: nothing to undo
    }
    return wait ? this.whenEnded() : Promise.resolve();
  }

  /** @internal How cancel() reaches the transfer once something is under way. */
  onStop(stop: (error: AbortError) => void): void {
    this.#stopper = stop;
  }

  /** @internal The transfer began. */
  begin(name: string, length: number): void {
    this.name = name;
    this.#meter = new addon.NativeMeter();
    this.#meter.setTotals(length, length);
    this.markRunning();
    this.#maybeReport();
  }

  /** @internal */
  advance(piece: StreamItem | SameItem): void {
    const meter = this.#meter;
    if (!meter) return;
    const data = piece.type === 'data' ? piece.data.length : 0;
    // Bytes the receiver already held count as done and skipped, like a hole: nothing moved.
    const skipped = piece.type === 'data' ? 0 : piece.length;
    this.#position += data + skipped;
    if (piece.type === 'same') this.#kept += piece.length;
    meter.add(data + skipped, data, skipped, this.#position);
    this.#maybeReport();
  }

  /** @internal `landed`: what the receiver did, when it says. */
  complete(checksum: string, landed?: Landed): void {
    this.#meter?.finish();
    const final = this.#snapshot();
    if (landed) {
      final.bytesWritten = landed.bytesWritten;
      // Holes it had to zero were not skipped.
      final.bytesZeroed = landed.bytesZeroed ?? 0;
      final.bytesSkipped -= final.bytesZeroed;
    }
    this.settle({ ...final, name: this.name, checksum, bytesKept: this.#kept, zeroedBy: landed?.zeroedBy ?? [] }, final);
  }

  /** @internal */
  fail(error: Error): void {
    // Stopped by cancel(): the error says so, whatever tore the transfer down.
    const outcome = this.#stopping && !(error instanceof AbortError) ? new AbortError(undefined, { cause: error }) : error;
    // A transfer restarts from the beginning: nothing below 0 is promised.
    const { bytesWritten, bytesDone } = this.#snapshot();
    Object.assign(outcome, { bytesWritten, bytesDone, resumeOffset: 0 });
    this.settle(outcome, this.#snapshot());
  }

  protected liveProgress(): Progress {
    return this.#snapshot();
  }

  #snapshot(): Progress {
    return this.#meter ? this.#meter.snapshot() : { ...ZERO_PROGRESS };
  }

  #maybeReport(): void {
    const now = performance.now();
    if (now < this.#nextReportAt) return;
    this.#nextReportAt = now + this.progressInterval;
    this.report(this.#snapshot());
  }
}
