// A cap on transfers received at once across several connections: a server
// gives one TransferLimit to every Connection it accepts, so a crowd of
// clients cannot open more transfers (files, buffers) than it allows, each
// staying under its own connection's maxTransfers.
import { invalidArgType } from '../errors';
import { checkMaxTransfers } from '../options';

export class TransferLimit {
  readonly max: number;
  #active = 0;

  constructor(max: number) {
    const checked = checkMaxTransfers('max', max);
    if (checked === undefined) throw invalidArgType('max', 'of type number', max);
    this.max = checked;
  }

  /** Transfers being received now under this limit. */
  get active(): number {
    return this.#active;
  }

  /** @internal A slot for one more transfer, or false when all are taken. */
  take(): boolean {
    if (this.#active >= this.max) return false;
    this.#active++;
    return true;
  }

  /** @internal */
  give(): void {
    this.#active--;
  }
}
