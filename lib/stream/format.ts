// The wire format (docs/stream-format.md): a preface, then length-prefixed
// frames, each tagged with a transfer id so several images share a connection.
// Every length is checked against its frame type's limit before the payload
// is buffered, so a decoder holds at most one frame whatever it is fed.

import { addon, type SameItem, type StreamItem } from '../native';

// The numbers are the engine's (native/engine/frame_format.h): it speaks the same format on descriptors.
const numbers = addon.streamFormat;
export const MAGIC = numbers.magic;
export const VERSION = numbers.version;
export const PREFACE_BYTES = numbers.prefaceBytes;
export const HEADER_BYTES = numbers.headerBytes;
/** Largest data payload in one DATA frame. */
export const MAX_DATA = numbers.maxData;
/** Longest transfer name, in bytes of UTF-8. */
export const MAX_NAME = numbers.maxName;
const MAX_CODE = numbers.maxCode;
const MAX_MESSAGE = numbers.maxMessage;

export const enum FrameType {
  Begin = 1,
  Data = 2,
  Hole = 3,
  End = 4,
  Error = 5,
  Ok = 6,
  Digests = 7,
  Same = 8,
}

/** Bytes of one block's digest in a DIGESTS frame (docs/checksum.md). */
export const DIGEST_BYTES = 32;
/** Digests one DIGESTS frame carries at most. */
export const MAX_DIGESTS = MAX_DATA / DIGEST_BYTES;

/** Largest payload each frame type may declare; anything above is refused unread. */
const MAX_PAYLOAD: Record<number, number> = {
  [FrameType.Begin]: 18 + MAX_NAME,
  [FrameType.Data]: 8 + MAX_DATA,
  [FrameType.Hole]: 16,
  [FrameType.End]: 16,
  [FrameType.Error]: 4 + MAX_CODE + MAX_MESSAGE,
  [FrameType.Ok]: 8,
  [FrameType.Digests]: 8 + MAX_DATA,
  [FrameType.Same]: 16,
};

/** Header flag: the frame answers a transfer its recipient sent (OK, DIGESTS, or ERROR from a receiver). */
const REPLY = 1;
/** BEGIN's flag: the sender resumes; the receiver answers with DIGESTS of what it holds first. */
const RESUME = 2;

export type Frame =
  | { type: 'begin'; id: number; size: number; dataBytes: number; name: string; resume?: boolean }
  | { type: 'data'; id: number; offset: number; data: Buffer }
  | { type: 'hole'; id: number; offset: number; length: number }
  | { type: 'end'; id: number; dataBytes: number; checksum: string }
  | { type: 'error'; id: number; code: string; message: string; reply: boolean }
  | { type: 'ok'; id: number; bytesWritten: number }
  /** The receiver's block digests from block `first` on; none: the list is complete. */
  | { type: 'digests'; id: number; first: number; digests: Buffer }
  /** Bytes the receiver already holds (blocks whose digests matched): nothing to write. */
  | { type: 'same'; id: number; offset: number; length: number };

/** Malformed input or a broken protocol rule. Nothing of the offending frame is written. */
export class StreamFormatError extends Error {
  readonly code = 'ERR_BLOCKCOPY_STREAM' as const;
}
Object.defineProperty(StreamFormatError.prototype, 'name', { value: 'StreamFormatError', configurable: true, writable: true });

export function preface(): Buffer {
  const b = Buffer.alloc(PREFACE_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 8);
  b.writeUInt32LE(0, 12); // flags, none defined
  return b;
}

function header(type: FrameType, id: number, payload: number, flags = 0): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt32LE(payload, 0);
  b.writeUInt8(type, 4);
  b.writeUInt8(flags, 5);
  // bytes 6-7: reserved, zero
  b.writeUInt32LE(id, 8);
  return b;
}

function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}

