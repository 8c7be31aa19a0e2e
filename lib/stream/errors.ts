// Errors of transfers and connections: the one a peer reports in an ERROR
// frame, the ones a connection raises itself, and how any error is told to
// the peer.
import { StreamFormatError } from './format';

/** An error the other end of a transfer reported in an ERROR frame. */
export class RemoteError extends Error {
  /** The peer's code: a system code ('ENOSPC'), 'ABORT_ERR', or a blockcopy code. */
  readonly code: string;
  readonly remote = true as const;

  constructor(code: string, message: string) {
    super(`the other end reported ${code}: ${message}`);
    this.code = code;
  }
}
Object.defineProperty(RemoteError.prototype, 'name', { value: 'RemoteError', configurable: true, writable: true });

/** A code and message fit for an ERROR frame, from any error. */
export function describeError(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'ERR_BLOCKCOPY_REMOTE', message: String(e?.message ?? error) };
}

/** What a sender that cancels tells its receiver in the ERROR frame. */
export const SENDER_CANCELLED = Object.freeze({ code: 'ABORT_ERR', message: 'the sender cancelled the transfer' });

export function connectionLost(detail: string): Error {
  return Object.assign(new Error(`the connection closed ${detail}`), { code: 'ECONNRESET' });
}

export function timedOut(detail: string): Error {
  return Object.assign(new Error(`ETIMEDOUT: ${detail}`), { code: 'ETIMEDOUT' });
}

/** receive()'s stream carries one image: anything after its END is not what the sender claimed. */
export function afterEnd(what: string): StreamFormatError {
  return new StreamFormatError(`the stream goes on after the image's END (${what})`);
}
