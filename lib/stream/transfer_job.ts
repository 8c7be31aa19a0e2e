// TransferJob: one image going out over a stream or coming in from one, with
// the same face as a CopyJob (events, promise, progress(), cancel, for await).
import { AbortError } from '../errors';
import { JobBase, ZERO_PROGRESS } from '../job_base';
import { DEFAULT_PROGRESS_INTERVAL } from '../options';
import type { Progress } from '../types';

export interface TransferResult extends Progress {
  /** The name the sender gave the image ('' if none). */
  name: string;
  /** The END frame's checksum, as both ends computed it. */
  checksum: string;
}

// Rate and ETA the way the engine does them (progress.cc): an exponential
// average over about 3 s, and an ETA shown only once successive estimates agree.
const MIN_SAMPLE_MS = 200;
const SMOOTHING_S = 3;
const ETA_TOLERANCE = 0.15;
const ETA_AGREEMENTS = 4;

class RateMeter {
  readonly started = performance.now();
  #lastAt = this.started;
  #lastDone = 0;
  #samples = 0;
  #predicted = -1;
  #agreements = 0;
  rate = 0;
  eta: number | null = null;

  sample(done: number, total: number): void {
    const now = performance.now();
    if (now - this.#lastAt < MIN_SAMPLE_MS) return;
    const dt = (now - this.#lastAt) / 1000;
    const instant = (done - this.#lastDone) / dt;
    const weight = this.#samples === 0 ? 1 : 1 - Math.exp(-dt / SMOOTHING_S);
    this.rate += weight * (instant - this.rate);
    this.#samples++;
    this.#lastAt = now;
    this.#lastDone = done;
    const left = this.rate > 0 ? Math.max(0, total - done) / this.rate : -1;
    if (left < 0) {
      this.#agreements = 0;
      this.eta = null;
      return;
    }
    const finish = (now - this.started) / 1000 + left;
    this.#agreements = Math.abs(finish - this.#predicted) <= Math.max(1, ETA_TOLERANCE * left) ? this.#agreements + 1 : 0;
    this.#predicted = finish;
    this.eta = this.#agreements >= ETA_AGREEMENTS ? left : null;
  }
}

let nextId = 1;

/**
 * Progress of a transfer counts the image's logical bytes: bytesDone is how
 * far into the image it has got (data and holes), bytesTotal its size, since
 * a receiver cannot know beforehand how much of it is data. bytesWritten
 * counts data bytes sent (sender) or written (receiver), bytesSkipped holes.
 */
export class TransferJob extends JobBase<TransferResult> {
  /** The job's own number (not the transfer id on the wire). */
  readonly id = nextId++;
  name = '';
  #length = 0;
  #position = 0;
  #written = 0;
  #skipped = 0;
  #meter: RateMeter | undefined;
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
    this.#length = length;
    this.#meter = new RateMeter();
    this.markRunning();
    this.#maybeReport();
  }

  /** @internal */
  advance(data: number, hole: number): void {
    this.#position += data + hole;
    this.#written += data;
    this.#skipped += hole;
    this.#meter?.sample(this.#position, this.#length);
    this.#maybeReport();
  }

  /** @internal `written`: what the receiver wrote, zeros over old data included. */
  complete(checksum: string, written = this.#written): void {
    this.#written = written;
    const final = this.#snapshot();
    final.rate = final.elapsedMs > 0 ? (final.bytesDone / final.elapsedMs) * 1000 : 0;
    final.etaSeconds = 0;
    this.settle({ ...final, name: this.name, checksum }, final);
  }

  /** @internal */
  fail(error: Error): void {
    // Stopped by cancel(): the error says so, whatever tore the transfer down.
    const outcome = this.#stopping && !(error instanceof AbortError) ? new AbortError(undefined, { cause: error }) : error;
    // A transfer restarts from the beginning: nothing below 0 is promised.
    Object.assign(outcome, { bytesWritten: this.#written, bytesDone: this.#position, resumeOffset: 0 });
    this.settle(outcome, this.#snapshot());
  }

  protected liveProgress(): Progress {
    return this.#meter ? this.#snapshot() : { ...ZERO_PROGRESS };
  }

  #snapshot(): Progress {
    return {
      bytesDone: this.#position,
      bytesTotal: this.#length,
      bytesWritten: this.#written,
      bytesSkipped: this.#skipped,
      position: this.#position,
      length: this.#length,
      rate: this.#meter?.rate ?? 0,
      etaSeconds: this.#meter?.eta ?? null,
      elapsedMs: this.#meter ? Math.round(performance.now() - this.#meter.started) : 0,
    };
  }

  #maybeReport(): void {
    const now = performance.now();
    if (now < this.#nextReportAt) return;
    this.#nextReportAt = now + this.progressInterval;
    this.report(this.#snapshot());
  }
}
