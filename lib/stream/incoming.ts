// The receiving half of a Connection: each image the peer offers is accepted
// into a target or refused, each frame is checked for where it goes and
// handed to a write stream, and the transfer is answered with OK or ERROR. The input is
// read only while every writer keeps up and the peer reads our answers.
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { AbortError, fromNative } from '../errors';
import { addon, type NativeDigestOutcome } from '../native';
import type { NativeJob } from '../engine_job';
import { engineTarget } from '../nbd';
import { checkReceiveArgs, ONE_CONNECTION, type ReceiveChecked } from '../options';
import type { Target } from '../types';
import { describeError, RemoteError, timedOut } from './errors';
import { createExtentWriteStream, type ExtentItem, type ExtentWriteStream, type ExtentWriteStreamOptions } from './extent_streams';
import type { FrameOutput } from './frame_output';
import { DIGEST_BYTES, type Frame, frameItem, MAX_DIGESTS, StreamFormatError } from './format';
import { checkEnd, DIGEST_BLOCK, ImageTally, MAX_RESUME_BYTES, resumeTooBig } from './tally';
import { TransferJob } from './transfer_job';
import type { TransferLimit } from './transfer_limit';

export interface ReceiveOptions extends Omit<ExtentWriteStreamOptions, 'size'> {
  progressInterval?: number;
  signal?: AbortSignal;
}

const { ENOENT } = constants.errno;
const U64 = (1n << 64n) - 1n;

/** The stream checksums of the blocks [offset, offset + length) covers, summed as the checksum sums: mod 2^64. */
function sumOfBlocks(sums: Buffer, offset: number, length: number): bigint {
  let total = 0n;
  for (let block = offset / DIGEST_BLOCK; block < Math.ceil((offset + length) / DIGEST_BLOCK); block++) total += sums.readBigUInt64LE(block * 8);
  return total & U64;
}

/** The checksum of what was written, plus what the receiver already held: the whole image's, as 16 hex digits. */
function withKept(written: string, kept: bigint): string {
  return ((BigInt(`0x${written}`) + kept) & U64).toString(16).padStart(16, '0');
}

/** Refused transfer ids remembered (their late frames are dropped quietly); the oldest are forgotten first. */
const MAX_DROPPED = 1024;

interface Incoming {
  wireId: number;
  job: TransferJob;
  writer: ExtentWriteStream;
  tally: ImageTally; // where each piece goes, checked as its frame arrives
  full: boolean; // its writer asked us to wait
  ending: boolean; // END arrived; the writer is finishing
  idle?: NodeJS.Timeout; // fails the transfer when its sender goes quiet
  /** A resuming sender's: what this end holds, once its digests are sent; null while they are computed. */
  held?: HeldBlocks | null;
  /** The engine job hashing what this end holds (kept referenced while it runs; cancelled with the transfer). */
  hashing?: NativeJob;
}

/** The blocks a resuming receiver announced, and the stream checksum of each (u64 LE), for SAME frames. */
interface HeldBlocks {
  count: number;
  sums: Buffer;
  /** The sums of the blocks SAME frames covered: added to what was written, at END. */
  kept: bigint;
}

export interface ReceiverLink {
  readonly input: Readable | null;
  /** Where answers go; null or no handshake: nobody to answer. */
  readonly output: FrameOutput | null;
  readonly handshake: boolean;
  readonly maxTransfers: number;
  readonly idleTimeout: number;
  readonly limit: TransferLimit | undefined;
  broken(): Error | undefined;
  /** Offers an image to whoever listens; they accept or reject it synchronously. */
  offer(transfer: IncomingTransfer): void;
  /** The connection as a whole is wrong (a frame for a transfer that never began). */
  fail(error: Error): void;
  /** An END arrived for a transfer being received. */
  imageEnded(): void;
}

/** An image offered by the other end, to accept() into a target or reject(), synchronously. */
export class IncomingTransfer {
  #settled = false;

