// An error the other end of a transfer reported in an ERROR frame.
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
