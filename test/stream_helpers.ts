// Streams built by hand for tests: a whole image as send() puts it on the
// wire, and single frames to break it with.
import { Writable } from 'node:stream';
import { bc } from './helpers';

export async function wire(file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await bc.send(file, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

export const PREFACE = 16;
export const HEADER = 12;
/** Where the first frame after BEGIN starts in a stream made by wire(). */
export function afterBegin(bytes: Buffer): number {
  return PREFACE + HEADER + bytes.readUInt32LE(PREFACE);
}

export function frame(type: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(id, 8);
  return Buffer.concat([h, payload]);
}

export function preface(): Buffer {
  const p = Buffer.alloc(PREFACE);
  Buffer.from('BLKCOPY\n', 'latin1').copy(p);
  p.writeUInt32LE(1, 8);
  return p;
}

export function beginFrame(id: number, size: number): Buffer {
  const p = Buffer.alloc(18);
  p.writeBigUInt64LE(BigInt(size), 0);
  return frame(1, id, p);
}

