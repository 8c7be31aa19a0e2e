// CopyJob: one asynchronous copy, watched through events, a promise, polling
// or async iteration, and stopped with cancel() or an AbortSignal.
import { claimDestination, copySpans } from './claims';
import { AbortError, fromNative, setStopPoint } from './errors';
import { JobBase, type JobEvents, runListeners, ZERO_PROGRESS } from './job_base';
import { addon, engineCopyOptions, engineCopyTargets, type NativeCopy, type NativeOutcome } from './native';
import { checkBandwidth } from './options';
import type { CheckedCopy } from './options';
import { type CopyResult, type Progress, type Target, zeroMethodNames } from './types';

let nextId = 1;

function progressOf(outcome: NativeOutcome): Progress {
  const { bytesDone, bytesTotal, bytesWritten, bytesZeroed, bytesSkipped, position, length, rate, etaSeconds, elapsedMs, phase, bytesVerified } = outcome;
  const p: Progress = { bytesDone, bytesTotal, bytesWritten, bytesZeroed, bytesSkipped, position, length, rate, etaSeconds, elapsedMs };
  return phase === undefined ? p : { ...p, phase, bytesVerified };
}

/** Turns a finished engine run into the result, or the error to throw. */
export function settleOutcome(outcome: NativeOutcome, src: Target, dst: Target, signal?: AbortSignal): CopyResult | Error {
  if (outcome.ending === 'completed') return { ...progressOf(outcome), backend: outcome.backend, zeroedBy: zeroMethodNames(outcome.zeroMethods) };
  const error =
    outcome.ending === 'cancelled' || !outcome.error
      ? new AbortError(undefined, signal?.aborted ? { cause: signal.reason } : undefined)
      : fromNative(outcome.error, src, dst);
  setStopPoint(error, outcome);
  return error;
}

export type CopyJobEvents = JobEvents<CopyResult>;

export class CopyJob extends JobBase<CopyResult> {
  readonly id = nextId++;

  #native: NativeCopy | undefined;
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
    this.#release = claimDestination(`job ${this.id}`, dst, copySpans(src, checked));
    this.#onEnd = onEnd;
    checked.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Starts the copy: once, by copy() or by a queue. False when the job was
   * not queued or was cancelled before its turn.
   * @internal
   */
  start(): boolean {
    if (this.status !== 'queued') return false;
    if (this.#cancelRequested || this.checked.signal?.aborted) {
      this.#cancelQueued();
      return false;
    }
    this.markRunning();
    this.#native = new addon.NativeCopy(...engineCopyTargets(this.src, this.dst, this.checked.settings), engineCopyOptions(this.checked.settings), (kind, payload) => {
      if (kind === 'progress') this.report(payload as Progress);
      else this.#end(payload as NativeOutcome);
    });
    return true;
  }

  cancel(options: { wait?: boolean } = {}): Promise<void> {
    const wait = options.wait ?? true;
    if (this.status === 'queued') {
      this.#cancelQueued();
    } else if (this.status === 'running' && !this.#cancelRequested) {
      this.#cancelRequested = true;
      this.#native?.cancel();
    }
    return wait ? this.whenEnded() : Promise.resolve();
  }

  /** Changes the bandwidth limit of a queued or running job; 0 lifts it. */
  setBandwidth(bytesPerSecond: number): void {
    const rate = checkBandwidth(bytesPerSecond);
    this.checked.settings.bandwidth = rate;
    this.#native?.setBandwidth(rate);
  }

  protected liveProgress(): Progress {
    return this.#native ? this.#native.progress() : { ...ZERO_PROGRESS };
  }

  protected override afterReport(p: Progress): void {
    if (this.checked.onProgress?.(p) === false) void this.cancel({ wait: false });
  }

  /** A job that never started ends as cancelled, its destination untouched. */
  #cancelQueued(): void {
    if (this.#cancelRequested) return;
    this.#cancelRequested = true;
    const untouched = { ...ZERO_PROGRESS, resumeOffset: this.checked.settings.srcOffset, backend: 'pread' as const, zeroMethods: 0 };
    process.nextTick(() => this.#end({ ...untouched, ending: 'cancelled' }));
  }

  #onAbort = (): void => {
    void this.cancel({ wait: false });
  };

  #end(outcome: NativeOutcome): void {
    this.checked.signal?.removeEventListener('abort', this.#onAbort);
    this.#release();
    const settled = settleOutcome(outcome, this.src, this.dst, this.checked.signal);
    this.settle(settled, progressOf(outcome));
    const onEnd = this.#onEnd;
    if (onEnd) runListeners(() => onEnd(this, settled));
  }
}
