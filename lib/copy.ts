// copy() and copySync(): the two ways in.
import { claimDestination, copySpans } from './claims';
import { AbortError } from './errors';
import { CopyJob, settleOutcome } from './job';
import { ProgressGate } from './job_base';
import { addon, engineCopyOptions, engineCopyTargets } from './native';
import { checkCopyArgs } from './options';
import type { CopyOptions, CopyResult, Progress, Target } from './types';

/**
 * Starts an asynchronous copy on a thread of blockcopy's own. Bad arguments
 * throw here, before any I/O; everything else arrives through the job.
 */
export function copy(src: Target, dst: Target, options?: CopyOptions): CopyJob {
  const args = checkCopyArgs(src, dst, options);
  const job = new CopyJob(args.src, args.dst, args.checked);
  job.start();
  return job;
}

/**
 * Copies on the calling thread. onProgress is called at the report interval;
 * returning false (or aborting options.signal from it) cancels with an AbortError.
 */
export function copySync(src: Target, dst: Target, options?: CopyOptions): CopyResult {
  const { src: s, dst: d, checked } = checkCopyArgs(src, dst, options);
  const { signal, onProgress } = checked;
  if (signal?.aborted) {
    const error = new AbortError(undefined, { cause: signal.reason });
    error.resumeOffset = checked.settings.srcOffset;
    throw error;
  }
  const gate = new ProgressGate();
  const report = (p: Progress): boolean => {
    if (onProgress && gate.isNew(p) && onProgress(p) === false) return false;
    return !signal?.aborted;
  };
  const needsTicks = onProgress !== undefined || signal !== undefined;
  const release = claimDestination('a copySync() call', d, copySpans(s, checked));
  let outcome;
  try {
    outcome = addon.copySync(...engineCopyTargets(s, d, checked.settings), engineCopyOptions(checked.settings), needsTicks ? report : undefined);
  } finally {
    release();
  }
  const settled = settleOutcome(outcome, s, d, signal);
  if (settled instanceof Error) throw settled;
  report(settled);
  return settled;
}
