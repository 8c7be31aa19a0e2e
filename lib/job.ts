// CopyJob: one asynchronous copy, watched through events, a promise, polling
// or async iteration, and stopped with cancel() or an AbortSignal.
import { EventEmitter } from 'node:events';
import { claimDestination } from './claims';
import { AbortError, fromNative, setStopPoint } from './errors';
import { addon, type NativeJob, type NativeOptions, type NativeOutcome } from './native';
import { checkBandwidth } from './options';
import type { CheckedCopy } from './options';
import type { CopyResult, JobStatus, Progress, Target } from './types';

let nextId = 1;

const ZERO_PROGRESS: Progress = {
  bytesDone: 0,
  bytesTotal: 0,
  bytesWritten: 0,
  bytesSkipped: 0,
  position: 0,
  length: 0,
  rate: 0,
  etaSeconds: null,
  elapsedMs: 0,
};

/** Drops reports that say nothing new, so a job's last report is its final one. */
export class ProgressGate {
  private last: Progress | undefined;

  isNew(p: Progress): boolean {
    const l = this.last;
    if (l && l.bytesDone === p.bytesDone && l.bytesWritten === p.bytesWritten && l.bytesSkipped === p.bytesSkipped && l.position === p.position) {
      return false;
    }
    this.last = p;
    return true;
  }
}

function progressOf(outcome: NativeOutcome): Progress {
  const { bytesDone, bytesTotal, bytesWritten, bytesSkipped, position, length, rate, etaSeconds, elapsedMs } = outcome;
  return { bytesDone, bytesTotal, bytesWritten, bytesSkipped, position, length, rate, etaSeconds, elapsedMs };
}

/** Turns a finished engine run into the result, or the error to throw. */
export function settleOutcome(outcome: NativeOutcome, src: Target, dst: Target, signal?: AbortSignal): CopyResult | Error {
  if (outcome.ending === 'completed') return { ...progressOf(outcome), backend: outcome.backend };
  const error =
    outcome.ending === 'cancelled' || !outcome.error
      ? new AbortError(undefined, signal?.aborted ? { cause: signal.reason } : undefined)
      : fromNative(outcome.error, src, dst);
  setStopPoint(error, outcome);
  return error;
}

export interface CopyJobEvents {
  progress: [Progress];
  completed: [CopyResult];
  failed: [Error];
  cancelled: [AbortError];
}

export class CopyJob extends EventEmitter<CopyJobEvents> implements PromiseLike<CopyResult> {
  readonly id = nextId++;
  /** Settles when the job ends: the result, or the CopyError / AbortError. */
  readonly done: Promise<CopyResult>;

  #status: JobStatus = 'queued';
  #native: NativeJob | undefined;
  #final: Progress | undefined;
  #gate = new ProgressGate();
  #resolve!: (result: CopyResult) => void;
  #reject!: (error: Error) => void;
  #ended: Promise<void>;
  #markEnded!: () => void;
  #cancelRequested = false;
  #release: () => void;
  #onEnd: ((job: CopyJob, outcome: CopyResult | Error) => void) | undefined;

  /**
   * Claims the destination range (EBUSY if another job holds an overlapping
   * one) but does not start; copy() and CopyQueue call start(). `onEnd` runs
   * after the job's own events, whatever its listeners do.
   */
  constructor(
    private readonly src: Target,
    private readonly dst: Target,
    private readonly checked: CheckedCopy,
    onEnd?: (job: CopyJob, outcome: CopyResult | Error) => void,
  ) {
    super();
    this.#release = claimDestination(`job ${this.id}`, src, dst, checked);
    this.#onEnd = onEnd;
    this.done = new Promise<CopyResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The outcome is also reported through events; a caller who only listens
    // to those must not get an unhandled rejection.
    this.done.catch(() => {});
    this.#ended = new Promise((resolve) => (this.#markEnded = resolve));
    checked.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get status(): JobStatus {
    return this.#status;
  }

  /**
   * Starts the copy: once, by copy() or by a queue. False when the job was
   * not queued or was cancelled before its turn.
   * @internal
   */
  start(): boolean {
    if (this.#status !== 'queued') return false;
    if (this.#cancelRequested || this.checked.signal?.aborted) {
      this.#cancelQueued();
      return false;
    }
    this.#status = 'running';
    this.#native = new addon.NativeJob(this.src, this.dst, this.checked.native as NativeOptions, (kind, payload) => {
      if (kind === 'progress') this.#report(payload as Progress);
      else this.#end(payload as NativeOutcome);
    });
    return true;
  }

