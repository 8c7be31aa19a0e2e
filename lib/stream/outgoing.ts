// The sending half of a Connection: images wait their turn (at most
// maxTransfers at once), each is read by the engine and written frame by
// frame, interleaved with the others, and settles on the receiver's OK or
// ERROR (or, without a handshake, once its END is written).
import { AbortError } from '../errors';
import type { SameItem } from '../native';
import type { SendChecked } from '../options';
import type { Target } from '../types';
import { describeError, RemoteError, SENDER_CANCELLED, timedOut } from './errors';
import { createExtentReadStream, type ExtentItem, type ExtentReadStreamOptions } from './extent_streams';
import type { FrameOutput } from './frame_output';
import { DIGEST_BYTES, encodeFrame, type Frame, itemFrame, StreamFormatError } from './format';
import { DIGEST_BLOCK, MAX_RESUME_BYTES, resumeTooBig } from './tally';
import { TransferJob } from './transfer_job';

/** The slowest a receiver is taken to read its destination while it owes us an answer (see #awaitPeer). */
const PEER_READ_RATE = 20e6;

interface Outgoing {
  wireId: number;
  job: TransferJob;
  options: SendChecked;
  reader: ReturnType<typeof createExtentReadStream>;
  checksum?: string;
  begun: boolean; // BEGIN is on the wire: the receiver knows the id
  stopped: boolean;
  /** Fails the transfer when the receiver leaves a wait of ours (its DIGESTS, its answer to END) unanswered. */
  waiting?: NodeJS.Timeout;
  /** Resuming: the receiver's block digests as they arrive, until the empty DIGESTS frame. */
  theirs?: { parts: Buffer[]; count: number; most: number; done: (digests: Buffer) => void; failed: (error: Error) => void };
}

export interface SenderLink {
  readonly output: FrameOutput;
  readonly maxTransfers: number;
  /** Wait for the receiver's answer before a transfer settles. */
  readonly handshake: boolean;
  /** Milliseconds the receiver may leave a wait of ours unanswered; 0: no limit. */
  readonly idleTimeout: number;
  broken(): Error | undefined;
}

export class Sender {
  #nextWireId = 1;
  readonly #going = new Map<number, Outgoing>();
  readonly #waiting: Outgoing[] = [];
  /** Settles once the last started transfer's BEGIN is written (or it never will be). */
  #lastBegin: Promise<void> = Promise.resolve();

  constructor(private readonly link: SenderLink) {}

