// One image into or out of a descriptor that is a pipe or a file
// (`blockcopy send > pipe`, `blockcopy recv < pipe`), moved by the engine:
// it reads the image and writes the frames itself, or reads the frames and
// writes the image, so no byte passes through JS and no thread waits on
// another per chunk. The wire is the same as send()'s and receive()'s on a
// one-way stream (docs/stream-format.md); a socket, which can carry answers,
// goes through them instead.
import fs from 'node:fs';
import { AbortError, fromNative } from '../errors';
import { EngineJob } from '../engine_job';
import { addon, type NativeError, type NativeTransfer, type NativeTransferOutcome } from '../native';
import { engineTarget } from '../nbd';
import { checkReceiveArgs, checkSendArgs, DEFAULT_IDLE_TIMEOUT, ONE_CONNECTION } from '../options';
import { type Target, zeroMethodNames } from '../types';
import { describeError, RemoteError, SENDER_CANCELLED } from './errors';
import { engineReaderOptions, engineWriterOptions } from './extent_streams';
import { encodeFrame, StreamFormatError } from './format';
import type { ReceiveOptions } from './incoming';
import type { SendOptions } from './connection';
import { ChecksumMismatchError } from './tally';
import type { TransferResult } from './transfer_job';

/** The transfer id the engine's sender gives its one image. */
const WIRE_ID = 1;
/** What Linux writes into a pipe whole or not at all. */
const PIPE_BUF = 4096;

/** Whether the engine can move a stream on `fd` itself: a pipe or a regular file, not a socket or a terminal. */
export function isEngineDescriptor(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    return st.isFIFO() || st.isFile();
  } catch {
    return false;
  }
}

/** A transfer on a descriptor, with a TransferJob's face: events, promise, progress(), cancel. */
export class DescriptorTransferJob extends EngineJob<TransferResult, NativeTransferOutcome> {
  /** @internal */
  constructor(
    private readonly target: Target,
    private readonly onEnd: (outcome: NativeTransferOutcome) => void = () => {},
  ) {
    super();
  }

  protected end(outcome: NativeTransferOutcome): void {
    const { ending, error, checksum, name, betweenFrames: _b, resumeOffset, zeroMethods, ...progress } = outcome;
    this.onEnd(outcome);
    // One-way: nothing answers a resume, so nothing is kept.
    if (ending === 'completed') return this.settle({ ...progress, name, checksum, bytesKept: 0, zeroedBy: zeroMethodNames(zeroMethods) }, progress);
    const failure = ending === 'cancelled' || !error ? new AbortError() : transferError(error, this.target);
    // A receiver says how much of the image is on disk; a sender promises nothing.
    Object.assign(failure, { bytesWritten: progress.bytesWritten, bytesDone: progress.bytesDone, resumeOffset });
    this.settle(failure, progress);
  }
}

/** The engine's error as the error the JS receiver and sender would have raised. */
function transferError(error: NativeError, target: Target): Error {
  const code = error.code ?? '';
  if (error.kind === 'remote') return new RemoteError(code, error.detail);
  if (error.kind !== 'coded') return fromNative(error, target, target);
  if (code === 'ERR_BLOCKCOPY_STREAM') return new StreamFormatError(error.detail);
  if (code === 'ERR_BLOCKCOPY_CHECKSUM') return new ChecksumMismatchError(error.detail);
  return Object.assign(new Error(error.detail), { code });
}

/**
 * Sends one image into `fd` (a pipe or a file), as send() does into a
 * one-way stream: done once END is written. A failure or a cancel that stops
 * between frames is told to the receiver with an ERROR frame.
 */
export function sendToDescriptor(target: Target, fd: number, options: SendOptions = {}): DescriptorTransferJob {
  const checked = checkSendArgs(target, options);
  const job = new DescriptorTransferJob(target, (outcome) => {
    if (outcome.ending === 'completed' || !outcome.betweenFrames) return;
    const why = outcome.ending === 'cancelled' ? SENDER_CANCELLED : describeError(transferError(outcome.error!, target));
    // Never waits: a reader that has stopped reading must not hold up Ctrl-C. Kept within
    // PIPE_BUF, a pipe takes the frame whole or not at all, so the stream never ends mid-frame.
    const room = PIPE_BUF - 16 - Buffer.byteLength(why.code) - 3; // 3: a character cut in two becomes U+FFFD
    const message = Buffer.from(why.message).subarray(0, Math.max(0, room)).toString();
    addon.writeNow(fd, Buffer.concat(encodeFrame({ type: 'error', id: WIRE_ID, reply: false, code: why.code, message })));
  });
  const { reader } = checked;
  job.start(
    (onEvent) =>
      new addon.NativeTransfer('send', fd, engineTarget(reader.target, reader.format, ONE_CONNECTION, reader.nbdTimeout), engineReaderOptions(reader), { name: checked.name, progressInterval: checked.progressInterval }, onEvent),
    checked.signal,
  );
  return job;
}

/**
 * Receives one image from `fd` (a pipe or a file) into `target`, as
 * receive() does from a one-way stream; then the input must end (or stay
 * silent for `trailingGrace` ms): bytes after the image's END fail the job.
 */
export function receiveFromDescriptor(fd: number, target: Target, options: ReceiveOptions & { trailingGrace?: number } = {}): DescriptorTransferJob {
  const { trailingGrace = 0, ...rest } = options;
  const checked = checkReceiveArgs(target, rest);
  const { writer } = checked;
  const job = new DescriptorTransferJob(target);
  // The size comes with the stream; the engine sets it when BEGIN arrives.
  const { length: _size, ...writeOptions } = engineWriterOptions(writer, 0);
  job.start(
    (onEvent) =>
      new addon.NativeTransfer(
        'receive',
        fd,
        engineTarget(writer.target, writer.format, ONE_CONNECTION, writer.nbdTimeout),
        { ...writeOptions, length: 0 },
        { progressInterval: checked.progressInterval, idleTimeout: DEFAULT_IDLE_TIMEOUT, trailingGrace },
        onEvent,
      ),
    checked.signal,
  );
  return job;
}
