// A hand-written NBD server for the tests, for what real servers never do on
// purpose. It speaks fixed newstyle negotiation (OPT_STRUCTURED_REPLY,
// OPT_SET/LIST_META_CONTEXT for base:allocation, OPT_GO/OPT_INFO with
// NBD_INFO_EXPORT and, when asked for, NBD_INFO_BLOCK_SIZE) and then the
// transmission phase (READ, WRITE, WRITE_ZEROES, TRIM, FLUSH, BLOCK_STATUS,
// DISC) over an in-memory image on a unix socket. Honest by default: a client
// copies into and out of it byte-exact. Each `mode` makes it lie or dawdle in
// one way (see HostileMode); the numbers come from the NBD project's
// doc/proto.md.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type HostileMode =
  // Read replies that do not cover the request exactly once (illegal).
  | 'short-read' // chunks for the first half only, then DONE
  | 'missing-read' // a NONE chunk with DONE: no data at all
  | 'duplicate-chunk' // the first half twice, the second half never: the byte count is right, the coverage is not
  | 'overlap-chunks' // [0, 3/4) and [1/4, 1): overlapping, covering the request and more
  | 'outside' // a data chunk just past the end of the request
  | 'half-reads' // reads of at least `halfReadsFrom` bytes answered with their first half only
  // Block status replies (the first four illegal, the last three legal).
  | 'duplicate-status' // two base:allocation chunks: data for the first half, then hole for the whole
  | 'wrong-context' // a chunk for a context id never negotiated
  | 'status-after-end' // extents going on after one already reached past the request's end
  | 'status-zero-length' // an extent of length 0 in the middle
  | 'short-status' // every reply covers at most 64 KiB: the client must ask again
  | 'status-overrun' // the last extent runs past the request's end (inside the export): the client clips
  | 'tiny-extents' // data and hole alternate every 512 bytes, the image's holes zero
  // Time.
  | 'trickle' // transmission replies go out one byte every `trickleMs`
  | 'trickle-handshake' // the greeting and option replies go out one byte every `trickleMs`
  | 'stall' // reads are never answered; requests are still read (and other commands answered)
  | 'never-read' // after OPT_GO the server stops reading the socket
  // Writes and negotiation.
  | 'drop-writes' // the bytes of WRITE / WRITE_ZEROES at or above `dropWritesAbove` are acknowledged, not applied
  | 'huge-error' // OPT_GO is answered with NBD_REP_ERR_UNKNOWN carrying `hugeErrorBytes` of text
  | 'min-block'; // NBD_INFO_BLOCK_SIZE min = preferred = 64 KiB; requests not on 64 KiB fail EINVAL

export interface HostileOptions {
  /** The export's size in bytes. */
  size: number;
  /** The image's first bytes (the rest reads as zeros); all-zero 4 KiB blocks report as holes. */
  image?: Buffer;
  mode?: HostileMode | HostileMode[];
  /** The read lies ('short-read' ... 'outside') apply only to reads at or above this offset. Default 0. */
  lieFrom?: number;
  /** 'drop-writes': bytes at or above this offset are not applied. Default 0. */
  dropWritesAbove?: number;
  /** 'half-reads': reads of at least this many bytes are cut in half. Default 4 MiB. */
  halfReadsFrom?: number;
  /** 'trickle', 'trickle-handshake': ms between two bytes. Default 1000. */
  trickleMs?: number;
  /** 'huge-error': the length of the text. Default 60,000. */
  hugeErrorBytes?: number;
  /** Honest reads send holes as OFFSET_HOLE chunks instead of zeros in OFFSET_DATA. Default false. */
  holeChunks?: boolean;
  /** Advertise NBD_FLAG_CAN_MULTI_CONN (the image is shared, so it is true). Default true. */
  multiConn?: boolean;
  /** The export's name; any name is served unless this is set. */
  exportName?: string;
}

export interface HostileRequest {
  type: string; // 'read', 'write', 'write_zeroes', 'trim', 'flush', 'block_status', 'disc', or 'cmd<N>'
  offset: number;
  length: number;
  flags: number;
}

export interface HostileExtent {
  offset: number;
  length: number;
  type: 'data' | 'hole';
}

