// The compiled addon and the shapes it speaks. Only this file touches it.
import path from 'node:path';
import load from 'node-gyp-build';
import { engineTarget, type EngineTarget } from './nbd';
import type { CopySettings } from './options';
import { BACKEND_NAMES, REFLINK_MODES, SPARSE_MODES, SYNC_MODES } from './types';
import type { BackendUsed, Progress, Target } from './types';

/** A mode as the engine takes it: its index in its list (types.ts), the order of the engine's enum. */
type ModeIndex = number;

/** Copy options as the engine reads them: every field there, nothing left to default. Formats and connections travel with the targets. */
export interface EngineCopyOptions extends Omit<CopySettings, 'sparse' | 'fsync' | 'backend' | 'reflink' | 'srcFormat' | 'dstFormat' | 'connections' | 'nbdTimeout' | 'dstCompress'> {
  sparse: ModeIndex;
  fsync: ModeIndex;
  backend: ModeIndex;
  reflink: ModeIndex;
}

export function engineCopyOptions(settings: CopySettings): EngineCopyOptions {
  const { srcFormat: _src, dstFormat: _dst, connections: _connections, nbdTimeout: _nbdTimeout, dstCompress: _compress, ...s } = settings;
  return {
    ...s,
    sparse: SPARSE_MODES.indexOf(s.sparse),
    fsync: SYNC_MODES.indexOf(s.fsync),
    backend: BACKEND_NAMES.indexOf(s.backend),
    reflink: REFLINK_MODES.indexOf(s.reflink),
  };
}

/** A copy's two ends as the engine reaches them. */
export function engineCopyTargets(src: Target, dst: Target, s: CopySettings): [EngineTarget, EngineTarget] {
  return [engineTarget(src, s.srcFormat, s.connections, s.nbdTimeout), engineTarget(dst, s.dstFormat, s.connections, s.nbdTimeout, s.dstCompress)];
}

export interface NativeError {
  /** 'coded': a code of its own (a broken stream, a checksum); 'remote': what the other end of a stream reported. */
  kind: 'system' | 'invalid' | 'range' | 'coded' | 'remote';
  errno: number;
  syscall: string;
  side: 'source' | 'destination' | null;
  detail: string;
  /** 'coded' and 'remote' only. */
  code?: string;
}

/** What a NativeWriter did to its destination. */
export interface WriteTotals {
  bytesWritten: number;
  bytesZeroed: number;
  /** A bit per ZERO_METHODS entry used. */
  zeroMethods: number;
  bytesSkipped: number;
}

export interface NativeOutcome extends Progress {
  ending: 'completed' | 'cancelled' | 'failed';
  error?: NativeError;
  resumeOffset: number;
  backend: BackendUsed;
  /** A bit per ZERO_METHODS entry used. */
  zeroMethods: number;
}

export interface NativeExtent {
  offset: number;
  length: number;
  type: 'data' | 'hole';
}

export type NativeExtentsAnswer = { extents: NativeExtent[]; error?: undefined } | { error: NativeError };

export interface NativeCopy {
  progress(): Progress;
  cancel(): void;
  setBandwidth(bytesPerSecond: number): void;
}

export type NativeCallback<T> = (error: NativeError | null, value: T) => void;

export type StreamItem = { type: 'data'; offset: number; data: Buffer } | { type: 'hole'; offset: number; length: number };
/** Resuming only: bytes the receiver already holds, sent as a SAME frame. */
export type SameItem = { type: 'same'; offset: number; length: number };

export interface NativeReader {
  open(callback: NativeCallback<{ length: number; dataBytes: number }>): void;
  read(maxItems: number, callback: NativeCallback<Array<StreamItem | SameItem>>): void;
  /** The receiver's block digests (32 bytes each), before the first read. */
  resumeFrom(digests: Buffer, callback: NativeCallback<undefined>): void;
  /** Of the data read so far; call once reading is done. */
  checksum(): string;
  /** Reads not started are dropped; `callback` once the file is closed. */
  close(callback?: NativeCallback<undefined>): void;
}

/** What the engine's stream reader takes: `piece` is the largest data item, a DATA frame's limit. */
export interface EngineReaderOptions {
  offset: number;
  length?: number;
  sparse: ModeIndex;
  piece: number;
}

/** What the engine's stream writer takes: the image is `length` bytes at `offset` in the destination. */
export interface EngineWriterOptions extends Pick<CopySettings, 'dstSize' | 'truncate' | 'targetIsZero' | 'overwrite' | 'force' | 'verify'> {
  offset: number;
  length: number;
  fsync: ModeIndex;
}

