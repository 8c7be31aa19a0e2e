// A Connection carries image transfers over a stream: outgoing ones read
// from files and sent frame by frame, interleaved so a large image never
// stalls a small one; incoming ones written to files. Over a duplex (a
// socket) every transfer is answered with OK or ERROR, and a sender resolves
// only on that answer. send() and receive() are the one-transfer case.
import { EventEmitter } from 'node:events';
import { Duplex, type Readable, Transform, type Writable } from 'node:stream';
import { AbortError, invalidArgType } from '../errors';
import { checkConnectionArgs, checkReceiveArgs, checkSendArgs, checkStream, checkTarget, type ReceiveChecked, type SendChecked } from '../options';
import type { Target } from '../types';
import { createExtentReadStream, createExtentWriteStream, type ExtentItem, type ExtentReadStreamOptions, type ExtentWriteStream, type ExtentWriteStreamOptions } from './extent_streams';
import { encodeFrame, type Frame, frameItem, FrameParser, itemFrame, preface, StreamFormatError } from './format';
import { RemoteError } from './remote_error';
import { checkEnd } from './tally';
import { TransferJob } from './transfer_job';
import { TransferLimit } from './transfer_limit';

export interface ConnectionOptions {
  /** Transfers sent at once (more wait their turn), and received at once (more are refused). Default 4. */
  maxTransfers?: number;
  /** Wait for the receiver's OK or ERROR; default: when the connection can be read from. */
  handshake?: boolean;
  /**
   * Milliseconds an incoming transfer may go without a frame before it fails
   * (ETIMEDOUT, and the sender is told), and a peer may leave our replies
   * unread before the connection is dropped. 0: no limit. Default 120000.
   */
  idleTimeout?: number;
  /** A limit shared with other connections (a server's): transfers received at once across all of them. */
  limit?: TransferLimit;
}

export interface SendOptions extends ExtentReadStreamOptions {
  /** A name for the receiver, e.g. the image's file name. */
  name?: string;
  progressInterval?: number;
  signal?: AbortSignal;
}

export interface ReceiveOptions extends Omit<ExtentWriteStreamOptions, 'size'> {
  progressInterval?: number;
  signal?: AbortSignal;
}

/** Reply bytes waiting for the peer to read them beyond which we stop reading its frames. */
const REPLY_BACKLOG = 64 * 1024;
/** Refused transfer ids remembered (their late frames are dropped quietly); the oldest are forgotten first. */
const MAX_DROPPED = 1024;

/** A code and message fit for an ERROR frame, from any error. */
function describeError(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'ERR_BLOCKCOPY_REMOTE', message: String(e?.message ?? error) };
}

function connectionLost(detail: string): Error {
  return Object.assign(new Error(`the connection closed ${detail}`), { code: 'ECONNRESET' });
}

/** receive()'s stream carries one image: anything after its END is not what the sender claimed. */
export function afterEnd(what: string): StreamFormatError {
  return new StreamFormatError(`the stream goes on after the image's END (${what})`);
}

function timedOut(detail: string): Error {
  return Object.assign(new Error(`ETIMEDOUT: ${detail}`), { code: 'ETIMEDOUT' });
}

interface Outgoing {
  wireId: number;
  job: TransferJob;
  options: SendChecked;
  reader: ReturnType<typeof createExtentReadStream>;
  checksum?: string;
  begun: boolean; // BEGIN is on the wire: the receiver knows the id
  stopped: boolean;
}