export interface HostileServer {
  uri: string;
  socket: string;
  /** The export's bytes, live: what writes changed, what reads return. */
  image: Buffer;
  /** Every transmission request, in the order read. */
  requests: HostileRequest[];
  /** The requests answered the way a mode says (a lie, a cut, a trickle), not honestly. */
  misbehaved: HostileRequest[];
  /** Connections accepted so far. */
  connections: number;
  /** The export's allocation as block status reports it honestly, merged. */
  map(offset?: number, length?: number): HostileExtent[];
  /** Resolves with the first request of `type` (already seen or to come); rejects after `timeoutMs`. */
  waitForRequest(type: string, timeoutMs?: number): Promise<HostileRequest>;
  /** Stops listening and drops every connection at once (a stuck client sees the socket close). */
  close(): Promise<void>;
}

/** How the text of 'huge-error' begins: what a capped message must still show. */
export const HUGE_ERROR_START = 'hostile server: this export does not exist, and here is why at great length: ';

// ---- the numbers of the protocol ----------------------------------------------------

const NBDMAGIC = Buffer.from('NBDMAGIC');
const IHAVEOPT = Buffer.from('IHAVEOPT');
const OPT_REPLY_MAGIC = Buffer.from('0003e889045565a9', 'hex');
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

const FLAG_FIXED_NEWSTYLE = 1 << 0;
const FLAG_NO_ZEROES = 1 << 1;
const CLIENT_FLAG_NO_ZEROES = 1 << 1;

const OPT_EXPORT_NAME = 1;
const OPT_ABORT = 2;
const OPT_LIST = 3;
const OPT_INFO = 6;
const OPT_GO = 7;
const OPT_STRUCTURED_REPLY = 8;
const OPT_LIST_META_CONTEXT = 9;
const OPT_SET_META_CONTEXT = 10;

const REP_ACK = 1;
const REP_SERVER = 2;
const REP_INFO = 3;
const REP_META_CONTEXT = 4;
const REP_ERR_UNSUP = 0x80000001;
const REP_ERR_INVALID = 0x80000003;
const REP_ERR_UNKNOWN = 0x80000006;

const INFO_EXPORT = 0;
const INFO_BLOCK_SIZE = 3;

const TX_HAS_FLAGS = 1 << 0;
const TX_SEND_FLUSH = 1 << 2;
const TX_SEND_TRIM = 1 << 5;
const TX_SEND_WRITE_ZEROES = 1 << 6;
const TX_CAN_MULTI_CONN = 1 << 8;

const CMD_READ = 0;
const CMD_WRITE = 1;
const CMD_DISC = 2;
const CMD_FLUSH = 3;
const CMD_TRIM = 4;
const CMD_WRITE_ZEROES = 6;
const CMD_BLOCK_STATUS = 7;
const CMD_FLAG_NO_HOLE = 1 << 1;
const COMMAND_NAMES: Record<number, string> = {
  [CMD_READ]: 'read',
  [CMD_WRITE]: 'write',
  [CMD_DISC]: 'disc',
  [CMD_FLUSH]: 'flush',
  [CMD_TRIM]: 'trim',
  [CMD_WRITE_ZEROES]: 'write_zeroes',
  [CMD_BLOCK_STATUS]: 'block_status',
};

const REPLY_FLAG_DONE = 1;
const CHUNK_NONE = 0;
const CHUNK_OFFSET_DATA = 1;
const CHUNK_OFFSET_HOLE = 2;
const CHUNK_BLOCK_STATUS = 5;
const CHUNK_ERROR = (1 << 15) | 1;

const STATE_HOLE = 1;
const STATE_ZERO = 2;

const EINVAL = 22;

const BASE_ALLOCATION = 'base:allocation';
/** The id our base:allocation gets: neither 0 nor 1, so a client that assumes one is caught. */
const ALLOCATION_ID = 7;
const WRONG_ID = ALLOCATION_ID + 1;

const MiB = 1024 * 1024;
const KiB = 1024;
/** Requests carry at most this much, as nbdkit and qemu-nbd take. */
const MAX_PAYLOAD = 32 * MiB;

// ---- bytes on the wire ----------------------------------------------------------------

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

/** An option reply: magic, the option it answers, its type, the payload. */
function optionReply(option: number, type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([OPT_REPLY_MAGIC, u32(option), u32(type), u32(payload.length), payload]);
}

/** A simple reply: an error number (0: success) for the request of `cookie`. */
function simpleReply(cookie: Buffer, error: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([u32(SIMPLE_REPLY_MAGIC), u32(error), cookie, data]);
}

