// Sizes on the command line, the way dd and numfmt write them: a number with
// an optional suffix. K, M, G, T, P (and KiB, MiB ...) are powers of 1024;
// KB, MB, GB, TB, PB powers of 1000; c and B are bytes (dd's w and b too).
const BINARY = ['K', 'M', 'G', 'T', 'P', 'E'];
const MULTIPLIERS: Record<string, number> = { '': 1, c: 1, B: 1, w: 2, b: 512 };
BINARY.forEach((p, i) => {
  MULTIPLIERS[p] = 1024 ** (i + 1);
  MULTIPLIERS[p.toLowerCase()] = 1024 ** (i + 1);
  MULTIPLIERS[`${p}iB`] = 1024 ** (i + 1);
  MULTIPLIERS[`${p}B`] = 1000 ** (i + 1);
});

export class SizeError extends Error {}

/** A byte count from "4096", "1M", "1.5GiB", "10KB"; throws SizeError with a clear reason. */
export function parseSize(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!match) throw new SizeError(`${what}: '${text}' is not a size (a number with an optional suffix such as K, M, GiB)`);
  const [, number, suffix] = match as unknown as [string, string, string];
  const multiplier = MULTIPLIERS[suffix];
  if (multiplier === undefined) throw new SizeError(`${what}: unknown suffix '${suffix}' in '${text}' (use K, M, G, T, P, KiB ... or KB, MB ...)`);
  const value = Number(number) * multiplier;
  if (!Number.isInteger(value)) throw new SizeError(`${what}: '${text}' is not a whole number of bytes`);
  if (!Number.isSafeInteger(value)) throw new SizeError(`${what}: '${text}' is too large (at most 2^53 - 1 bytes)`);
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds from a duration as timeout(1) writes it: "30s", "500ms", "2m", "1.5h"; a bare number is seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*$/.exec(text);
  if (!match) throw new SizeError(`${what}: '${text}' is not a duration (a number with an optional unit: ms, s, m, h)`);
  const ms = Number(match[1]) * DURATION_UNITS[match[2]!]!;
  if (!Number.isInteger(ms)) throw new SizeError(`${what}: '${text}' is not a whole number of milliseconds`);
  if (ms > 2 ** 31 - 1) throw new SizeError(`${what}: '${text}' is too long (at most 24 days)`);
  return ms;
}
