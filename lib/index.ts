export { copy, copySync } from './copy';
export { extents, extentsSync } from './extents';
export { CopyJob } from './job';
export type { CopyJobEvents } from './job';
export { AbortError, CopyError } from './errors';
export type { StopPoint } from './errors';
export type {
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