/** One chunk of a structured reply. */
function chunk(cookie: Buffer, type: number, done: boolean, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([u32(STRUCTURED_REPLY_MAGIC), u16(done ? REPLY_FLAG_DONE : 0), u16(type), cookie, u32(payload.length), payload]);
}

function dataChunk(cookie: Buffer, at: number, data: Buffer, done: boolean): Buffer {
  return chunk(cookie, CHUNK_OFFSET_DATA, done, Buffer.concat([u64(at), data]));
}

function holeChunk(cookie: Buffer, at: number, length: number, done: boolean): Buffer {
  return chunk(cookie, CHUNK_OFFSET_HOLE, done, Buffer.concat([u64(at), u32(length)]));
}

function errorChunk(cookie: Buffer, error: number, message: string): Buffer {
  const text = Buffer.from(message);
  return chunk(cookie, CHUNK_ERROR, true, Buffer.concat([u32(error), u16(text.length), text]));
}

/** A block status chunk: the context id, then (length, state) per extent. */
function statusChunk(cookie: Buffer, contextId: number, extents: Array<[number, number]>, done: boolean): Buffer {
  return chunk(cookie, CHUNK_BLOCK_STATUS, done, Buffer.concat([u32(contextId), ...extents.flatMap(([n, s]) => [u32(n), u32(s)])]));
}

// ---- the image and its allocation ------------------------------------------------------

/**
 * The export's bytes and which grains of it are allocated. A grain that was
 * never written and reads as zeros is a hole (state 3, hole|zero); written,
 * it is data (state 0) until WRITE_ZEROES or TRIM covers it whole.
 */
class Image {
  readonly bytes: Buffer;
  readonly grain: number;
  private readonly allocated: Uint8Array;

  constructor(size: number, initial: Buffer | undefined, tiny: boolean) {
    this.bytes = Buffer.alloc(size);
    initial?.copy(this.bytes, 0, 0, Math.min(size, initial.length));
    this.grain = tiny ? 512 : 4 * KiB;
    this.allocated = new Uint8Array(Math.ceil(size / this.grain));
    const zeros = Buffer.alloc(this.grain);
    // Only grains the initial image reaches can hold data; the rest stay holes.
    const reached = tiny ? this.allocated.length : Math.ceil(Math.min(size, initial?.length ?? 0) / this.grain);
    for (let g = 0; g < reached; g++) {
      const from = g * this.grain;
      const slice = this.bytes.subarray(from, Math.min(size, from + this.grain));
      // 'tiny-extents': even grains data, odd grains holes that read as zeros.
      if (tiny && g % 2 === 1) slice.fill(0);
      this.allocated[g] = tiny ? (g % 2 === 0 ? 1 : 0) : slice.equals(zeros.subarray(0, slice.length)) ? 0 : 1;
    }
  }

  get size(): number {
    return this.bytes.length;
  }

  write(offset: number, data: Buffer): void {
    data.copy(this.bytes, offset);
    for (let g = Math.floor(offset / this.grain); g * this.grain < offset + data.length; g++) this.allocated[g] = 1;
  }

  /** Zeros [offset, offset + length); grains covered whole become holes unless `keepAllocated`. */
  zero(offset: number, length: number, keepAllocated: boolean): void {
    this.bytes.fill(0, offset, offset + length);
    if (keepAllocated) return;
    const end = offset + length;
    // Whole grains only; the export's last grain is whole when the range reaches the end.
    const last = end >= this.size ? this.allocated.length : Math.floor(end / this.grain);
    for (let g = Math.ceil(offset / this.grain); g < last; g++) this.allocated[g] = 0;
  }

  /** base:allocation's runs over [offset, offset + length): [length, state] pairs, merged. */
  runs(offset: number, length: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const end = Math.min(this.size, offset + length);
    for (let at = offset; at < end; ) {
      const g = Math.floor(at / this.grain);
      const state = this.allocated[g] ? 0 : STATE_HOLE | STATE_ZERO;
      const next = Math.min(end, (g + 1) * this.grain);
      const last = out[out.length - 1];
      if (last && last[1] === state) last[0] += next - at;
      else out.push([next - at, state]);
      at = next;
    }
    return out;
  }
}

// ---- one connection ----------------------------------------------------------------------

/**
 * What goes out on one connection. Writes go out at once, or, while trickling,
 * one byte every `ms` behind whatever is already queued, so the order of the
 * stream never changes.
 */