  /** @internal */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly size: number,
    readonly dataBytes: number,
    private readonly receiver: Receiver,
  ) {}

  /** Writes the image into `target`. Bad arguments throw here (and the sender hears why). */
  accept(target: Target, options?: ReceiveOptions, job?: TransferJob): TransferJob {
    if (this.#settled) throw new Error(`transfer ${this.id} was already accepted or rejected`);
    const checked = checkReceiveArgs(target, options);
    this.#settled = true;
    return this.receiver.accept(this, checked, options?.signal, job ?? new TransferJob(checked.progressInterval));
  }

  reject(error: { code?: string; message: string }): void {
    if (this.#settled) throw new Error(`transfer ${this.id} was already accepted or rejected`);
    this.#settled = true;
    this.receiver.refuse(this.id, describeError(error));
  }

  /** @internal */
  get settled(): boolean {
    return this.#settled;
  }
}

/** @internal */
export class Receiver {
  readonly #active = new Map<number, Incoming>();
  /** Incoming ids refused or failed: their remaining frames are dropped until END or ERROR. */
  readonly #dropped = new Set<number>();
  #resuming = false; // the BEGIN being offered asks to resume
  #paused = false;
  #inputEnded = false;

  constructor(private readonly link: ReceiverLink) {}

  onBegin(frame: Frame & { type: 'begin' }): void {
    this.#resuming = frame.resume === true;
    if (this.#active.has(frame.id) || this.#dropped.has(frame.id)) {
      return this.link.fail(new StreamFormatError(`transfer ${frame.id} began twice`));
    }
    const refuse = (code: string, message: string) => this.refuse(frame.id, { code, message });
    const { maxTransfers, limit } = this.link;
    if (this.#active.size >= maxTransfers) {
      return refuse('ERR_BLOCKCOPY_TOO_MANY_TRANSFERS', `this end takes at most ${maxTransfers} transfers at once`);
    }
    if (limit && !limit.take()) {
      return refuse('ERR_BLOCKCOPY_TOO_MANY_TRANSFERS', `this server takes at most ${limit.max} transfers at once`);
    }
    const offer = new IncomingTransfer(frame.id, frame.name, frame.size, frame.dataBytes, this);
    try {
      this.link.offer(offer);
    } catch (error) {
      if (!offer.settled) refuse(describeError(error).code, describeError(error).message);
    }
    // Frames follow at once, so the decision cannot wait.
    if (!offer.settled) refuse('ERR_BLOCKCOPY_NOT_ACCEPTED', 'nobody at this end accepted the transfer');
    if (!limit) return;
    const incoming = this.#active.get(frame.id);
    if (incoming) void incoming.job.done.then(() => limit.give(), () => limit.give());
    else limit.give();
  }

  /** A DATA, HOLE, SAME, END or ERROR frame of a transfer the peer sends. */
  onFrame(frame: Frame & { type: 'data' | 'hole' | 'same' | 'end' | 'error' }): void {
    const incoming = this.#active.get(frame.id);
    if (!incoming) {
      if (!this.#dropped.has(frame.id)) {
        return this.link.fail(new StreamFormatError(`a ${frame.type.toUpperCase()} frame for transfer ${frame.id}, which never began`));
      }
      if (frame.type === 'end' || frame.type === 'error') this.#dropped.delete(frame.id);
      return;
    }
    incoming.idle?.refresh();
    try {
      if (incoming.ending) throw new StreamFormatError(`a ${frame.type.toUpperCase()} frame for transfer ${frame.id} after its END`);
      if (incoming.held === null && frame.type !== 'error') {
        throw new StreamFormatError(`a ${frame.type.toUpperCase()} frame for transfer ${frame.id} before this end sent its digests`);
      }
      switch (frame.type) {
        case 'same': {
          const held = incoming.held;
          if (!held) throw new StreamFormatError(`a SAME frame for transfer ${frame.id}, which did not ask to resume`);
          incoming.tally.same(frame.offset, frame.length, held.count);
          held.kept += sumOfBlocks(held.sums, frame.offset, frame.length);
          const first = frame.offset / DIGEST_BLOCK;
          incoming.writer.kept(first, Math.ceil((frame.offset + frame.length) / DIGEST_BLOCK) - first, held.sums);
          incoming.job.advance(frameItem(frame));
          return;
        }
        case 'data':
        case 'hole': {
          const piece = frameItem(frame);
          incoming.tally.add(piece); // before anything of it is written
          this.#toWriter(incoming, piece);
          incoming.job.advance(piece);
          return;
        }
        case 'end':
          incoming.tally.checkCovered();
          this.link.imageEnded();
          this.#finish(incoming, frame);
          return;
        case 'error':
          this.#stop(incoming, new RemoteError(frame.code, frame.message), false);
          return;
      }
    } catch (error) {
      // Malformed or wrong for this transfer: it fails alone, the others go on.
      this.#stop(incoming, error as Error, true);
    }
  }

  accept(offer: IncomingTransfer, checked: ReceiveChecked, signal: AbortSignal | undefined, job: TransferJob): TransferJob {
    let writer: ExtentWriteStream;
    try {
      const { target, size: _size, ...writeOptions } = checked.writer;
      writer = createExtentWriteStream(target, { ...writeOptions, size: offer.size });
      writer.owner = `transfer job ${job.id}`;
    } catch (error) {
      this.refuse(offer.id, describeError(error));
      job.fail(error as Error);
      return job;
    }
    const incoming: Incoming = { wireId: offer.id, job, writer, tally: new ImageTally(offer.size, false), full: false, ending: false };
    writer.placedBy(incoming.tally);
    this.#active.set(offer.id, incoming);
    const { idleTimeout } = this.link;
    if (idleTimeout > 0) incoming.idle = setTimeout(() => this.#onIdle(incoming), idleTimeout).unref();
    writer.on('error', (error) => this.#stop(incoming, error, true));
    writer.on('drain', () => {
      incoming.full = false;
      this.updateFlow();
    });
    job.onStop((error) => this.#stop(incoming, error, true));
    job.begin(offer.name, offer.size);
    if (this.#resuming) this.#sendDigests(incoming, checked, offer.size);
    signal?.addEventListener('abort', () => void job.cancel({ wait: false }), { once: true });
    if (signal?.aborted) void job.cancel({ wait: false });
    return job;
  }

  /** Answers a transfer with ERROR and drops whatever else arrives for it. */
  refuse(wireId: number, why: { code: string; message: string }): void {
    this.#drop(wireId);
    this.#reply({ type: 'error', id: wireId, reply: true, ...why });
  }

  /**
   * Reads the input only while every writer keeps up and the peer reads our
   * replies: a peer that floods us with frames to refuse, and never reads the
   * refusals, stops being read instead of growing our memory.
   */
  updateFlow(): void {
    const input = this.link.input;
    let hold = this.link.output?.backlogged ?? false;
    for (const i of this.#active.values()) hold ||= i.full;
    if (hold === this.#paused || this.#inputEnded || !input) return;
    this.#paused = hold;
    if (hold) {
      input.pause();
    } else {
      // Our own pause is over: the senders' idle clocks start again.
      for (const i of this.#active.values()) i.idle?.refresh();
      input.resume();
    }
  }

  /** The input ended: transfers whose END has not come fail, without a word to the peer. */
  inputEnded(lost: Error): void {
    this.#inputEnded = true;
    for (const incoming of [...this.#active.values()]) if (!incoming.ending) this.#stop(incoming, lost, false);
  }

  /** Every transfer being received fails with `error`. */
  failAll(error: Error): void {
    for (const incoming of [...this.#active.values()]) this.#stop(incoming, error, false);
  }

  /**
   * A resuming sender waits for the digests of the blocks this end's
   * destination holds of the image (none where it is shorter, or new); frames
   * before they are sent are refused.
   */
  #sendDigests(incoming: Incoming, checked: ReceiveChecked, size: number): void {
    incoming.held = null;
    if (size > MAX_RESUME_BYTES) return this.#stop(incoming, resumeTooBig(size), true);
    const { target, offset, format, nbdTimeout } = checked.writer;
    const engine = engineTarget(target, format, ONE_CONNECTION, nbdTimeout);
    incoming.hashing = new addon.NativeDigest(engine, { offset, length: size, progressInterval: 2 ** 31 - 1, progressDelay: 0, blocks: true }, (kind, payload) => {
      if (kind !== 'end') return;
      incoming.hashing = undefined;
      if (incoming.job.status !== 'running') return;
      const outcome = payload as NativeDigestOutcome;
      const nothing = outcome.error?.kind === 'system' && outcome.error.errno === ENOENT; // not created yet
      if (outcome.ending !== 'completed' && !nothing) {
        return this.#stop(incoming, outcome.error ? fromNative(outcome.error, target) : new AbortError(), true);
      }
      // An empty destination (or range) holds no blocks, and the engine hands back no lists.
      const digests = outcome.blockDigests ?? Buffer.alloc(0);
      incoming.held = { count: digests.length / DIGEST_BYTES, sums: outcome.blockSums ?? Buffer.alloc(0), kept: 0n };
      for (let first = 0; first * DIGEST_BYTES < digests.length; first += MAX_DIGESTS) {
        this.#reply({ type: 'digests', id: incoming.wireId, first, digests: digests.subarray(first * DIGEST_BYTES, (first + MAX_DIGESTS) * DIGEST_BYTES) });
      }
      this.#reply({ type: 'digests', id: incoming.wireId, first: incoming.held.count, digests: Buffer.alloc(0) });
    });
  }

  /** The sender of an incoming transfer has gone quiet (not our own pause: that waits on our disk). */
  #onIdle(incoming: Incoming): void {
    if (this.#paused) {
      incoming.idle?.refresh();
      return;
    }
    this.#stop(incoming, timedOut(`transfer ${incoming.wireId} received nothing for ${this.link.idleTimeout / 1000} s`), true);
  }

  /** Remembers a refused or failed id, forgetting the oldest beyond MAX_DROPPED (their senders have long stopped). */
  #drop(wireId: number): void {
    this.#dropped.add(wireId);
    if (this.#dropped.size > MAX_DROPPED) this.#dropped.delete(this.#dropped.values().next().value!);
  }

  #toWriter(incoming: Incoming, item: ExtentItem): void {
    if (!incoming.writer.write(item) && !incoming.full) {
      // Bounded memory: the stream waits while any writer is behind.
      incoming.full = true;
      this.updateFlow();
    }
  }

  /** END arrived: once the writer has finished, what it wrote and summed decides OK or ERROR. */
  #finish(incoming: Incoming, end: Frame & { type: 'end' }): void {
    const { writer, job, wireId } = incoming;
    incoming.full = false;
    incoming.ending = true;
    clearTimeout(incoming.idle); // the sender is done; the flush that follows is ours to wait for
    this.updateFlow();
    writer.end((error?: Error | null) => {
      // A failure in the last writes, the final size or the flush is the answer (EFBIG, EIO...).
      const failed = error ?? writer.errored;
      if (failed) return this.#stop(incoming, failed, true);
      if (job.status !== 'running') return; // already answered
      const result = writer.result!;
      try {
        checkEnd(end, { dataBytes: incoming.tally.dataBytes, checksum: withKept(result.checksum, incoming.held?.kept ?? 0n) });
      } catch (error) {
        this.#stop(incoming, error as Error, true);
        return;
      }
      this.#active.delete(wireId);
      this.#reply({ type: 'ok', id: wireId, bytesWritten: result.bytesWritten });
      job.complete(end.checksum, result);
    });
  }

  /** Fails an incoming transfer: its writer stops, the sender hears why (when `tell`). */
  #stop(incoming: Incoming, error: Error, tell: boolean): void {
    if (incoming.job.status !== 'running') return;
    clearTimeout(incoming.idle);
    const wasActive = this.#active.delete(incoming.wireId);
    if (wasActive && tell) this.#drop(incoming.wireId);
    if (tell) this.#reply({ type: 'error', id: incoming.wireId, reply: true, ...describeError(error) });
    incoming.full = false;
    if (!incoming.writer.destroyed) incoming.writer.destroy(error);
    incoming.hashing?.cancel();
    incoming.job.fail(error);
    this.updateFlow();
  }

  #reply(frame: Frame): void {
    const { output, handshake } = this.link;
    if (output && handshake && !this.link.broken()) output.reply(frame);
  }
}
