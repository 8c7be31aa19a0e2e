export { copy, copySync } from './copy';
export { extents, extentsSync } from './extents';
export { checksum, ChecksumJob } from './checksum';
export type { ChecksumOptions, ChecksumResult } from './checksum';
export { CopyJob } from './job';
export type { CopyJobEvents } from './job';
export { CopyQueue } from './queue';
export type { CopyQueueEvents } from './queue';
export { AbortError, CopyError } from './errors';
export type { StopPoint } from './errors';
export type {
  CopyQueueOptions,
  BackendName,
  BackendUsed,
  CopyOptions,
  CopyResult,
  Extent,
  ExtentsOptions,
  JobStatus,
  Progress,
  ReflinkMode,
  SparseMode,
  SyncMode,
  Target,
} from './types';
export * from './stream';