export interface NativeWriter {
  open(callback: NativeCallback<undefined>): void;
  write(items: StreamItem[], callback: NativeCallback<undefined>): void;
  /** `kept`: (block index, checksum share) pairs of u64 LE for blocks a resuming receiver kept; empty otherwise. */
  finish(kept: Buffer, callback: NativeCallback<WriteTotals & { checksum: string }>): void;
  /** Writes not started are dropped; abandon: remove a destination this writer created, if nothing was written; `callback` once the file is closed. */
  close(abandon: boolean, callback?: NativeCallback<undefined>): void;
}

export interface NativeChecksum {
  update(offset: number, data: Uint8Array): void;
  /** 16 hex digits. */
  value(): string;
}

/** The engine's progress meter, for a job whose bytes move through JS. */
export interface NativeMeter {
  setTotals(bytesTotal: number, length: number): void;
  /** Counts bytes handled, moves the position forward and folds them into the rate. */
  add(done: number, written: number, skipped: number, position: number): void;
  /** The average over the whole job becomes the rate; the ETA becomes 0. */
  finish(): void;
  snapshot(): Progress;
}

/** One image into or out of a descriptor, moved by the engine (frame_sender.h, frame_receiver.h). */
export interface NativeTransfer {
  progress(): Progress;
  cancel(): void;
}

export interface NativeTransferOutcome extends Progress {
  ending: 'completed' | 'cancelled' | 'failed';
  error?: NativeError;
  /** 16 hex digits: the END frame's. */
  checksum: string;
  /** The image's name, as its BEGIN frame gave it (receive). */
  name: string;
  /** The sender stopped between frames: an ERROR frame may still follow. */
  betweenFrames: boolean;
  /** A receiver that stopped: every image byte below it is written and flushed (0 for a sender). */
  resumeOffset: number;
  /** A bit per ZERO_METHODS entry the receiver used. */
  zeroMethods: number;
}

type TransferEvent = (kind: 'progress' | 'end', payload: Progress | NativeTransferOutcome) => void;

export interface NativeDigestOutcome extends Progress {
  ending: 'completed' | 'cancelled' | 'failed';
  error?: NativeError;
  algorithm: string;
  /** 64 hex digits (docs/checksum.md). */
  digest: string;
  size: number;
  /** With `blocks`: each block's digest (32 bytes) and share of the stream checksum (u64 LE). */
  blockDigests?: Buffer;
  blockSums?: Buffer;
}

/** The stream format's numbers, as the engine states them. */
export interface StreamFormatNumbers {
  magic: Buffer;
  version: number;
  prefaceBytes: number;
  headerBytes: number;
  maxData: number;
  maxName: number;
  maxCode: number;
  maxMessage: number;
}

interface Addon {
  copySync(
    src: EngineTarget,
    dst: EngineTarget,
    opts: EngineCopyOptions,
    onTick?: (progress: Progress) => boolean,
  ): NativeOutcome;
  extentsSync(target: EngineTarget, offset: number, length?: number): NativeExtentsAnswer;
  extents(target: EngineTarget, offset: number, length?: number): Promise<NativeExtentsAnswer>;
  NativeReader: new (target: EngineTarget, options: EngineReaderOptions) => NativeReader;
  NativeWriter: new (target: EngineTarget, options: EngineWriterOptions) => NativeWriter;
  NativeChecksum: new () => NativeChecksum;
  NativeMeter: new () => NativeMeter;
  NativeCopy: new (
    src: EngineTarget,
    dst: EngineTarget,
    opts: EngineCopyOptions,
    onEvent: (kind: 'progress' | 'end', payload: Progress | NativeOutcome) => void,
  ) => NativeCopy;
  NativeTransfer: {
    new (
      kind: 'send',
      fd: number,
      target: EngineTarget,
      options: EngineReaderOptions,
      extra: { name: string; progressInterval: number },
      onEvent: TransferEvent,
    ): NativeTransfer;
    new (
      kind: 'receive',
      fd: number,
      target: EngineTarget,
      options: Omit<EngineWriterOptions, 'length'> & { length: 0 },
      extra: { progressInterval: number; idleTimeout: number; trailingGrace: number },
      onEvent: TransferEvent,
    ): NativeTransfer;
  };
  NativeDigest: new (
    target: EngineTarget,
    options: { offset: number; length?: number; progressInterval: number; progressDelay: number; blocks?: boolean },
    onEvent: (kind: 'progress' | 'end', payload: Progress | NativeDigestOutcome) => void,
  ) => NativeTransfer;
  streamFormat: StreamFormatNumbers;
  /** One write that never waits: true when all of `bytes` went out at once. */
  writeNow(fd: number, bytes: Buffer): boolean;
}

export const addon = load(path.join(__dirname, '..')) as Addon;
