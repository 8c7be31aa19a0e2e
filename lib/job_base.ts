// What every job shares, copies and stream transfers alike: a status, a
// promise that settles at the end, events, polling and async iteration.
import { EventEmitter } from 'node:events';
import { AbortError } from './errors';
import type { JobStatus, Progress } from './types';

export const ZERO_PROGRESS: Progress = {
  bytesDone: 0,
  bytesTotal: 0,
  bytesWritten: 0,
  bytesZeroed: 0,
  bytesSkipped: 0,
  position: 0,
  length: 0,
  rate: 0,
  etaSeconds: null,
  elapsedMs: 0,
};

/**
 * Runs listeners (or a caller's callback) where their exception must not
 * break the job's own machinery (a native callback, a stream's frame loop):
 * the exception reaches the process as uncaught on the next tick, as a
 * throwing listener's does anywhere else in Node.
 */
export function runListeners(call: () => void): void {
  try {
    call();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

/** Drops reports that say nothing new, so a job's last report is its final one. */
export class ProgressGate {
  private last: Progress | undefined;

  isNew(p: Progress): boolean {
    const l = this.last;
    if (
      l &&
      l.bytesDone === p.bytesDone &&
      l.bytesWritten === p.bytesWritten &&
      l.bytesZeroed === p.bytesZeroed &&
      l.bytesSkipped === p.bytesSkipped &&
      l.position === p.position &&
      l.bytesVerified === p.bytesVerified
    ) {
      return false;
    }
    this.last = p;
    return true;
  }
}

export interface JobEvents<R> {
  progress: [Progress];
  completed: [R];
  failed: [Error];
  cancelled: [AbortError];
}

export abstract class JobBase<R extends Progress> extends EventEmitter<JobEvents<R>> implements PromiseLike<R> {
  /** Settles when the job ends: the result, or the error (AbortError when cancelled). */
  readonly done: Promise<R>;

  #status: JobStatus = 'queued';
  #final: Progress | undefined;
  #gate = new ProgressGate();
  #resolve!: (result: R) => void;
  #reject!: (error: Error) => void;
  readonly #ended: Promise<void>;
  #markEnded!: () => void;

  constructor() {
    super();
    this.done = new Promise<R>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The outcome is also reported through events; a caller who only listens
    // to those must not get an unhandled rejection.
    this.done.catch(() => {});
    this.#ended = new Promise((resolve) => (this.#markEnded = resolve));
  }

  get status(): JobStatus {
    return this.#status;
  }

  /** The live counters, read without I/O; the final figures once it has ended. */
  progress(): Progress {
    return this.#final ? { ...this.#final } : this.liveProgress();
  }

  /**
   * Stops the job. With wait (the default) the promise settles once the job
   * has really stopped and its last write is done; with wait false it settles
   * at once and 'cancelled' follows. Harmless on a finished job or when repeated.
   */
  abstract cancel(options?: { wait?: boolean }): Promise<void>;

  then<T1 = R, T2 = never>(
    onfulfilled?: ((value: R) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.done.then(onfulfilled, onrejected);
  }

  /** As on a Promise: `job.catch(...)` is `job.done.catch(...)`. */
  catch<T = never>(onrejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<R | T> {
    return this.done.catch(onrejected);
  }

  /** As on a Promise: runs once the job has ended, whatever the outcome. */
  finally(onfinally?: (() => void) | null): Promise<R> {
    return this.done.finally(onfinally);
  }

  /** Yields progress reports until the job ends; throws its error if it fails or is cancelled. */
  async *[Symbol.asyncIterator](): AsyncIterator<Progress> {
    let pending: Progress | undefined;
    let wake: (() => void) | undefined;
    const onProgress = (p: Progress) => {
      pending = p; // a slow consumer sees the latest report, not a backlog
      wake?.();
    };
    this.on('progress', onProgress);
    this.#ended.then(() => wake?.());
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

  protected abstract liveProgress(): Progress;

  /** Called after each report is emitted (CopyJob's onProgress option). */
  protected afterReport(_p: Progress): void {}

  protected markRunning(): void {
    this.#status = 'running';
  }

  /** Resolves when the job has ended, whatever the outcome. */
  protected whenEnded(): Promise<void> {
    return this.#ended;
  }

  protected report(p: Progress): void {
    if (!this.#gate.isNew(p)) return;
    runListeners(() => this.emit('progress', p));
    runListeners(() => this.afterReport(p));
  }

  /**
   * Ends the job once: status, promise, then the events (a successful job
   * reports its final figures first). Settled before the events, and a
   * throwing listener's exception is rethrown on the next tick, so it cannot
   * leave the job hanging; the promise's callbacks still run after the events
   * (they are microtasks).
   */
  protected settle(outcome: R | Error, final: Progress): void {
    if (this.#final) return;
    this.#final = final;
    if (outcome instanceof AbortError) {
      this.#status = 'cancelled';
      this.#reject(outcome);
    } else if (outcome instanceof Error) {
      this.#status = 'failed';
      this.#reject(outcome);
    } else {
      this.#status = 'completed';
      this.#resolve(outcome);
    }
    this.#markEnded();
    if (outcome instanceof AbortError) runListeners(() => this.emit('cancelled', outcome));
    else if (outcome instanceof Error) runListeners(() => this.emit('failed', outcome));
    else {
      this.report(final);
      runListeners(() => this.emit('completed', outcome));
    }
  }
}
