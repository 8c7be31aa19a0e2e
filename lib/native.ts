// The compiled addon and the shapes it speaks. Only this file touches it.
import path from 'node:path';
import load from 'node-gyp-build';
import type { BackendName, BackendUsed, Progress, ReflinkMode } from './types';

/** Options as the engine reads them: validated, with defaults resolved. */
export interface NativeOptions {
  srcOffset: number;
  dstOffset: number;
  length?: number;
  dstSize?: number;
  sparse: 'auto' | 'always' | 'never';
  fsync: 'none' | 'data' | 'full';
  backend: BackendName;
  reflink: ReflinkMode;
  direct: boolean;
  blockSize: number;
  queueDepth: number;
  truncate: boolean;
  targetIsZero: boolean;
  overwrite: boolean;
  force: boolean;
  bandwidth: number;
  progressInterval: number;
  progressDelay: number;
}

export interface NativeError {
  kind: 'system' | 'invalid' | 'range';
  errno: number;
  syscall: string;
  side: 'source' | 'destination' | null;
  detail: string;
}

export interface NativeOutcome extends Progress {
  ending: 'completed' | 'cancelled' | 'failed';
  error?: NativeError;
  resumeOffset: number;
  backend: BackendUsed;
}

export interface NativeExtent {
  offset: number;
  length: number;
  type: 'data' | 'hole';
}

export type NativeExtentsAnswer = { extents: NativeExtent[]; error?: undefined } | { error: NativeError };


export interface NativeJob {
  progress(): Progress;
  cancel(): void;
  setBandwidth(bytesPerSecond: number): void;
}

export type NativeCallback<T> = (error: NativeError | null, value: T) => void;

export type StreamItem = { type: 'data'; offset: number; data: Buffer } | { type: 'hole'; offset: number; length: number };

export interface NativeReader {
  open(callback: NativeCallback<{ length: number; dataBytes: number }>): void;
  read(maxItems: number, callback: NativeCallback<StreamItem[]>): void;
  /** Of the data read so far; call once reading is done. */
  checksum(): string;
  close(): void;
}

export interface NativeWriterOptions {
  offset: number;
  length: number;
  dstSize?: number;
  truncate: boolean;
  targetIsZero: boolean;
  overwrite: boolean;
  force: boolean;
  fsync: 'none' | 'data' | 'full';
}

export interface NativeWriter {
  open(callback: NativeCallback<undefined>): void;
  write(items: StreamItem[], callback: NativeCallback<undefined>): void;
  finish(callback: NativeCallback<{ bytesWritten: number; bytesSkipped: number; checksum: string }>): void;
  /** abandon: remove a destination this writer created, if nothing was written. */
  close(abandon: boolean): void;
}

export interface NativeChecksum {
  update(offset: number, data: Uint8Array): void;
  /** 16 hex digits. */
  value(): string;
}

interface Addon {
  copySync(
    src: string | number,
    dst: string | number,
    opts: NativeOptions,
    onTick?: (progress: Progress) => boolean,
  ): NativeOutcome;
  extentsSync(target: string | number, offset: number, length?: number): NativeExtentsAnswer;
  extents(target: string | number, offset: number, length?: number): Promise<NativeExtentsAnswer>;
  NativeReader: new (target: string | number, options: { offset: number; length?: number; sparse: 'auto' | 'always' | 'never' }) => NativeReader;
  NativeWriter: new (target: string | number, options: NativeWriterOptions) => NativeWriter;
  NativeChecksum: new () => NativeChecksum;
  NativeJob: new (
    src: string | number,
    dst: string | number,
    opts: NativeOptions,
    onEvent: (kind: 'progress' | 'end', payload: Progress | NativeOutcome) => void,
  ) => NativeJob;
}

export const addon = load(path.join(__dirname, '..')) as Addon;