class Outbox {
  private queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly ms: number,
  ) {
    socket.once('close', () => this.stop());
  }

  send(data: Buffer, slowly: boolean): void {
    if (this.socket.destroyed) return;
    if (!slowly && this.queue.length === 0) {
      this.socket.write(data);
      return;
    }
    this.queue.push(data);
    this.timer ??= setInterval(() => this.drip(), this.ms);
  }

  private drip(): void {
    const head = this.queue[0];
    if (!head || this.socket.destroyed) return this.stop();
    this.socket.write(head.subarray(0, 1));
    if (head.length > 1) this.queue[0] = head.subarray(1);
    else this.queue.shift();
    if (this.queue.length === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

class Connection {
  private input: Buffer = Buffer.alloc(0);
  private phase: 'client-flags' | 'options' | 'transmission' | 'closed' = 'client-flags';
  private structured = false;
  private noZeroes = false;
  private allocationNegotiated = false;
  private readonly out: Outbox;

  constructor(
    private readonly socket: net.Socket,
    private readonly server: Hostile,
  ) {
    this.out = new Outbox(socket, server.trickleMs);
    socket.on('error', () => {}); // a client that hangs up on us is no failure of ours
    socket.on('data', (d: Buffer) => this.received(d));
    this.sendHandshake(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)]));
  }

  private sendHandshake(data: Buffer): void {
    this.out.send(data, this.server.has('trickle-handshake'));
  }

  private sendReply(data: Buffer): void {
    this.out.send(data, this.server.has('trickle'));
  }

  private close(): void {
    this.phase = 'closed';
    this.socket.end();
  }

  /** Takes in bytes and handles every whole message among them. */
  private received(data: Buffer): void {
    this.input = this.input.length ? Buffer.concat([this.input, data]) : data;
    for (;;) {
      const used = this.phase === 'client-flags' ? this.clientFlags() : this.phase === 'options' ? this.option() : this.phase === 'transmission' ? this.request() : -1;
      if (used <= 0) return;
      this.input = this.input.subarray(used);
      // 'never-read': the client's requests stay unread in the socket, and its sends block once it fills.
      if (this.phase === 'transmission' && this.server.has('never-read')) {
        this.socket.pause();
        return;
      }
    }
  }

  // Each handler returns the bytes it used, 0 when the message is not all there yet, -1 to stop.

  private clientFlags(): number {
    if (this.input.length < 4) return 0;
    const flags = this.input.readUInt32BE(0);
    if (!(flags & FLAG_FIXED_NEWSTYLE)) {
      this.socket.destroy(); // a client without fixed newstyle: nothing we speak
      return -1;
    }
    this.noZeroes = Boolean(flags & CLIENT_FLAG_NO_ZEROES);
    this.phase = 'options';
    return 4;
  }

  private option(): number {
    if (this.input.length < 16) return 0;
    const length = this.input.readUInt32BE(12);
    if (this.input.length < 16 + length) return 0;
    if (!this.input.subarray(0, 8).equals(IHAVEOPT)) {
      this.socket.destroy();
      return -1;
    }
    const option = this.input.readUInt32BE(8);
    const data = this.input.subarray(16, 16 + length);
    switch (option) {
      case OPT_STRUCTURED_REPLY:
        this.structured = true;
        this.sendHandshake(optionReply(option, REP_ACK));
        break;
      case OPT_SET_META_CONTEXT:
      case OPT_LIST_META_CONTEXT:
        this.metaContext(option, data);
        break;
      case OPT_GO:
      case OPT_INFO:
        this.go(option, data);
        break;
      case OPT_EXPORT_NAME:
        this.exportName(data);
        break;
      case OPT_LIST: {
        // The one export there is, by the name it is served under ('' when any name goes).
        const exportName = Buffer.from(this.server.exportName ?? '');
        this.sendHandshake(optionReply(option, REP_SERVER, Buffer.concat([u32(exportName.length), exportName])));
        this.sendHandshake(optionReply(option, REP_ACK));
        break;
      }
      case OPT_ABORT:
        this.sendHandshake(optionReply(option, REP_ACK));
        this.close();
        return -1;
      default:
        this.sendHandshake(optionReply(option, REP_ERR_UNSUP));
    }
    return 16 + length;
  }

  /** Parses an export name (u32 length, name) at `at` in `data`; undefined when it does not fit. */
  private static name(data: Buffer, at: number): { name: string; next: number } | undefined {
    if (data.length < at + 4) return undefined;
    const n = data.readUInt32BE(at);
    if (data.length < at + 4 + n) return undefined;
    return { name: data.subarray(at + 4, at + 4 + n).toString(), next: at + 4 + n };
  }

  /**
   * SET: base:allocation is the one context we have; asked for, it gets its id
   * and block status is on. LIST: every query that base:allocation matches
   * (itself, or the "base:" namespace, or none at all) lists it, without an id.
   */
  private metaContext(option: number, data: Buffer): void {
    const exp = Connection.name(data, 0);
    if (!exp || data.length < exp.next + 4 || (option === OPT_SET_META_CONTEXT && !this.structured)) {
      this.sendHandshake(optionReply(option, REP_ERR_INVALID));
      return;
    }
    const count = data.readUInt32BE(exp.next);
    const queries: string[] = [];
    for (let i = 0, at = exp.next + 4; i < count; i++) {
      const q = Connection.name(data, at);
      if (!q) {
        this.sendHandshake(optionReply(option, REP_ERR_INVALID));
        return;
      }
      queries.push(q.name);
      at = q.next;
    }
    const matches =
      option === OPT_SET_META_CONTEXT ? queries.includes(BASE_ALLOCATION) : queries.length === 0 || queries.some((q) => q === BASE_ALLOCATION || q === 'base:');
    if (option === OPT_SET_META_CONTEXT) this.allocationNegotiated = matches;
    if (matches) {
      const id = option === OPT_SET_META_CONTEXT ? ALLOCATION_ID : 0;
      this.sendHandshake(optionReply(option, REP_META_CONTEXT, Buffer.concat([u32(id), Buffer.from(BASE_ALLOCATION)])));
    }
    this.sendHandshake(optionReply(option, REP_ACK));
  }

  private transmissionFlags(): number {
    return TX_HAS_FLAGS | TX_SEND_FLUSH | TX_SEND_TRIM | TX_SEND_WRITE_ZEROES | (this.server.multiConn ? TX_CAN_MULTI_CONN : 0);
  }

  /** OPT_GO / OPT_INFO: the export's size and flags, block sizes when asked (or when 'min-block' insists), ACK. */
  private go(option: number, data: Buffer): void {
    const exp = Connection.name(data, 0);
    if (!exp || data.length < exp.next + 2 || data.length < exp.next + 2 + 2 * data.readUInt16BE(exp.next)) {
      this.sendHandshake(optionReply(option, REP_ERR_INVALID));
      return;
    }
    if (this.server.has('huge-error')) {
      const text = this.server.hugeErrorText();
      this.sendHandshake(optionReply(option, REP_ERR_UNKNOWN, Buffer.from(text)));
      return;
    }
    if (this.server.exportName !== undefined && exp.name !== this.server.exportName) {
      this.sendHandshake(optionReply(option, REP_ERR_UNKNOWN, Buffer.from(`no export named '${exp.name}'`)));
      return;
    }
    const asked: number[] = [];
    for (let i = 0; i < data.readUInt16BE(exp.next); i++) asked.push(data.readUInt16BE(exp.next + 2 + 2 * i));
    this.sendHandshake(optionReply(option, REP_INFO, Buffer.concat([u16(INFO_EXPORT), u64(this.server.image.size), u16(this.transmissionFlags())])));
    // A server that needs a minimum block size must say so whether or not the client asked.
    if (asked.includes(INFO_BLOCK_SIZE) || this.server.has('min-block')) {
      const min = this.server.has('min-block') ? 64 * KiB : 1;
      const preferred = this.server.has('min-block') ? 64 * KiB : 4 * KiB;
      this.sendHandshake(optionReply(option, REP_INFO, Buffer.concat([u16(INFO_BLOCK_SIZE), u32(min), u32(preferred), u32(MAX_PAYLOAD)])));
    }
    this.sendHandshake(optionReply(option, REP_ACK));
    if (option === OPT_GO) this.phase = 'transmission';
  }

  /** The old way in: size, flags and (without NO_ZEROES) 124 zero bytes, then transmission. */
  private exportName(data: Buffer): void {
    if (this.server.exportName !== undefined && data.toString() !== this.server.exportName) {
      this.socket.destroy(); // OPT_EXPORT_NAME has no error reply: the spec says to hang up
      return;
    }
    this.sendHandshake(Buffer.concat([u64(this.server.image.size), u16(this.transmissionFlags()), Buffer.alloc(this.noZeroes ? 0 : 124)]));
    this.phase = 'transmission';
  }

  /** One transmission request; the payload of a WRITE must be all there. */
  private request(): number {
    if (this.input.length < 28) return 0;
    if (this.input.readUInt32BE(0) !== REQUEST_MAGIC) {
      this.socket.destroy();
      return -1;
    }
    const flags = this.input.readUInt16BE(4);
    const type = this.input.readUInt16BE(6);
    const cookie = Buffer.from(this.input.subarray(8, 16));
    const offset = Number(this.input.readBigUInt64BE(16));
    const length = this.input.readUInt32BE(24);
    const payload = type === CMD_WRITE ? length : 0;
    if (this.input.length < 28 + payload) return 0;
    const request: HostileRequest = { type: COMMAND_NAMES[type] ?? `cmd${type}`, offset, length, flags };
    this.server.requests.push(request);
    this.server.notify(request);
    const bad = this.badRequest(type, offset, length);
    if (bad) {
      this.fail(type, cookie, bad.error, bad.message);
      return 28 + payload;
    }
    switch (type) {
      case CMD_READ:
        this.read(request, cookie);
        break;
      case CMD_WRITE:
        this.write(request, cookie, this.input.subarray(28, 28 + length));
        break;
      case CMD_WRITE_ZEROES:
      case CMD_TRIM:
        this.zero(request, cookie, type === CMD_TRIM);
        break;
      case CMD_FLUSH:
        this.sendReply(simpleReply(cookie, 0));
        break;
      case CMD_BLOCK_STATUS:
        this.blockStatus(request, cookie);
        break;
      case CMD_DISC:
        this.close();
        return -1;
      default:
        this.fail(type, cookie, EINVAL, 'unknown command');
    }
    return 28 + payload;
  }

  /** What an honest server refuses: a range outside the export, and with 'min-block' one off the 64 KiB grid. */
  private badRequest(type: number, offset: number, length: number): { error: number; message: string } | undefined {
    if (type === CMD_FLUSH || type === CMD_DISC) return undefined;
    if (offset + length > this.server.image.size) return { error: EINVAL, message: 'request beyond the end of the export' };
    if (this.server.has('min-block') && (offset % (64 * KiB) !== 0 || length % (64 * KiB) !== 0))
      return { error: EINVAL, message: 'request not aligned to the minimum block size of 65536' };
    return undefined;
  }

  /** An error reply of the kind the command takes: a chunk for READ and BLOCK_STATUS, else a simple reply. */
  private fail(type: number, cookie: Buffer, error: number, message: string): void {
    if (this.structured && (type === CMD_READ || type === CMD_BLOCK_STATUS)) this.sendReply(errorChunk(cookie, error, message));
    else this.sendReply(simpleReply(cookie, error));
  }

  // ---- READ ----

  private read(request: HostileRequest, cookie: Buffer): void {
    const { offset, length } = request;
    if (this.server.has('stall')) {
      this.server.misbehaved.push(request); // read, never answered
      return;
    }
    if (!this.structured) {
      this.sendReply(simpleReply(cookie, 0, this.server.image.bytes.subarray(offset, offset + length)));
      return;
    }
    const lie = this.server.readLie(request);
    if (lie) {
      this.server.misbehaved.push(request);
      this.sendReply(Buffer.concat(lie(cookie)));
      return;
    }
    if (this.server.has('trickle')) this.server.misbehaved.push(request);
    this.sendReply(Buffer.concat(this.honestRead(cookie, offset, length)));
  }

  /** The chunks of an honest read: one OFFSET_DATA, or with `holeChunks` one chunk per run of the map. */
  private honestRead(cookie: Buffer, offset: number, length: number): Buffer[] {
    const bytes = this.server.image.bytes;
    if (length === 0) return [chunk(cookie, CHUNK_NONE, true)];
    if (!this.server.holeChunks) return [dataChunk(cookie, offset, bytes.subarray(offset, offset + length), true)];
    const chunks: Buffer[] = [];
    let at = offset;
    const runs = this.server.image.runs(offset, length);
    runs.forEach(([n, state], i) => {
      const last = i === runs.length - 1;
      chunks.push(state & STATE_ZERO ? holeChunk(cookie, at, n, last) : dataChunk(cookie, at, bytes.subarray(at, at + n), last));
      at += n;
    });
    return chunks;
  }

  // ---- WRITE, WRITE_ZEROES, TRIM ----

  /** The part of [offset, offset + length) that 'drop-writes' lets through: [offset, keepEnd). */
  private keptEnd(request: HostileRequest): number {
    const end = request.offset + request.length;
    if (!this.server.has('drop-writes')) return end;
    const keep = Math.max(request.offset, Math.min(end, this.server.dropWritesAbove));
    if (keep < end) this.server.misbehaved.push(request);
    return keep;
  }

  private write(request: HostileRequest, cookie: Buffer, data: Buffer): void {
    const keep = this.keptEnd(request);
    this.server.image.write(request.offset, data.subarray(0, keep - request.offset));
    this.sendReply(simpleReply(cookie, 0));
  }

  private zero(request: HostileRequest, cookie: Buffer, trim: boolean): void {
    const keep = this.keptEnd(request);
    this.server.image.zero(request.offset, keep - request.offset, !trim && Boolean(request.flags & CMD_FLAG_NO_HOLE));
    this.sendReply(simpleReply(cookie, 0));
  }

  // ---- BLOCK_STATUS ----

  private blockStatus(request: HostileRequest, cookie: Buffer): void {
    if (!this.allocationNegotiated) {
      this.fail(CMD_BLOCK_STATUS, cookie, EINVAL, 'no meta context negotiated');
      return;
    }
    const lie = this.server.statusLie(request);
    if (lie) {
      this.server.misbehaved.push(request);
      this.sendReply(Buffer.concat(lie(cookie)));
      return;
    }
    if (this.server.has('trickle')) this.server.misbehaved.push(request);
    this.sendReply(statusChunk(cookie, ALLOCATION_ID, this.server.image.runs(request.offset, request.length), true));
  }
}

