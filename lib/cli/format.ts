// Human-readable sizes and durations for the command's output.
import type { ZeroMethod } from '../types';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (v: number) => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** How each way of zeroing reads in a summary line. */
const ZEROED_BY: Record<ZeroMethod, string> = {
  write_zeroes: 'NBD WRITE_ZEROES',
  punch_hole: 'holes punched',
  zero_range: 'fallocate ZERO_RANGE',
  blkzeroout: 'BLKZEROOUT',
  zeros_written: 'zeros written',
};

/** ", 3.96 GiB zeroed (NBD WRITE_ZEROES)" for a summary line; nothing when nothing was zeroed. */
export function formatZeroed(r: { bytesZeroed: number; zeroedBy: readonly ZeroMethod[] }): string {
  if (r.bytesZeroed === 0) return '';
  const how = r.zeroedBy.map((m) => ZEROED_BY[m]).join(', ');
  return `, ${formatBytes(r.bytesZeroed)} zeroed${how ? ` (${how})` : ''}`;
}
