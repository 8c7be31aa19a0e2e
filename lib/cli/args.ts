// The command line's words for what went wrong with it: parseArgs's errors
// as git and cargo say them (`unknown option --fsnyc (did you mean --fsync?)`),
// and the API's argument errors in the flags the user typed, with the rule in
// plain words.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** A command's flags, as util.parseArgs takes them. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** The first flag of `args` that `options` does not take as written. */
export function whatIsWrong(args: string[], options: Options): string | undefined {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (!option) return `unknown option ${token.rawName}${suggestion(token.rawName, options)}`;
    if (option.type === 'boolean' && token.value !== undefined) return `${token.rawName} takes no value (it was given '${token.value}')`;
    if (option.type === 'string' && token.value === undefined) return `${token.rawName} needs a value`;
    // parseArgs will not take a value that looks like a flag unless it is written --flag=VALUE.
    if (option.type === 'string' && !token.inlineValue && token.value!.startsWith('-')) {
      return `${token.rawName} needs a value, not '${token.value}' (write ${token.rawName}=${token.value} if that is the value)`;
    }
  }
  return undefined;
}

/** " (did you mean --fsync?)" when one of the command's flags is a slip away; else nothing. */
function suggestion(typed: string, options: Options): string {
  if (!typed.startsWith('--')) return '';
  const word = typed.slice(2).split('=')[0]!;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(2, Math.floor(word.length / 3)));
  for (const name of Object.keys(options)) {
    const d = editDistance(word, name);
    if (d <= bestDistance) {
      best = name;
      bestDistance = d - 1; // a later one must be strictly closer
    }
  }
  return best === undefined ? '' : ` (did you mean --${best}?)`;
}

/** Levenshtein distance, a swap of two neighbours counting as one edit (fsnyc -> fsync). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The flag that sets each API option, so that the API's messages name what the user typed. */
const FLAG_OF: Record<string, string> = {
  srcOffset: '--offset',
  dstOffset: '--seek',
  length: '--length',
  dstSize: '--size',
  blockSize: '--bs',
  queueDepth: '--queue-depth',
  bandwidth: '--bwlimit',
  sparse: '--sparse',
  backend: '--backend',
  truncate: '--no-truncate',
  reflink: '--no-reflink',
  direct: '--direct',
  srcFormat: '--src-format',
  dstFormat: '--dst-format',
  dstCompress: '--compress',
  format: '--src-format',
  connections: '--connections',
  nbdTimeout: '--nbd-timeout',
  offset: '--offset',
  name: '--name',
};

/** What each flag whose value has limits takes, in plain words: said instead of the API's range. */
const RULE_OF: Record<string, string> = {
  '--bs': 'the block size must be a multiple of 4 KiB, from 4 KiB to 64 MiB',
  '--queue-depth': 'the queue depth must be a whole number from 1 to 256',
  '--connections': 'the number of NBD connections must be from 1 to 16',
  '--nbd-timeout': 'the NBD timeout must be at most 24 days (0: no limit)',
};

/** The API's argument names for the command's arguments. */
const ARGUMENT_OF: Record<string, string> = { src: 'SRC', dst: 'DST', target: 'TARGET', file: 'FILE' };

/**
 * An API error message said in the command's terms: "The value of
 * "options.blockSize" is out of range ..." becomes "--bs 1000: the block size
 * must be a multiple of 4 KiB, from 4 KiB to 64 MiB". `typed` holds the flags'
 * values as the user wrote them.
 */
export function inFlagTerms(message: string, typed: Record<string, unknown> = {}): string {
  if (/^The argument 'dst' is the source itself, at the same offset/.test(message)) {
    return 'SRC and DST are the same file at the same offset: there is nothing to copy (give --seek or --offset to move within one file)';
  }
  const named = /^The (?:value of "|argument '|")options\.(\w+)["']/.exec(message);
  const flag = named ? FLAG_OF[named[1]!] : undefined;
  if (flag && RULE_OF[flag]) {
    const value = typed[flag.slice(2)];
    return `${typeof value === 'string' ? `${flag} ${value}` : flag}: ${RULE_OF[flag]}`;
  }
  return message
    .replace(/options\.(\w+)/g, (whole, key: string) => FLAG_OF[key] ?? whole)
    .replace(/The argument '(src|dst|target|file)'/g, (_, arg: string) => `The argument ${ARGUMENT_OF[arg]}`)
    .replace(/\b(srcOffset|dstOffset|dstSize)\b/g, (key: string) => FLAG_OF[key]!);
}