// ---- the server ------------------------------------------------------------------------------

type Reply = (cookie: Buffer) => Buffer[];

class Hostile {
  readonly image: Image;
  readonly requests: HostileRequest[] = [];
  readonly misbehaved: HostileRequest[] = [];
  readonly modes: Set<HostileMode>;
  readonly trickleMs: number;
  readonly dropWritesAbove: number;
  readonly halfReadsFrom: number;
  readonly lieFrom: number;
  readonly holeChunks: boolean;
  readonly multiConn: boolean;
  readonly exportName: string | undefined;
  private readonly hugeErrorBytes: number;
  private readonly waiters: Array<{ type: string; resolve: (r: HostileRequest) => void }> = [];

  constructor(opts: HostileOptions) {
    this.modes = new Set(opts.mode === undefined ? [] : Array.isArray(opts.mode) ? opts.mode : [opts.mode]);
    this.image = new Image(opts.size, opts.image, this.has('tiny-extents'));
    this.trickleMs = opts.trickleMs ?? 1000;
    this.dropWritesAbove = opts.dropWritesAbove ?? 0;
    this.halfReadsFrom = opts.halfReadsFrom ?? 4 * MiB;
    this.lieFrom = opts.lieFrom ?? 0;
    // Tiny extents are only worth their name if reads come back as many chunks too.
    this.holeChunks = opts.holeChunks ?? this.has('tiny-extents');
    this.multiConn = opts.multiConn ?? true;
    this.exportName = opts.exportName;
    this.hugeErrorBytes = opts.hugeErrorBytes ?? 60_000;
  }