interface Incoming {
  wireId: number;
  job: TransferJob;
  writer: ExtentWriteStream;
  full: boolean; // its writer asked us to wait
  ending: boolean; // END arrived; the writer is finishing
  idle?: NodeJS.Timeout; // fails the transfer when its sender goes quiet
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
    private readonly connection: Connection,
  ) {}

  /** Writes the image into `target`. Bad arguments throw here (and the sender hears why). */
  accept(target: Target, options?: ReceiveOptions, job?: TransferJob): TransferJob {
    if (this.#settled) throw new Error(`transfer ${this.id} was already accepted or rejected`);
    const checked = checkReceiveArgs(target, options);
    this.#settled = true;
    return this.connection._accept(this, checked, options?.signal, job ?? new TransferJob(checked.progressInterval));
  }

  reject(error: { code?: string; message: string }): void {
    if (this.#settled) throw new Error(`transfer ${this.id} was already accepted or rejected`);
    this.#settled = true;
    this.connection._refuse(this.id, describeError(error));
  }

  /** @internal */
  get settled(): boolean {
    return this.#settled;
  }
}

export interface ConnectionEvents {
  transfer: [IncomingTransfer];
  /** The connection as a whole failed (malformed input, the stream broke). Transfers fail on their own too. */
  error: [Error];
  close: [];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly #input: Readable | null;
  readonly #output: Writable | null;
  readonly #maxTransfers: number;
  readonly #handshake: boolean;
  readonly #idleTimeout: number;
  readonly #limit: TransferLimit | undefined;
  readonly #parser = new FrameParser();
  #nextWireId = 1;
  readonly #outgoing = new Map<number, Outgoing>();
  readonly #waiting: Outgoing[] = [];
  readonly #incoming = new Map<number, Incoming>();
  /** Incoming ids refused or failed: their remaining frames are dropped until END or ERROR. */
  readonly #dropped = new Set<number>();
  #writeTail: Promise<void> = Promise.resolve();
  /** Replies not yet handed to the output, whole frames; they wait while it needs a drain. */
  #replies: Buffer[][] = [];
  #replyBytes = 0;
  #repliesUnread: NodeJS.Timeout | undefined;
  #paused = false;
  #oneImage = false;
  #imageEnded = false;
  #broken: Error | undefined;
  #inputEnded = false;

  constructor(input: Readable | null, output: Writable | null, options: ConnectionOptions = {}) {
    super();
    const checked = checkConnectionArgs(input, output, options);
    if (checked.limit !== undefined && !(checked.limit instanceof TransferLimit)) {
      throw invalidArgType('options.limit', 'an instance of TransferLimit', checked.limit);
    }
    this.#input = input;
    this.#output = output;
    this.#maxTransfers = checked.maxTransfers;
    this.#idleTimeout = checked.idleTimeout;
    this.#limit = checked.limit;
    this.#handshake = checked.handshake ?? input !== null;
    if (output) {
      output.on('error', (error: Error) => this.#fail(error, false));
      output.on('close', () => this.#outputClosed());
      output.on('drain', () => this.#flushReplies());
      void this.#write([preface()]).catch(() => {});
    }
    if (input) {
      input.on('data', (chunk: Buffer) => this.#onBytes(chunk));
      input.on('end', () => this.#onInputEnd());
      input.on('error', (error: Error) => this.#fail(error, false));
      input.on('close', () => this.#onInputEnd());
    }
  }

  /** A connection over one duplex stream (a socket): both directions, with replies. */
  static over(duplex: Duplex, options?: ConnectionOptions): Connection {
    return new Connection(duplex, duplex, options);
  }

  /** Sends an image; it waits its turn when maxTransfers are already going. Bad arguments throw here. */
  send(target: Target, options: SendOptions = {}): TransferJob {
    if (!this.#output) throw new Error('this connection cannot send: it has no writable side');
    const checked = checkSendArgs(target, options);
    const job = new TransferJob(checked.progressInterval);
    // Opened now, so a file that cannot be read fails the job before its turn comes.
    const reader = createExtentReadStream(target, readerOptions(checked));
    reader.on('error', () => {}); // reported through the job
    const o: Outgoing = { wireId: this.#nextWireId++, job, options: checked, reader, begun: false, stopped: false };
    const { signal } = checked;
    signal?.addEventListener('abort', () => void job.cancel({ wait: false }), { once: true });
    if (this.#broken || signal?.aborted) {
      reader.destroy();
      job.fail(this.#broken ?? new AbortError(undefined, { cause: signal?.reason }));
      return job;
    }
    job.once('cancelled', () => this.#dropWaiting(o));
    this.#waiting.push(o);
    this.#startWaiting();
    return job;
  }

  /** Ends the writable side once every outgoing transfer is done. */
  async end(): Promise<void> {
    for (;;) {
      const going = [...this.#outgoing.values(), ...this.#waiting].filter((o) => o.job.status === 'queued' || o.job.status === 'running');
      if (going.length === 0) break;
      await Promise.all(going.map((o) => o.job.done.catch(() => {})));
    }
    await this.#writeTail;
    if (this.#output && !this.#output.writableEnded) {
      // Answers still queued behind a full output go out before the end, whatever it holds.
      for (const parts of this.#replies.splice(0)) for (const part of parts) this.#output.write(part);
      this.#replyBytes = 0;
      await new Promise<void>((resolve) => this.#output!.end(() => resolve()));
    }
  }

  /** Tears the connection down: every transfer still going fails with `error`. */
  destroy(error: Error = connectionLost('(destroyed)')): void {
    this.#fail(error, true);
  }

  // ---- sending -----------------------------------------------------------------

  #startWaiting(): void {
    while (this.#outgoing.size < this.#maxTransfers && this.#waiting.length > 0) {
      const o = this.#waiting.shift()!;
      this.#outgoing.set(o.wireId, o);
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
    job.onStop((error) => this.#stopOutgoing(o, error, { code: 'ABORT_ERR', message: 'the sender cancelled the transfer' }));
    try {
      const info = await reader.ready();
      if (o.stopped) return;
      const { name } = o.options;
      job.begin(name, info.size);
      o.begun = true;
      await this.#write(encodeFrame({ type: 'begin', id: wireId, size: info.size, dataBytes: info.dataBytes, name }));
      // The engine's reader makes pieces a frame can carry, in order, and sums them.
      let dataBytes = 0;
      for await (const item of reader as AsyncIterable<ExtentItem>) {
        if (o.stopped) return;
        await this.#write(encodeFrame(itemFrame(wireId, item)));
        if (item.type === 'data') dataBytes += item.data.length;
        job.advance(item);
      }
      if (o.stopped) return;
      o.checksum = reader.checksum();
      await this.#write(encodeFrame({ type: 'end', id: wireId, dataBytes, checksum: o.checksum }), true);
      if (!this.#handshake) this.#finishOutgoing(o, () => job.complete(o.checksum!));
      // else: the receiver's OK or ERROR settles it (#onReply)
    } catch (error) {
      if (!o.stopped) this.#stopOutgoing(o, error as Error, describeError(error));
    }
  }

  /** Stops an outgoing transfer and tells the receiver why (when it can still be told). */
  #stopOutgoing(o: Outgoing, error: Error, tell?: { code: string; message: string }): void {
    if (o.stopped) return;
    o.stopped = true;
    o.reader.destroy();
    if (tell && o.begun && !this.#broken) void this.#write(encodeFrame({ type: 'error', id: o.wireId, reply: false, ...tell })).catch(() => {});
    this.#finishOutgoing(o, () => o.job.fail(error));
  }

  #finishOutgoing(o: Outgoing, settle: () => void): void {
    o.stopped = true;
    this.#outgoing.delete(o.wireId);
    settle();
    this.#startWaiting();
  }

  #onReply(frame: Frame & { type: 'ok' | 'error' }): void {
    const o = this.#outgoing.get(frame.id);
    if (!o) return; // an answer to a transfer we already gave up on
    if (frame.type === 'ok') {
      if (o.checksum === undefined) {
        this.#stopOutgoing(o, new StreamFormatError('the receiver answered OK before the image was sent'));
      } else {
        this.#finishOutgoing(o, () => o.job.complete(o.checksum!, frame.bytesWritten));
      }
      return;
    }
    o.stopped = true;
    o.reader.destroy();
    this.#finishOutgoing(o, () => o.job.fail(new RemoteError(frame.code, frame.message)));
  }

  // ---- receiving ---------------------------------------------------------------

  #onBytes(chunk: Buffer): void {
    if (this.#broken) return;
    if (this.#imageEnded) return this.#fail(afterEnd(`at least ${chunk.length} more bytes`), true);
    const { frames, error } = this.#parser.push(chunk);
    for (const frame of frames) {
      if (this.#broken) return;
      if (this.#imageEnded) return this.#fail(afterEnd(`a ${frame.type.toUpperCase()} frame`), true);
      this.#dispatch(frame);
    }
    if (this.#broken) return;
    if (this.#imageEnded && (error || this.#parser.buffered > 0)) return this.#fail(afterEnd('bytes that are no frame'), true);
    if (error) this.#fail(error, true);
  }

  #dispatch(frame: Frame): void {
    if (frame.type === 'ok' || (frame.type === 'error' && frame.reply)) return this.#onReply(frame);
    if (frame.type === 'error' && frame.id === 0) return this.#fail(new RemoteError(frame.code, frame.message), false);
    if (frame.type === 'begin') return this.#onBegin(frame);
    const incoming = this.#incoming.get(frame.id);
    if (!incoming) {
      if (!this.#dropped.has(frame.id)) return this.#fail(new StreamFormatError(`a ${frame.type.toUpperCase()} frame for transfer ${frame.id}, which never began`), true);
      if (frame.type === 'end' || frame.type === 'error') this.#dropped.delete(frame.id);
      return;
    }
    incoming.idle?.refresh();
    try {
      if (incoming.ending) throw new StreamFormatError(`a ${frame.type.toUpperCase()} frame for transfer ${frame.id} after its END`);
      switch (frame.type) {
        case 'data':
        case 'hole':
          // The writer checks where each piece goes before anything is written.
          this.#toWriter(incoming, frameItem(frame));
          return;
        case 'end':
          if (this.#oneImage) this.#imageEnded = true;
          this.#finishIncoming(incoming, frame);
          return;
        case 'error':
          this.#stopIncoming(incoming, new RemoteError(frame.code, frame.message), false);
          return;
      }
    } catch (error) {
      // Malformed or wrong for this transfer: it fails alone, the others go on.
      this.#stopIncoming(incoming, error as Error, true);
    }
  }

  #onBegin(frame: Frame & { type: 'begin' }): void {
    if (this.#incoming.has(frame.id) || this.#dropped.has(frame.id)) {
      return this.#fail(new StreamFormatError(`transfer ${frame.id} began twice`), true);
    }
    const refuse = (code: string, message: string) => this._refuse(frame.id, { code, message });
    if (this.#incoming.size >= this.#maxTransfers) {
      return refuse('ERR_BLOCKCOPY_TOO_MANY_TRANSFERS', `this end takes at most ${this.#maxTransfers} transfers at once`);
    }
    if (this.#limit && !this.#limit.take()) {
      return refuse('ERR_BLOCKCOPY_TOO_MANY_TRANSFERS', `this server takes at most ${this.#limit.max} transfers at once`);
    }
    const offer = new IncomingTransfer(frame.id, frame.name, frame.size, frame.dataBytes, this);
    try {
      this.emit('transfer', offer);
    } catch (error) {
      if (!offer.settled) refuse(describeError(error).code, describeError(error).message);
    }
    // Frames follow at once, so the decision cannot wait.
    if (!offer.settled) refuse('ERR_BLOCKCOPY_NOT_ACCEPTED', 'nobody at this end accepted the transfer');
    const limit = this.#limit;
    if (!limit) return;
    const incoming = this.#incoming.get(frame.id);
    if (incoming) void incoming.job.done.then(() => limit.give(), () => limit.give());
    else limit.give();
  }

  /** @internal */
  _accept(offer: IncomingTransfer, checked: ReceiveChecked, signal: AbortSignal | undefined, job: TransferJob): TransferJob {
    let writer: ExtentWriteStream;
    try {
      const { target, size: _size, ...writeOptions } = checked.writer;
      writer = createExtentWriteStream(target, { ...writeOptions, size: offer.size });
      writer.owner = `transfer job ${job.id}`;
    } catch (error) {
      this._refuse(offer.id, describeError(error));
      job.fail(error as Error);
      return job;
    }
    const incoming: Incoming = { wireId: offer.id, job, writer, full: false, ending: false };
    writer.onAccepted = (piece) => job.advance(piece);
    this.#incoming.set(offer.id, incoming);
    if (this.#idleTimeout > 0) incoming.idle = setTimeout(() => this.#onIdle(incoming), this.#idleTimeout).unref();
    writer.on('error', (error) => this.#stopIncoming(incoming, error, true));
    writer.on('drain', () => {
      incoming.full = false;
      this.#updateFlow();
    });
    job.onStop((error) => this.#stopIncoming(incoming, error, true));
    job.begin(offer.name, offer.size);
    signal?.addEventListener('abort', () => void job.cancel({ wait: false }), { once: true });
    if (signal?.aborted) void job.cancel({ wait: false });
    return job;
  }

  /** The sender of an incoming transfer has gone quiet (not our own pause: that waits on our disk). */
  #onIdle(incoming: Incoming): void {
    if (this.#paused) {
      incoming.idle?.refresh();
      return;
    }
    this.#stopIncoming(incoming, timedOut(`transfer ${incoming.wireId} received nothing for ${this.#idleTimeout / 1000} s`), true);
  }

  /** @internal Answers a transfer with ERROR and drops whatever else arrives for it. */
  _refuse(wireId: number, why: { code: string; message: string }): void {
    this.#drop(wireId);
    this.#reply({ type: 'error', id: wireId, reply: true, ...why });
  }

  /** Remembers a refused or failed id, forgetting the oldest beyond MAX_DROPPED (their senders have long stopped). */
  #drop(wireId: number): void {
    this.#dropped.add(wireId);
    if (this.#dropped.size > MAX_DROPPED) this.#dropped.delete(this.#dropped.values().next().value!);
  }

  /** @internal receive(): one image, and nothing may follow its END. */
  _oneImage(): void {
    this.#oneImage = true;
  }

  #toWriter(incoming: Incoming, item: ExtentItem): void {
    if (!incoming.writer.write(item) && !incoming.full) {
      // Bounded memory: the stream waits while any writer is behind.
      incoming.full = true;
      this.#updateFlow();
    }
  }

  /**
   * Reads the input only while every writer keeps up and the peer reads our
   * replies: a peer that floods us with frames to refuse, and never reads the
   * refusals, stops being read instead of growing our memory.
   */
  #updateFlow(): void {
    let hold = this.#replyBytes > REPLY_BACKLOG;
    for (const i of this.#incoming.values()) hold ||= i.full;
    if (hold === this.#paused || this.#inputEnded || !this.#input) return;
    this.#paused = hold;
    if (hold) {
      this.#input.pause();
    } else {
      // Our own pause is over: the senders' idle clocks start again.
      for (const i of this.#incoming.values()) i.idle?.refresh();
      this.#input.resume();
    }
  }

  /** END arrived: once the writer has finished, what it wrote and summed decides OK or ERROR. */
  #finishIncoming(incoming: Incoming, end: Frame & { type: 'end' }): void {
    const { writer, job, wireId } = incoming;
    incoming.full = false;
    incoming.ending = true;
    clearTimeout(incoming.idle); // the sender is done; the flush that follows is ours to wait for
    this.#updateFlow();
    writer.end((error?: Error | null) => {
      // A failure in the last writes, the final size or the flush is the answer (EFBIG, EIO...).
      const failed = error ?? writer.errored;
      if (failed) return this.#stopIncoming(incoming, failed, true);
      if (job.status !== 'running') return; // already answered
      const result = writer.result!;
      try {
        checkEnd(end, result); // the writer checked that its pieces covered the image
      } catch (error) {
        this.#stopIncoming(incoming, error as Error, true);
        return;
      }
      this.#incoming.delete(wireId);
      this.#reply({ type: 'ok', id: wireId, bytesWritten: result.bytesWritten });
      job.complete(end.checksum, result.bytesWritten);
    });
  }

  /** Fails an incoming transfer: its writer stops, the sender hears why (when `tell`). */
  #stopIncoming(incoming: Incoming, error: Error, tell: boolean): void {
    if (incoming.job.status !== 'running') return;
    clearTimeout(incoming.idle);
    const wasActive = this.#incoming.delete(incoming.wireId);
    if (wasActive && tell) this.#drop(incoming.wireId);
    if (tell) this.#reply({ type: 'error', id: incoming.wireId, reply: true, ...describeError(error) });
    incoming.full = false;
    if (!incoming.writer.destroyed) incoming.writer.destroy(error);
    incoming.job.fail(error);
    this.#updateFlow();
  }

  /** Queues an answer (OK or ERROR) to a transfer the peer sent. */
  #reply(frame: Frame): void {
    if (!this.#output || !this.#handshake || this.#broken) return;
    const parts = encodeFrame(frame);
    this.#replies.push(parts);
    for (const part of parts) this.#replyBytes += part.length;
    this.#flushReplies();
  }

  /**
   * Hands queued replies to the output while it takes them without buffering
   * more; the rest wait for its 'drain'. Whole frames only, between the frames
   * #write sends, so nothing interleaves inside a frame.
   */
  #flushReplies(): void {
    const out = this.#output;
    if (!out || this.#broken) return;
    while (this.#replies.length > 0 && !out.writableNeedDrain && !out.destroyed) {
      for (const part of this.#replies.shift()!) {
        out.write(part);
        this.#replyBytes -= part.length;
      }
    }
    const backlogged = this.#replyBytes > REPLY_BACKLOG;
    if (backlogged && !this.#repliesUnread && this.#idleTimeout > 0) {
      this.#repliesUnread = setTimeout(() => this.#onRepliesUnread(), this.#idleTimeout).unref();
    } else if (!backlogged && this.#repliesUnread) {
      clearTimeout(this.#repliesUnread);
      this.#repliesUnread = undefined;
    }
    this.#updateFlow();
  }

  #onRepliesUnread(): void {
    this.#repliesUnread = undefined;
    if (this.#replyBytes <= REPLY_BACKLOG) return;
    this.#fail(timedOut(`the other end has not read our replies for ${this.#idleTimeout / 1000} s; disconnecting`), false);
    this.#replies = [];
    this.#replyBytes = 0;
    this.#output?.destroy();
  }

  // ---- the byte stream ---------------------------------------------------------

  /**
   * Writes one frame after those queued before it (so transfers take turns),
   * waiting for 'drain' when the stream is full; `flushed`: until the stream
   * has taken it.
   */
  #write(parts: Buffer[], flushed = false): Promise<void> {
    const run = async () => {
      const out = this.#output!;
      if (this.#broken) throw this.#broken;
      let ok = true;
      let done: Promise<void> | undefined;
      for (let i = 0; i < parts.length; i++) {
        if (flushed && i === parts.length - 1) {
          done = new Promise((resolve, reject) => {
            ok = out.write(parts[i], (error) => (error ? reject(error) : resolve()));
          });
        } else {
          ok = out.write(parts[i]);
        }
      }
      if (!ok) await waitForDrain(out);
      if (done) await done;
      if (this.#broken) throw this.#broken;
    };
    const p = this.#writeTail.then(run);
    this.#writeTail = p.catch(() => {});
    return p;
  }

  #onInputEnd(): void {
    if (this.#inputEnded) return;
    this.#inputEnded = true;
    const lost = connectionLost('in the middle of a transfer');
    for (const incoming of [...this.#incoming.values()]) if (!incoming.ending) this.#stopIncoming(incoming, lost, false);
    if (this.#handshake) {
      const unanswered = connectionLost('before the receiver answered');
      for (const o of [...this.#outgoing.values()]) this.#stopOutgoing(o, unanswered);
      for (const o of this.#waiting.splice(0)) {
        o.reader.destroy();
        o.job.fail(unanswered);
      }
    }
    this.emit('close');
  }

  #outputClosed(): void {
    if (this.#outgoing.size > 0 || this.#waiting.length > 0) this.#fail(connectionLost('while sending'), false);
  }

  /** The connection is unusable: every transfer fails; the peer is told when `tell` and possible. */
  #fail(error: Error, tell: boolean): void {
    if (this.#broken) return;
    if (tell && this.#output && !this.#output.destroyed) {
      try {
        for (const part of encodeFrame({ type: 'error', id: 0, reply: false, ...describeError(error) })) this.#output.write(part);
      } catch {
        // the stream is gone already
      }
    }
    this.#broken = error;
    for (const incoming of [...this.#incoming.values()]) this.#stopIncoming(incoming, error, false);
    for (const o of [...this.#outgoing.values()]) this.#stopOutgoing(o, error);
    for (const o of this.#waiting.splice(0)) {
      o.reader.destroy();
      o.job.fail(error);
    }
    this.#input?.destroy();
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

function readerOptions(checked: SendChecked): ExtentReadStreamOptions {
  const { offset, length, sparse } = checked.reader;
  return length === undefined ? { offset, sparse } : { offset, length, sparse };
}

function waitForDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(connectionLost('while sending'));
    const onError = (e: Error) => done(e);
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onError);
  });
}

/**
 * A stream that can carry answers back: a duplex whose other side is a peer
 * (a socket). A Transform (a PassThrough, a gzip) is a Duplex too, but what is
 * written to it comes back out of it: a one-way pipe, not a peer.
 */
function isDuplexWith(stream: unknown, side: 'readable' | 'writable'): boolean {
  return stream instanceof Duplex && !(stream instanceof Transform) && (stream as Duplex)[side] !== false;
}

/**
 * Sends one image into a stream. Over a duplex that can be read (a socket)
 * the job resolves on the receiver's OK and fails on its ERROR; into a plain
 * writable (a pipe, stdout) it resolves once the END frame is written. The
 * stream is ended afterwards unless `end: false`. Bad arguments throw here.
 */
export function send(target: Target, stream: Writable, options: SendOptions & { end?: boolean; handshake?: boolean } = {}): TransferJob {
  checkTarget('target', target);
  checkStream('stream', stream, 'writable');
  const { end, handshake, ...sendOptions } = checkOneStreamOptions(options);
  checkSendArgs(target, sendOptions);
  const input = (handshake ?? isDuplexWith(stream, 'readable')) ? (stream as unknown as Readable) : null;
  const connection = new Connection(input, stream, handshake === undefined ? {} : { handshake });
  const job = connection.send(target, sendOptions);
  if (end ?? true) void job.done.catch(() => {}).then(() => connection.end()).catch(() => {});
  return job;
}

/**
 * Receives one image from a stream into `target`. Over a duplex that can be
 * written the sender gets OK or ERROR back. The stream carries one image:
 * a second one is refused, and bytes after its END fail the job while it is
 * still writing (`blockcopy recv` also waits briefly for the end of its input).
 * Bad arguments throw here, before anything is read.
 */
export function receive(stream: Readable, target: Target, options: ReceiveOptions & { handshake?: boolean } = {}): TransferJob {
  checkStream('stream', stream, 'readable');
  const { handshake, ...receiveOptions } = checkOneStreamOptions(options);
  const checked = checkReceiveArgs(target, receiveOptions);
  const output = (handshake ?? isDuplexWith(stream, 'writable')) ? (stream as unknown as Writable) : null;
  const connection = new Connection(stream, output, { maxTransfers: 1, handshake: output !== null });
  connection._oneImage();
  const job = new TransferJob(checked.progressInterval);
  let taken = false;
  connection.on('transfer', (offer) => {
    if (taken) return offer.reject({ code: 'ERR_BLOCKCOPY_NOT_ACCEPTED', message: 'receive() takes one image per stream' });
    taken = true;
    offer.accept(target, receiveOptions, job);
  });
  connection.on('error', (error) => job.status !== 'completed' && job.fail(error));
  connection.on('close', () => {
    if (!taken) job.fail(connectionLost('before any image began'));
  });
  job.once('completed', () => output && void connection.end());
  return job;
}

/** send()'s and receive()'s own options, checked; the rest is passed on. */
function checkOneStreamOptions<T extends { end?: boolean; handshake?: boolean }>(options: T): T {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  for (const key of ['end', 'handshake'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', options[key]);
  }
  return options;
}