  /** The live counters, read without I/O. */
  progress(): Progress {
    if (this.#final) return { ...this.#final };
    return this.#native ? this.#native.progress() : { ...ZERO_PROGRESS };
  }

  /**
   * Stops the copy. With wait (the default) the promise settles once the job
   * has really stopped and its last write is done; with wait false it settles
   * at once and 'cancelled' follows. Harmless on a finished job or when repeated.
   */
  cancel(options: { wait?: boolean } = {}): Promise<void> {
    const wait = options.wait ?? true;
    if (this.#status === 'queued') {
      this.#cancelQueued();
    } else if (this.#status === 'running' && !this.#cancelRequested) {
      this.#cancelRequested = true;
      this.#native?.cancel();
    }
    return wait ? this.#ended : Promise.resolve();
  }

  /** Changes the bandwidth limit of a queued or running job; 0 lifts it. */
  setBandwidth(bytesPerSecond: number): void {
    const rate = checkBandwidth(bytesPerSecond);
    this.checked.native.bandwidth = rate;
    this.#native?.setBandwidth(rate);
  }

  then<T1 = CopyResult, T2 = never>(
    onfulfilled?: ((value: CopyResult) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.done.then(onfulfilled, onrejected);
  }

  /** Yields progress reports until the job ends; throws its error if it fails or is cancelled. */
  async *[Symbol.asyncIterator](): AsyncIterator<Progress> {
    let pending: Progress | undefined;
    let wake: (() => void) | undefined;
    const onProgress = (p: Progress) => {
      pending = p; // a slow consumer sees the latest report, not a backlog
      wake?.();
    };
    const onEnd = () => wake?.();
    this.on('progress', onProgress);
    this.#ended.then(onEnd);
    try {
      for (;;) {
        if (pending) {
          const p = pending;
          pending = undefined;
          yield p;
          continue;
        }
        if (this.#status !== 'queued' && this.#status !== 'running') break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      await this.done;
    } finally {
      this.off('progress', onProgress);
    }
  }

  /** A job that never started ends as cancelled, its destination untouched. */
  #cancelQueued(): void {
    if (this.#cancelRequested) return;
    this.#cancelRequested = true;
    const untouched = { ...ZERO_PROGRESS, resumeOffset: this.checked.native.srcOffset, backend: 'pread' as const };
    process.nextTick(() => this.#end({ ...untouched, ending: 'cancelled' }));
  }

  #onAbort = (): void => {
    void this.cancel({ wait: false });
  };

  #report(p: Progress): void {
    if (!this.#gate.isNew(p)) return;
    this.emit('progress', p);
    if (this.checked.onProgress?.(p) === false) void this.cancel({ wait: false });
  }

  #end(outcome: NativeOutcome): void {
    this.checked.signal?.removeEventListener('abort', this.#onAbort);
    this.#release();
    const settled = settleOutcome(outcome, this.src, this.dst, this.checked.signal);
    this.#final = progressOf(outcome);
    // Settle first, so a throwing listener cannot leave the job hanging; the
    // promise's callbacks still run after the events below (they are microtasks).
    if (settled instanceof AbortError) {
      this.#status = 'cancelled';
      this.#reject(settled);
    } else if (settled instanceof Error) {
      this.#status = 'failed';
      this.#reject(settled);
    } else {
      this.#status = 'completed';
      this.#resolve(settled);
    }
    this.#markEnded();
    try {
      if (settled instanceof AbortError) this.emit('cancelled', settled);
      else if (settled instanceof Error) this.emit('failed', settled);
      else {
        this.#report(this.#final);
        this.emit('completed', settled);
      }
    } finally {
      this.#onEnd?.(this, settled);
    }
  }
}
