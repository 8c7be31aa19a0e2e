// One job per target: a job claims the byte ranges of its destination that it
// may change, and a second job whose claim overlaps is refused with EBUSY, as
// a hypervisor refuses a second block job on a disk. Copies and receivers
// (receive(), Connection, createExtentWriteStream) claim alike.
//
// These claims refuse a job at once, even while it is still queued, when its
// destination's name or inode says it is taken. The engine then write-locks
// the same bytes through the open file (range_lock.cc), which also holds
// across processes and for names these claims cannot see coming (a hard link
// made to a file a job created).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemError } from './errors';
import { isNbdUri } from './nbd';
import type { CheckedCopy } from './options';
import type { Target } from './types';

/** [start, end) in destination bytes; end may be Infinity. */
export type Span = readonly [number, number];

interface Claim {
  owner: string;
  keys: string[];
  spans: Span[];
}

const claimsByKey = new Map<string, Set<Claim>>();

/**
 * The names one destination goes by: its inode (or device number) when it
 * exists, and its resolved path, so that a file a queued job has not created
 * yet still collides with a later job naming the same path.
 */
function identities(dst: Target): string[] {
  if (isNbdUri(dst)) return [`nbd:${dst}`]; // the server's export: its URI is all we know of it
  const keys: string[] = [];
  let st: fs.Stats | undefined;
  try {
    st = typeof dst === 'number' ? fs.fstatSync(dst) : fs.statSync(dst);
  } catch {
    st = undefined; // not there yet, or unreadable: the open will say so
  }
  if (st) keys.push(st.isBlockDevice() ? `dev:${st.rdev}` : `inode:${st.dev}:${st.ino}`);
  if (typeof dst === 'string') keys.push(`path:${resolvedPath(dst)}`);
  return keys;
}

/** The canonical path, also for a file not created yet or a symlink to one. */
function resolvedPath(file: string, depth = 0): string {
  const absolute = path.resolve(file);
  try {
    return fs.realpathSync(absolute);
  } catch {
    // Not there (yet): follow a dangling symlink by hand, else resolve the folder.
  }
  try {
    if (depth < 40 && fs.lstatSync(absolute).isSymbolicLink()) {
      return resolvedPath(path.resolve(path.dirname(absolute), fs.readlinkSync(absolute)), depth + 1);
    }
  } catch {
    // No such entry: the folder decides.
  }
  try {
    return path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
  } catch {
    return absolute;
  }
}

/** Bytes of the source from srcOffset on, when its size can be known cheaply; Infinity otherwise. */
function sourceLength(src: Target, srcOffset: number): number {
  try {
    const st = typeof src === 'number' ? fs.fstatSync(src) : fs.statSync(src);
    return st.isFile() ? Math.max(0, st.size - srcOffset) : Infinity;
  } catch {
    return Infinity;
  }
}

/**
 * What a job writing `length` bytes at `offset` may change: that range (to
 * the end of the file when it cuts the file there), and everything above a
 * new size. The engine locks the same spans (spans_changed in range_lock.cc).
 */
export function spansChanged(offset: number, length: number, cutsAtOffset: boolean, newSize?: number): Span[] {
  const spans: Span[] = [[offset, cutsAtOffset ? Infinity : offset + length]];
  if (newSize !== undefined) spans.push([newSize, Infinity]);
  return spans;
}

/** A copy's spans; its length is to the end of the source when unset. */
export function copySpans(src: Target, checked: CheckedCopy): Span[] {
  const { srcOffset, dstOffset, length, truncate, dstSize, srcFormat } = checked.settings;
  // An image's file size is not its size: only qemu-nbd knows that.
  const sourceBytes = srcFormat === 'raw' ? sourceLength(src, srcOffset) : Infinity;
  return spansChanged(dstOffset, length ?? sourceBytes, truncate, dstSize);
}

function overlaps(a: Span, b: Span): boolean {
  return a[0] < b[1] && b[0] < a[1] && a[0] < a[1] && b[0] < b[1];
}

function describe(span: Span): string {
  return span[1] === Infinity ? `${span[0]} to the end` : `${span[0]}-${span[1]}`;
}

/**
 * Claims `spans` of the destination for `owner` ("job 3"), or throws a
 * CopyError with code EBUSY naming the owner already writing there. Returns
 * the release function.
 */
export function claimDestination(owner: string, dst: Target, spans: Span[]): () => void {
  const claim: Claim = { owner, keys: identities(dst), spans };
  for (const key of claim.keys) {
    for (const other of claimsByKey.get(key) ?? []) {
      const clash = claim.spans.find((mine) => other.spans.some((theirs) => overlaps(mine, theirs)));
      if (clash) {
        throw systemError(
          os.constants.errno.EBUSY,
          'copy',
          dst,
          dst,
          `resource busy or locked (${other.owner} is already writing bytes ${describe(clash)} of this destination)`,
        );
      }
    }
  }
  for (const key of claim.keys) {
    let set = claimsByKey.get(key);
    if (!set) claimsByKey.set(key, (set = new Set()));
    set.add(claim);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const key of claim.keys) {
      const set = claimsByKey.get(key);
      set?.delete(claim);
      if (set?.size === 0) claimsByKey.delete(key);
    }
  };
}