  /** Queues an image; its job starts when a turn is free. The arguments are checked already. */
  send(target: Target, checked: SendChecked): TransferJob {
    const job = new TransferJob(checked.progressInterval);
    // Opened now, so a file that cannot be read fails the job before its turn comes.
    const reader = createExtentReadStream(target, readerOptions(checked));
    reader.on('error', () => {}); // reported through the job
    const o: Outgoing = { wireId: this.#nextWireId++, job, options: checked, reader, begun: false, stopped: false };
    const { signal } = checked;
    signal?.addEventListener('abort', () => void job.cancel({ wait: false }), { once: true });
    const broken = this.link.broken();
    if (broken || signal?.aborted) {
      reader.destroy();
      job.fail(broken ?? new AbortError(undefined, { cause: signal?.reason }));
      return job;
    }
    job.once('cancelled', () => this.#dropWaiting(o));
    this.#waiting.push(o);
    this.#startWaiting();
    return job;
  }

  /** Settles once no transfer is queued or going. */
  async idle(): Promise<void> {
    for (;;) {
      const going = [...this.#going.values(), ...this.#waiting].filter((o) => o.job.status === 'queued' || o.job.status === 'running');
      if (going.length === 0) return;
      await Promise.all(going.map((o) => o.job.done.catch(() => {})));
    }
  }

  get busy(): boolean {
    return this.#going.size > 0 || this.#waiting.length > 0;
  }

  /** The receiver's OK, ERROR or DIGESTS for one of ours. */
  onReply(frame: Frame & { type: 'ok' | 'error' | 'digests' }): void {
    const o = this.#going.get(frame.id);
    if (!o) return; // an answer to a transfer we already gave up on
    if (frame.type === 'digests') return this.#onDigests(o, frame);
    if (frame.type === 'ok') {
      if (o.checksum === undefined) {
        this.#stop(o, new StreamFormatError('the receiver answered OK before the image was sent'));
      } else {
        this.#finish(o, () => o.job.complete(o.checksum!, { bytesWritten: frame.bytesWritten }));
      }
      return;
    }
    o.stopped = true;
    o.reader.destroy();
    this.#finish(o, () => o.job.fail(new RemoteError(frame.code, frame.message)));
  }

  /** Every transfer, going or waiting, fails with `error`; the receiver is not told. */
  failAll(error: Error): void {
    for (const o of [...this.#going.values()]) this.#stop(o, error);
    for (const o of this.#waiting.splice(0)) {
      o.reader.destroy();
      o.job.fail(error);
    }
  }

  #startWaiting(): void {
    while (this.#going.size < this.link.maxTransfers && this.#waiting.length > 0) {
      const o = this.#waiting.shift()!;
      this.#going.set(o.wireId, o);
      void this.#run(o);
    }
  }

  #dropWaiting(o: Outgoing): void {
    const i = this.#waiting.indexOf(o);
    if (i >= 0) {
      this.#waiting.splice(i, 1);
      o.reader.destroy();
    }
  }

  async #run(o: Outgoing): Promise<void> {
    const { job, wireId, reader } = o;
    const { output } = this.link;
    job.onStop((error) => this.#stop(o, error, SENDER_CANCELLED));
    // Transfers begin on the wire in the order they were sent, whichever file opens first.
    const turn = this.#lastBegin;
    let begun!: () => void;
    this.#lastBegin = new Promise((resolve) => (begun = resolve));
    try {
      const info = await reader.ready();
      await turn;
      if (o.stopped) return;
      const { name, resume } = o.options;
      if (resume && info.size > MAX_RESUME_BYTES) throw resumeTooBig(info.size);
      job.begin(name, info.size);
      o.begun = true;
      if (resume) reader.resumeFrom(this.#awaitDigests(o, info.size));
      const beginWritten = output.write(encodeFrame({ type: 'begin', id: wireId, size: info.size, dataBytes: info.dataBytes, name, resume }));
      begun();
      await beginWritten;
      if (resume) this.#awaitPeer(o, 'sent no block digests', info.size);
      // The engine's reader makes pieces a frame can carry, in order, and sums them.
      let dataBytes = 0;
      for await (const item of reader as AsyncIterable<ExtentItem | SameItem>) {
        if (o.stopped) return;
        await output.write(encodeFrame(itemFrame(wireId, item)));
        if (item.type === 'data') dataBytes += item.data.length;
        job.advance(item);
      }
      if (o.stopped) return;
      o.checksum = reader.checksum();
      await output.write(encodeFrame({ type: 'end', id: wireId, dataBytes, checksum: o.checksum }), true);
      if (!this.link.handshake) this.#finish(o, () => job.complete(o.checksum!));
      // else: the receiver's OK or ERROR settles it (onReply), unless it arrived already
      else this.#awaitPeer(o, 'sent no answer to END', info.size);
    } catch (error) {
      if (!o.stopped) this.#stop(o, error as Error, describeError(error));
    } finally {
      begun();
    }
  }

  /** The receiver answers a resuming BEGIN with its digests; reading waits for them. */
  #awaitDigests(o: Outgoing, size: number): Promise<Buffer> {
    const theirs = new Promise<Buffer>((done, failed) => {
      o.theirs = { parts: [], count: 0, most: Math.ceil(size / DIGEST_BLOCK), done, failed };
    });
    theirs.catch(() => {}); // a transfer stopped before its reader asked: the job carries the error
    return theirs;
  }

  /**
   * The receiver owes us a frame: `what` it failed to do is the error's
   * message once the wait passes without one. Before it answers, an honest
   * receiver may read its whole destination (to hash it for a resume, to
   * verify it before OK), and sends nothing meanwhile: the wait is the idle
   * limit plus the time to read `imageBytes` at PEER_READ_RATE. A frame that
   * arrives restarts the clock (refresh), the end of the wait clears it (#finish).
   */
  #awaitPeer(o: Outgoing, what: string, imageBytes: number): void {
    clearTimeout(o.waiting);
    o.waiting = undefined;
    const { idleTimeout } = this.link;
    if (o.stopped || idleTimeout === 0) return;
    const reading = Math.ceil((imageBytes / PEER_READ_RATE) * 1000);
    const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
    o.waiting = setTimeout(() => {
      const error = timedOut(
        `the receiver ${what} for ${seconds(idleTimeout + reading)} s (the idle limit of ${seconds(idleTimeout)} s, ` +
          `and ${seconds(reading)} s to read the ${imageBytes}-byte image at ${PEER_READ_RATE / 1e6} MB/s)`,
      );
      this.#stop(o, error, describeError(error));
    }, idleTimeout + reading);
  }

  /** In order, never more than the image has blocks; an empty frame ends the list. */
  #onDigests(o: Outgoing, frame: Frame & { type: 'digests' }): void {
    const theirs = o.theirs;
    const count = frame.digests.length / DIGEST_BYTES;
    let wrong: string | undefined;
    if (!theirs) wrong = 'DIGESTS for a transfer that did not ask to resume';
    else if (frame.first !== theirs.count) wrong = `DIGESTS from block ${frame.first}, expected block ${theirs.count}`;
    else if (theirs.count + count > theirs.most) wrong = `DIGESTS for more blocks than the image has (${theirs.most})`;
    if (wrong || !theirs) return this.#stop(o, new StreamFormatError(wrong), describeError(new StreamFormatError(wrong)));
    o.waiting?.refresh();
    if (count === 0) {
      clearTimeout(o.waiting);
      o.waiting = undefined;
      o.theirs = undefined;
      theirs.done(Buffer.concat(theirs.parts));
      return;
    }
    theirs.parts.push(Buffer.from(frame.digests)); // a copy: the parser's buffer is reused
    theirs.count += count;
  }

  /** Stops a transfer and tells the receiver why (when it can still be told). */
  #stop(o: Outgoing, error: Error, tell?: { code: string; message: string }): void {
    if (o.stopped) return;
    o.stopped = true;
    o.theirs?.failed(error);
    o.reader.destroy();
    if (tell && o.begun && !this.link.broken()) {
      void this.link.output.write(encodeFrame({ type: 'error', id: o.wireId, reply: false, ...tell })).catch(() => {});
    }
    this.#finish(o, () => o.job.fail(error));
  }

  #finish(o: Outgoing, settle: () => void): void {
    o.stopped = true;
    clearTimeout(o.waiting);
    this.#going.delete(o.wireId);
    settle();
    this.#startWaiting();
  }
}

function readerOptions(checked: SendChecked): ExtentReadStreamOptions {
  const { offset, length, sparse, format } = checked.reader;
  return length === undefined ? { offset, sparse, format } : { offset, length, sparse, format };
}
