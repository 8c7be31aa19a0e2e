// A job the engine runs on a thread of its own (a checksum, a transfer on a
// descriptor): JS starts it, hears its progress and its end, and may cancel it.
import { JobBase, ZERO_PROGRESS } from './job_base';
import type { Progress } from './types';

/** What the binding's job objects (NativeDigest, NativeTransfer) offer. */
export interface NativeJob {
  progress(): Progress;
  cancel(): void;
}

export type NativeJobEvent<O> = (kind: 'progress' | 'end', payload: Progress | O) => void;

export abstract class EngineJob<R extends Progress, O> extends JobBase<R> {
  #native: NativeJob | undefined;
  #cancelRequested = false;

  /** @internal */
  start(make: (onEvent: NativeJobEvent<O>) => NativeJob, signal?: AbortSignal): void {
    this.markRunning();
    this.#native = make((kind, payload) => {
      if (kind === 'progress') this.report(payload as Progress);
      else this.end(payload as O);
    });
    if (!signal) return;
    const abort = () => void this.cancel({ wait: false });
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  }

  cancel(options: { wait?: boolean } = {}): Promise<void> {
    if (this.status === 'running' && !this.#cancelRequested) {
      this.#cancelRequested = true;
      this.#native?.cancel();
    }
    return (options.wait ?? true) ? this.whenEnded() : Promise.resolve();
  }

  protected liveProgress(): Progress {
    return this.#native ? this.#native.progress() : { ...ZERO_PROGRESS };
  }

  /** The engine's last word: settle the job from it. */
  protected abstract end(outcome: O): void;
}
