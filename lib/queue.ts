// CopyQueue: many block jobs at once, at most `concurrency` of them running,
// the rest waiting their turn in the order they were added.
import { EventEmitter } from 'node:events';
import { AbortError } from './errors';
import { CopyJob } from './job';
import { runListeners } from './job_base';
import { checkCopyArgs, checkQueueOptions } from './options';
import type { CopyOptions, CopyQueueOptions, CopyResult, Target } from './types';

export interface CopyQueueEvents {
  started: [CopyJob];
  completed: [CopyJob, CopyResult];
  failed: [CopyJob, Error];
  cancelled: [CopyJob, AbortError];
  /** After the job's own completed, failed or cancelled. */
  ended: [CopyJob];
  /** No job is queued or running any more. */
  idle: [];
}

export class CopyQueue extends EventEmitter<CopyQueueEvents> {
  readonly concurrency: number;
  /** Jobs not yet ended, in the order they were added. */
  #jobs: CopyJob[] = [];
  #running = new Set<CopyJob>();
  #idleWaiters: (() => void)[] = [];

  constructor(options?: CopyQueueOptions) {
    super();
    this.concurrency = checkQueueOptions(options).concurrency;
  }

  /**
   * Queues a copy and starts it if a slot is free. Bad arguments, and a
   * destination range that overlaps a queued or running job's (EBUSY), throw
   * here and queue nothing.
   */
  add(src: Target, dst: Target, options?: CopyOptions): CopyJob {
    const args = checkCopyArgs(src, dst, options);
    const job = new CopyJob(args.src, args.dst, args.checked, (ended, outcome) => this.#ended(ended, outcome));
    this.#jobs.push(job);
    this.#fill();
    return job;
  }

  /** The running jobs, then the queued ones, in the order they were added. */
  jobs(): CopyJob[] {
    const running = this.#jobs.filter((job) => job.status === 'running');
    return running.concat(this.#jobs.filter((job) => job.status === 'queued'));
  }

  /** Resolves once no job is queued or running (at once if none is). */
  idle(): Promise<void> {
    if (this.#jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Starts queued jobs, oldest first, while slots are free. */
  #fill(): void {
    for (const job of this.#jobs) {
      if (this.#running.size >= this.concurrency) return;
      if (job.status !== 'queued') continue;
      // A job cancelled while queued does not start; its end is on its way.
      if (job.start()) {
        this.#running.add(job);
        runListeners(() => this.emit('started', job));
      }
    }
  }

  #ended(job: CopyJob, outcome: CopyResult | Error): void {
    const index = this.#jobs.indexOf(job);
    if (index >= 0) this.#jobs.splice(index, 1);
    this.#running.delete(job);
    runListeners(() => this.#emitOutcome(job, outcome));
    runListeners(() => this.emit('ended', job));
    this.#fill();
    if (this.#jobs.length === 0) this.#becomeIdle();
  }

  #emitOutcome(job: CopyJob, outcome: CopyResult | Error): void {
    if (outcome instanceof AbortError) this.emit('cancelled', job, outcome);
    else if (outcome instanceof Error) this.emit('failed', job, outcome);
    else this.emit('completed', job, outcome);
  }

  #becomeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
    runListeners(() => this.emit('idle'));
  }
}
