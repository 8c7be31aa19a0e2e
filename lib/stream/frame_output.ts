// The writing side of a Connection: transfer frames take turns on the byte
// stream, each waiting for 'drain' when it is full; answers (OK, ERROR) to
// the peer's transfers wait in a bounded queue, and a peer that leaves them
// unread too long is dropped.
import type { Writable } from 'node:stream';
import { connectionLost, timedOut } from './errors';
import { encodeFrame, type Frame, preface } from './format';

/** Reply bytes waiting for the peer to read them beyond which we stop reading its frames. */
const REPLY_BACKLOG = 64 * 1024;

export interface FrameOutputHooks {
  /** The connection is broken: nothing more is written. */
  broken(): Error | undefined;
  /** The reply backlog grew past its bound or shrank below it. */
  backlogChanged(): void;
  /** The peer has not read our replies, or our frames, for the idle timeout: the stream is dropped. */
  unread(error: Error): void;
}

export class FrameOutput {
  #tail: Promise<void> = Promise.resolve();
  /** Replies not yet handed to the stream, whole frames; they wait while it needs a drain. */
  #replies: Buffer[][] = [];
  #replyBytes = 0;
  #unreadTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly stream: Writable,
    private readonly idleTimeout: number,
    private readonly hooks: FrameOutputHooks,
  ) {
    stream.on('drain', () => this.#flushReplies());
    void this.write([preface()]).catch(() => {});
  }

  /** More replies wait than the peer should leave unread: stop reading its frames. */
  get backlogged(): boolean {
    return this.#replyBytes > REPLY_BACKLOG;
  }

  /**
   * Writes one frame after those queued before it (so transfers take turns),
   * waiting for 'drain' when the stream is full; `flushed`: until the stream
   * has taken it.
   */
  write(parts: Buffer[], flushed = false): Promise<void> {
    const run = async () => {
      const out = this.stream;
      const broken = this.hooks.broken();
      if (broken) throw broken;
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
      if (!ok) await this.#drained();
      if (done) await done;
      const after = this.hooks.broken();
      if (after) throw after;
    };
    const p = this.#tail.then(run);
    this.#tail = p.catch(() => {});
    return p;
  }

  /** Queues an answer (OK or ERROR) to a transfer the peer sent. */
  reply(frame: Frame): void {
    if (this.hooks.broken()) return;
    const parts = encodeFrame(frame);
    this.#replies.push(parts);
    for (const part of parts) this.#replyBytes += part.length;
    this.#flushReplies();
  }

  /** Best effort, for a connection that is failing: an ERROR for the whole connection, now. */
  tell(frame: Frame): void {
    if (this.stream.destroyed) return;
    try {
      for (const part of encodeFrame(frame)) this.stream.write(part);
    } catch {
      // the stream is gone already
    }
  }

  /** Ends the stream after the frames queued; answers still waiting go out first, whatever it holds. */
  async end(): Promise<void> {
    await this.#tail;
    const out = this.stream;
    if (out.writableEnded) return;
    for (const parts of this.#replies.splice(0)) for (const part of parts) out.write(part);
    this.#replyBytes = 0;
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }

  /**
   * Hands queued replies to the stream while it takes them without buffering
   * more; the rest wait for its 'drain'. Whole frames only, between the frames
   * write() sends, so nothing interleaves inside a frame.
   */
  #flushReplies(): void {
    const out = this.stream;
    if (this.hooks.broken()) return;
    while (this.#replies.length > 0 && !out.writableNeedDrain && !out.destroyed) {
      for (const part of this.#replies.shift()!) {
        out.write(part);
        this.#replyBytes -= part.length;
      }
    }
    if (this.backlogged && !this.#unreadTimer && this.idleTimeout > 0) {
      this.#unreadTimer = setTimeout(() => this.#onUnread(), this.idleTimeout).unref();
    } else if (!this.backlogged && this.#unreadTimer) {
      clearTimeout(this.#unreadTimer);
      this.#unreadTimer = undefined;
    }
    this.hooks.backlogChanged();
  }

  /** Waits for 'drain'; a peer that reads nothing for the idle timeout is dropped, as one that leaves replies unread. */
  async #drained(): Promise<void> {
    const { idleTimeout } = this;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      if (idleTimeout === 0) return;
      timer = setTimeout(() => {
        const error = timedOut(`the other end has read nothing we sent for ${idleTimeout / 1000} s; disconnecting`);
        this.hooks.unread(error);
        this.stream.destroy();
        reject(error);
      }, idleTimeout);
    });
    try {
      await Promise.race([waitForDrain(this.stream), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  #onUnread(): void {
    this.#unreadTimer = undefined;
    if (!this.backlogged) return;
    this.hooks.unread(timedOut(`the other end has not read our replies for ${this.idleTimeout / 1000} s; disconnecting`));
    this.#replies = [];
    this.#replyBytes = 0;
    this.stream.destroy();
  }
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