/** The frame as a list of buffers (a DATA frame's payload is not copied). */
export function encodeFrame(frame: Frame): Buffer[] {
  switch (frame.type) {
    case 'begin': {
      const name = Buffer.from(frame.name, 'utf8');
      if (name.length > MAX_NAME) throw new StreamFormatError(`transfer name is longer than ${MAX_NAME} bytes`);
      const fixed = Buffer.alloc(18);
      fixed.writeBigUInt64LE(BigInt(frame.size), 0);
      fixed.writeBigUInt64LE(BigInt(frame.dataBytes), 8);
      fixed.writeUInt16LE(name.length, 16);
      return [header(FrameType.Begin, frame.id, 18 + name.length, frame.resume ? RESUME : 0), fixed, name];
    }
    case 'data':
      return [header(FrameType.Data, frame.id, 8 + frame.data.length), u64(frame.offset), frame.data];
    case 'hole':
      return [header(FrameType.Hole, frame.id, 16), u64(frame.offset), u64(frame.length)];
    case 'end':
      const sum = Buffer.alloc(8);
      sum.writeBigUInt64LE(BigInt(`0x${frame.checksum}`));
      return [header(FrameType.End, frame.id, 16), u64(frame.dataBytes), sum];
    case 'error': {
      const code = Buffer.from(frame.code.slice(0, MAX_CODE), 'latin1');
      const message = Buffer.from(frame.message, 'utf8').subarray(0, MAX_MESSAGE);
      const lengths = Buffer.alloc(4);
      lengths.writeUInt16LE(code.length, 0);
      lengths.writeUInt16LE(message.length, 2);
      const flags = frame.reply ? REPLY : 0;
      return [header(FrameType.Error, frame.id, 4 + code.length + message.length, flags), lengths, code, message];
    }
    case 'ok':
      return [header(FrameType.Ok, frame.id, 8, REPLY), u64(frame.bytesWritten)];
    case 'digests':
      return [header(FrameType.Digests, frame.id, 8 + frame.digests.length, REPLY), u64(frame.first), frame.digests];
    case 'same':
      return [header(FrameType.Same, frame.id, 16), u64(frame.offset), u64(frame.length)];
  }
}

/** An item as pieces one DATA frame each can carry (views, not copies); a hole as it is. */
export function framePieces(item: StreamItem): StreamItem[] {
  if (item.type === 'hole' || item.data.length <= MAX_DATA) return [item];
  const pieces: StreamItem[] = [];
  for (let at = 0; at < item.data.length; at += MAX_DATA) {
    pieces.push({ type: 'data', offset: item.offset + at, data: item.data.subarray(at, at + MAX_DATA) });
  }
  return pieces;
}

/** A piece (at most MAX_DATA of data) as the frame of transfer `id` that carries it. */
export function itemFrame(id: number, item: StreamItem | SameItem): Frame {
  return item.type === 'data' ? { type: 'data', id, offset: item.offset, data: item.data } : { type: item.type, id, offset: item.offset, length: item.length };
}

/** A DATA, HOLE or SAME frame as the item it carries. */
export function frameItem(frame: Frame & { type: 'data' | 'hole' }): StreamItem;
export function frameItem(frame: Frame & { type: 'data' | 'hole' | 'same' }): StreamItem | SameItem;
export function frameItem(frame: Frame & { type: 'data' | 'hole' | 'same' }): StreamItem | SameItem {
  return frame.type === 'data' ? { type: 'data', offset: frame.offset, data: frame.data } : { type: frame.type, offset: frame.offset, length: frame.length };
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new StreamFormatError(`${what} ${value} is beyond what blockcopy handles (2^53 - 1)`);
  return Number(value);
}

