// checksum(): a digest of the bytes a target reads as (docs/checksum.md),
// computed by the engine on threads of its own. Holes are counted, not read.
import { EngineJob } from './engine_job';
import { AbortError, fromNative } from './errors';
import { addon, type NativeDigestOutcome } from './native';
import { engineTarget } from './nbd';
import { checkChecksumArgs, ONE_CONNECTION } from './options';
import type { ImageFormat, NbdWaitOptions, Progress, Target } from './types';

export interface ChecksumOptions extends NbdWaitOptions {
  offset?: number;
  /** Bytes to hash from offset; default: to the end. */
  length?: number;
  /** The image's format (see CopyOptions.srcFormat): a qcow2 image gives the digest of the disk it holds. Default 'raw'. */
  format?: ImageFormat;
  progressInterval?: number;
  signal?: AbortSignal;
}

export interface ChecksumResult extends Progress {
  /** 'sha256-blocks-64k' (docs/checksum.md). */
  algorithm: string;
  /** Lowercase hex. */
  digest: string;
  /** Bytes hashed: the range's length. */
  size: number;
}

export class ChecksumJob extends EngineJob<ChecksumResult, NativeDigestOutcome> {
  /** @internal */
  constructor(private readonly target: Target) {
    super();
  }

  protected end(outcome: NativeDigestOutcome): void {
    const { ending, error, algorithm, digest, size, ...progress } = outcome;
    if (ending === 'completed') return this.settle({ ...progress, algorithm, digest, size }, progress);
    this.settle(ending === 'cancelled' || !error ? new AbortError() : fromNative(error, this.target), progress);
  }
}

/** The digest of [offset, offset + length) of a file, device, NBD export or image. */
export function checksum(target: Target, options?: ChecksumOptions): ChecksumJob {
  const checked = checkChecksumArgs(target, options);
  const job = new ChecksumJob(checked.target);
  const range = checked.length === undefined ? { offset: checked.offset } : { offset: checked.offset, length: checked.length };
  job.start(
    (onEvent) =>
      new addon.NativeDigest(engineTarget(checked.target, checked.format, ONE_CONNECTION, checked.nbdTimeout), { ...range, progressInterval: checked.progressInterval, progressDelay: 0 }, onEvent),
    checked.signal,
  );
  return job;
}
