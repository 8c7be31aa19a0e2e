// A Connection carries image transfers over a stream: outgoing ones read
// from files and sent frame by frame, interleaved so a large image never
// stalls a small one (outgoing.ts); incoming ones written to files
// (incoming.ts). Over a duplex (a socket) every transfer is answered with OK
// or ERROR (frame_output.ts), and a sender resolves only on that answer.
// This file joins them: it parses the input, hands each frame to its half,
// and fails everything when the connection breaks.
import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { invalidArgType, invalidArgValue } from '../errors';
import { checkConnectionArgs, checkSendArgs } from '../options';
import type { Target } from '../types';
import { afterEnd, connectionLost, describeError, RemoteError } from './errors';
import type { ExtentReadStreamOptions } from './extent_streams';
import { FrameOutput } from './frame_output';
import { type Frame, FrameParser } from './format';
import { type IncomingTransfer, Receiver } from './incoming';
import { Sender } from './outgoing';
import type { TransferJob } from './transfer_job';
import { TransferLimit } from './transfer_limit';

export interface ConnectionOptions {
  /** Transfers sent at once (more wait their turn), and received at once (more are refused). Default 4. */
  maxTransfers?: number;
  /** Wait for the receiver's OK or ERROR; default: when the connection can be read from. */
  handshake?: boolean;
  /**
   * Milliseconds the peer may keep us waiting, 0: no limit; default 120000.
   * An incoming transfer that goes this long without a frame fails
   * (ETIMEDOUT, and the sender is told); so does an outgoing one whose
   * receiver owes it an answer this long (its block digests for a resuming
   * BEGIN, its OK or ERROR after END); a peer that leaves our replies or
   * frames unread this long (the stream stays full) is dropped.
   */
  idleTimeout?: number;
  /** A limit shared with other connections (a server's): transfers received at once across all of them. */
  limit?: TransferLimit;
}

export interface SendOptions extends ExtentReadStreamOptions {
  /** A name for the receiver, e.g. the image's file name. */
  name?: string;
  /**
   * Resume and delta sync: the receiver first answers with the digest of each
   * 64 KiB block its destination already holds, and only blocks whose digests
   * differ cross the wire (the rest go as SAME frames of 28 bytes). Needs a
   * stream that carries answers (a socket). Default false.
   */
  resume?: boolean;
  progressInterval?: number;
  signal?: AbortSignal;
}

export interface ConnectionEvents {
  transfer: [IncomingTransfer];
  /** The connection as a whole failed (malformed input, the stream broke). Transfers fail on their own too. */
  error: [Error];
  close: [];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly #input: Readable | null;
  readonly #output: FrameOutput | null = null;
  readonly #handshake: boolean;
  readonly #parser = new FrameParser();
  readonly #sender: Sender | null = null;
  readonly #receiver: Receiver;
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
    const { maxTransfers, idleTimeout, limit } = checked;
    const broken = () => this.#broken;
    this.#input = input;
    this.#handshake = checked.handshake ?? input !== null;
    if (output) {
      output.on('error', (error: Error) => this.#fail(error, false));
      output.on('close', () => this.#outputClosed());
      this.#output = new FrameOutput(output, idleTimeout, {
        broken,
        backlogChanged: () => this.#receiver.updateFlow(),
        unread: (error) => this.#fail(error, false),
      });
      this.#sender = new Sender({ output: this.#output, maxTransfers, handshake: this.#handshake, idleTimeout, broken });
    }
    this.#receiver = new Receiver({
      input,
      output: this.#output,
      handshake: this.#handshake,
      maxTransfers,
      idleTimeout,
      limit,
      broken,
      offer: (transfer) => this.emit('transfer', transfer),
      fail: (error) => this.#fail(error, true),
      imageEnded: () => {
        if (this.#oneImage) this.#imageEnded = true;
      },
    });
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
    if (!this.#sender) throw new Error('this connection cannot send: it has no writable side');
    const checked = checkSendArgs(target, options);
    if (checked.resume && !this.#handshake) {
      throw invalidArgValue('options.resume', true, 'needs a stream that carries answers (a socket): the receiver answers with the digests of what it holds');
    }
    return this.#sender.send(target, checked);
  }

  /** Ends the writable side once every outgoing transfer is done. */
  async end(): Promise<void> {
    await this.#sender?.idle();
    await this.#output?.end();
  }

  /** Tears the connection down: every transfer still going fails with `error`. */
  destroy(error: Error = connectionLost('(destroyed)')): void {
    this.#fail(error, true);
  }

  /** @internal receive(): one image, and nothing may follow its END. */
  _oneImage(): void {
    this.#oneImage = true;
  }

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
    if (frame.type === 'ok' || frame.type === 'digests' || (frame.type === 'error' && frame.reply)) return this.#sender?.onReply(frame);
    if (frame.type === 'error' && frame.id === 0) return this.#fail(new RemoteError(frame.code, frame.message), false);
    if (frame.type === 'begin') return this.#receiver.onBegin(frame);
    this.#receiver.onFrame(frame);
  }

  #onInputEnd(): void {
    if (this.#inputEnded) return;
    this.#inputEnded = true;
    this.#receiver.inputEnded(connectionLost('in the middle of a transfer'));
    if (this.#handshake) this.#sender?.failAll(connectionLost('before the receiver answered'));
    this.emit('close');
  }

  #outputClosed(): void {
    if (this.#sender?.busy) this.#fail(connectionLost('while sending'), false);
  }

  /** The connection is unusable: every transfer fails; the peer is told when `tell` and possible. */
  #fail(error: Error, tell: boolean): void {
    if (this.#broken) return;
    if (tell) this.#output?.tell({ type: 'error', id: 0, reply: false, ...describeError(error) });
    this.#broken = error;
    this.#receiver.failAll(error);
    this.#sender?.failAll(error);
    this.#input?.destroy();
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