/** Every frame but DATA, whose payload FrameParser passes on in pieces as it arrives. */
function parsePayload(type: number, id: number, flags: number, p: Buffer): Frame {
  const need = (n: number) => {
    if (p.length !== n) throw new StreamFormatError(`frame type ${type} has ${p.length} payload bytes, expected ${n}`);
  };
  switch (type) {
    case FrameType.Begin: {
      if (p.length < 18) throw new StreamFormatError(`BEGIN frame too short (${p.length} bytes)`);
      const nameLength = p.readUInt16LE(16);
      need(18 + nameLength);
      return {
        type: 'begin',
        id,
        size: safeNumber(p.readBigUInt64LE(0), 'image size'),
        dataBytes: safeNumber(p.readBigUInt64LE(8), 'data bytes'),
        name: p.subarray(18).toString('utf8'),
        ...(flags === RESUME ? { resume: true } : {}),
      };
    }
    case FrameType.Digests:
      if (p.length < 8 || (p.length - 8) % DIGEST_BYTES !== 0) throw new StreamFormatError(`DIGESTS frame of ${p.length} bytes is not a block index and whole digests`);
      return { type: 'digests', id, first: safeNumber(p.readBigUInt64LE(0), 'block index'), digests: p.subarray(8) };
    case FrameType.Same:
      need(16);
      return { type: 'same', id, offset: safeNumber(p.readBigUInt64LE(0), 'offset'), length: safeNumber(p.readBigUInt64LE(8), 'length') };
    case FrameType.Hole:
      need(16);
      return { type: 'hole', id, offset: safeNumber(p.readBigUInt64LE(0), 'offset'), length: safeNumber(p.readBigUInt64LE(8), 'hole length') };
    case FrameType.End:
      need(16);
      return {
        type: 'end',
        id,
        dataBytes: safeNumber(p.readBigUInt64LE(0), 'data bytes'),
        checksum: p.readBigUInt64LE(8).toString(16).padStart(16, '0'),
      };
    case FrameType.Error: {
      if (p.length < 4) throw new StreamFormatError('ERROR frame too short');
      const codeLength = p.readUInt16LE(0);
      const messageLength = p.readUInt16LE(2);
      need(4 + codeLength + messageLength);
      return {
        type: 'error',
        id,
        code: p.subarray(4, 4 + codeLength).toString('latin1'),
        message: p.subarray(4 + codeLength).toString('utf8'),
        reply: flags === REPLY,
      };
    }
    case FrameType.Ok:
      need(8);
      return { type: 'ok', id, bytesWritten: safeNumber(p.readBigUInt64LE(0), 'bytes written') };
    default:
      throw new StreamFormatError(`unknown frame type ${type}`);
  }
}

/**
 * Splits bytes into frames. A DATA frame's payload is passed on in pieces as
 * it arrives (views, never copies), each a DATA frame of its own at the right
 * offset; other frames are small and gathered whole. Every header is checked
 * against its type's limit first, so nothing is held beyond the chunk at hand
 * and one small frame.
 */
export class FrameParser {
  #chunks: Buffer[] = [];
  #bytes = 0;
  #prefaceSeen = false;
  // Inside a DATA frame's payload: where its next byte goes and how many are left.
  #data: { id: number; offset: number; left: number } | undefined;