  has(mode: HostileMode): boolean {
    return this.modes.has(mode);
  }

  notify(request: HostileRequest): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.type !== request.type) continue;
      this.waiters.splice(i, 1);
      w.resolve(request);
    }
  }

  waitForRequest(type: string, timeoutMs: number): Promise<HostileRequest> {
    const seen = this.requests.find((r) => r.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} request within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  /** The text of 'huge-error': a readable start (the tests look for it), then filler to the length. */
  hugeErrorText(): string {
    return (HUGE_ERROR_START + 'blah '.repeat(Math.ceil(this.hugeErrorBytes / 5))).slice(0, this.hugeErrorBytes);
  }

  /**
   * The lie a read gets, or undefined for the truth. Each lie is a reply a
   * client must refuse: its chunks do not cover the request exactly once.
   */
  readLie(request: HostileRequest): Reply | undefined {
    const { offset, length } = request;
    const bytes = this.image.bytes;
    const data = (at: number, n: number, done: boolean) => (cookie: Buffer) => dataChunk(cookie, at, bytes.subarray(at, at + n), done);
    const half = Math.floor(length / 2);
    // 'half-reads' lies by size, anywhere: what a verify pass reads back.
    if (this.has('half-reads') && length >= this.halfReadsFrom && half > 0) return (c) => [data(offset, half, true)(c)];
    if (offset < this.lieFrom || length < 2) return undefined;
    if (this.has('short-read')) return (c) => [data(offset, half, false)(c), chunk(c, CHUNK_NONE, true)];
    if (this.has('missing-read')) return (c) => [chunk(c, CHUNK_NONE, true)];
    if (this.has('duplicate-chunk')) return (c) => [data(offset, half, false)(c), data(offset, half, true)(c)];
    if (this.has('overlap-chunks')) {
      const quarter = Math.floor(length / 4);
      return (c) => [data(offset, length - quarter, false)(c), data(offset + quarter, length - quarter, true)(c)];
    }
    if (this.has('outside')) {
      // Just past what was asked for, inside the export where there is room.
      const n = Math.min(length, 4096);
      return (c) => [dataChunk(c, offset + length, Buffer.alloc(n), true)];
    }
    return undefined;
  }

  /** The lie (or the legal oddity) a block status request gets, or undefined for the plain truth. */
  statusLie(request: HostileRequest): Reply | undefined {
    const { offset, length } = request;
    const image = this.image;
    const HOLE = STATE_HOLE | STATE_ZERO;
    const half = Math.max(1, Math.floor(length / 2));
    if (this.has('duplicate-status'))
      return (c) => [statusChunk(c, ALLOCATION_ID, [[half, 0]], false), statusChunk(c, ALLOCATION_ID, [[length, HOLE]], true)];
    if (this.has('wrong-context')) return (c) => [statusChunk(c, WRONG_ID, [[length, HOLE]], true)];
    if (this.has('status-after-end')) return (c) => [statusChunk(c, ALLOCATION_ID, [...image.runs(offset, length), [length, HOLE]], true)];
    if (this.has('status-zero-length')) {
      // In the middle of the first run, so the extents before and after it still add up to the truth.
      const runs = image.runs(offset, length);
      const [n, state] = runs[0]!;
      const head = Math.max(1, Math.floor(n / 2));
      const zero: Array<[number, number]> = n > 1 ? [[head, state], [0, HOLE], [n - head, state]] : [[n, state], [0, HOLE]];
      return (c) => [statusChunk(c, ALLOCATION_ID, [...zero, ...runs.slice(1)], true)];
    }
    if (this.has('short-status') && length > 64 * KiB) return (c) => [statusChunk(c, ALLOCATION_ID, image.runs(offset, 64 * KiB), true)];
    if (this.has('status-overrun')) {
      // The last run told on past the end, as far as the export goes (up to 1 MiB).
      const end = offset + length;
      const beyond = Math.min(MiB, image.size - end);
      if (beyond <= 0) return undefined;
      const runs = image.runs(offset, length);
      const last = runs[runs.length - 1]!;
      return (c) => [statusChunk(c, ALLOCATION_ID, [...runs.slice(0, -1), [last[0] + beyond, last[1]]], true)];
    }
    return undefined;
  }
}

/** An NBD server of `opts.size` bytes on `dir/name.sock`, honest unless `opts.mode` says otherwise. */
export function hostileNbd(dir: string, name: string, opts: HostileOptions): Promise<HostileServer> {
  const state = new Hostile(opts);
  const socket = path.join(dir, `${name}.sock`);
  fs.rmSync(socket, { force: true }); // left by a server of the same name before
  const sockets = new Set<net.Socket>();
  const result: HostileServer = {
    uri: `nbd+unix:///?socket=${socket}`,
    socket,
    image: state.image.bytes,
    requests: state.requests,
    misbehaved: state.misbehaved,
    connections: 0,
    map(offset = 0, length = state.image.size - offset) {
      let at = offset;
      return state.image.runs(offset, length).map(([n, s]) => {
        const e: HostileExtent = { offset: at, length: n, type: s & STATE_ZERO ? 'hole' : 'data' };
        at += n;
        return e;
      });
    },
    waitForRequest: (type, timeoutMs = 10_000) => state.waitForRequest(type, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    result.connections++;
    new Connection(s, state);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(result));
  });
}