  /**
   * Every frame (or DATA piece) complete in what has arrived so far, and the
   * error that stopped parsing, if any: the frames before a malformed one
   * still count (an END followed by garbage is an image that ended, then garbage).
   * After an error the parser is unusable.
   */
  push(chunk: Buffer): { frames: Frame[]; error?: Error } {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      for (;;) {
        if (!this.#prefaceSeen) {
          if (!this.#checkPreface()) return { frames };
        } else if (this.#data) {
          if (this.#bytes === 0) return { frames };
          const d = this.#data;
          const piece = this.#takeView(Math.min(d.left, this.#chunks[0]!.length));
          frames.push({ type: 'data', id: d.id, offset: d.offset, data: piece });
          d.offset += piece.length;
          d.left -= piece.length;
          if (d.left === 0) this.#data = undefined;
        } else {
          const frame = this.#nextFrame();
          if (frame === undefined) return { frames };
          if (frame !== null) frames.push(frame);
        }
      }
    } catch (error) {
      return { frames, error: error as Error };
    }
  }

  /** Bytes of an incomplete frame (or preface) waiting, plus one while a DATA payload is still due: nonzero means cut off. */
  get buffered(): number {
    return this.#bytes + (this.#data ? 1 : 0);
  }

  /** undefined: need more bytes; null: a DATA frame began (its payload follows). */
  #nextFrame(): Frame | null | undefined {
    if (this.#bytes < HEADER_BYTES) return undefined;
    const head = this.#copy(HEADER_BYTES, false);
    const length = head.readUInt32LE(0);
    const type = head.readUInt8(4);
    const flags = head.readUInt8(5);
    const id = head.readUInt32LE(8);
    const limit = MAX_PAYLOAD[type];
    if (limit === undefined) throw new StreamFormatError(`unknown frame type ${type}`);
    if (length > limit) throw new StreamFormatError(`frame type ${type} declares ${length} payload bytes, more than its limit of ${limit}`);
    if (head.readUInt16LE(6) !== 0) throw new StreamFormatError('reserved header bits are set');
    const replyAllowed = type === FrameType.Error || type === FrameType.Ok || type === FrameType.Digests;
    const mustReply = type === FrameType.Ok || type === FrameType.Digests;
    const resumeBegin = type === FrameType.Begin && flags === RESUME;
    if (!resumeBegin && (flags & ~REPLY || (flags === REPLY && !replyAllowed) || (mustReply && flags !== REPLY))) {
      throw new StreamFormatError(`frame type ${type} with flags ${flags}`);
    }
    if (id === 0 && type !== FrameType.Error) throw new StreamFormatError('transfer id 0 is only for connection errors');
    if (type === FrameType.Data) {
      if (length <= 8) throw new StreamFormatError('DATA frame without data');
      if (this.#bytes < HEADER_BYTES + 8) return undefined;
      this.#copy(HEADER_BYTES, true);
      const offset = safeNumber(this.#copy(8, true).readBigUInt64LE(0), 'offset');
      this.#data = { id, offset, left: length - 8 };
      return null;
    }
    if (this.#bytes < HEADER_BYTES + length) return undefined;
    this.#copy(HEADER_BYTES, true);
    return parsePayload(type, id, flags, this.#copy(length, true));
  }

  #checkPreface(): boolean {
    // Wrong magic is refused as soon as the first bytes disagree.
    const have = this.#copy(Math.min(this.#bytes, MAGIC.length), false);
    if (!MAGIC.subarray(0, have.length).equals(have)) throw new StreamFormatError('not a blockcopy stream (wrong magic)');
    if (this.#bytes < PREFACE_BYTES) return false;
    const p = this.#copy(PREFACE_BYTES, true);
    const version = p.readUInt32LE(8);
    if (version !== VERSION) throw new StreamFormatError(`stream format version ${version} is not supported (this is version ${VERSION})`);
    if (p.readUInt32LE(12) !== 0) throw new StreamFormatError('unknown preface flags');
    this.#prefaceSeen = true;
    return true;
  }

  /** The first n bytes (n small, all present) gathered into one buffer; consumed when `take`. */
  #copy(n: number, take: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let i = 0;
    let skip = 0;
    while (filled < n) {
      const c = this.#chunks[i]!;
      const k = Math.min(c.length - skip, n - filled);
      c.copy(out, filled, skip, skip + k);
      filled += k;
      if (k === c.length - skip) {
        i++;
        skip = 0;
      } else skip += k;
    }
    if (take) {
      this.#chunks.splice(0, i);
      if (skip > 0) this.#chunks[0] = this.#chunks[0]!.subarray(skip);
      this.#bytes -= n;
    }
    return out;
  }

  /** The first n bytes of the first chunk, as a view; consumed. */
  #takeView(n: number): Buffer {
    const first = this.#chunks[0]!;
    const out = first.subarray(0, n);
    if (n === first.length) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#bytes -= n;
    return out;
  }
}
