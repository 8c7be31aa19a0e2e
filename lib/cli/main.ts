#!/usr/bin/env node
// The `blockcopy` command: copy (the default), send, recv, map, checksum and help.
// Arguments are parsed with Node's own util.parseArgs (worded by args.ts); sizes by sizes.ts.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { checksum } from '../checksum';
import { copy } from '../copy';
import { extents } from '../extents';
import { afterEnd } from '../stream/errors';
import { isEngineDescriptor, receiveFromDescriptor, sendToDescriptor } from '../stream/descriptor';
import type { SendOptions } from '../stream/connection';
import { receive, send } from '../stream/one_image';
import { BACKEND_NAMES, IMAGE_FORMATS, SPARSE_MODES } from '../types';
import type { CopyOptions, SyncMode } from '../types';
import { inFlagTerms, type Options, UsageError, whatIsWrong } from './args';
import { formatBytes, formatDuration, formatZeroed } from './format';
import { HELP, USAGE } from './help';
import { invokedAs, shellQuote } from './shell';
import { parseDuration, parseSize, SizeError } from './sizes';
import { chooseDisplay, type Display, EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, watch } from './watch';

type Command = keyof typeof HELP;

const OUTPUT = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  progress: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every command that may reach an NBD server takes this. */
const NBD_WAIT = { 'nbd-timeout': { type: 'string' } } as const;

const COPY_OPTIONS = {
  ...OUTPUT,
  ...NBD_WAIT,
  sparse: { type: 'string' },
  offset: { type: 'string' },
  seek: { type: 'string' },
  length: { type: 'string' },
  bs: { type: 'string' },
  'queue-depth': { type: 'string' },
  bwlimit: { type: 'string' },
  direct: { type: 'boolean' },
  fsync: { type: 'boolean' },
  fdatasync: { type: 'boolean' },
  backend: { type: 'string' },
  'no-reflink': { type: 'boolean' },
  size: { type: 'string' },
  'no-truncate': { type: 'boolean' },
  force: { type: 'boolean' },
  verify: { type: 'boolean' },
  'src-format': { type: 'string', short: 'f' },
  'dst-format': { type: 'string', short: 'O' },
  compress: { type: 'boolean', short: 'c' },
  connections: { type: 'string' },
  version: { type: 'boolean', short: 'V' },
} as const;

const SRC_FORMAT = { 'src-format': { type: 'string', short: 'f' } } as const;
const SEND_OPTIONS = {
  ...OUTPUT,
  ...NBD_WAIT,
  ...SRC_FORMAT,
  sparse: { type: 'string' },
  name: { type: 'string' },
  to: { type: 'string' },
  resume: { type: 'boolean' },
  'idle-timeout': { type: 'string' },
  offset: { type: 'string' },
  length: { type: 'string' },
} as const;
const RECV_OPTIONS = {
  ...OUTPUT,
  ...NBD_WAIT,
  fsync: { type: 'boolean' },
  fdatasync: { type: 'boolean' },
  verify: { type: 'boolean' },
  duplex: { type: 'boolean' },
  seek: { type: 'string' },
  'dst-format': { type: 'string', short: 'O' },
} as const;
const CHECKSUM_OPTIONS = { ...OUTPUT, ...SRC_FORMAT, ...NBD_WAIT, offset: { type: 'string' }, length: { type: 'string' } } as const;
const MAP_OPTIONS = { ...SRC_FORMAT, ...NBD_WAIT, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

function version(): string {
  return (require('../../package.json') as { version: string }).version;
}

/** util.parseArgs, strict; what it refuses is bad usage, said in args.ts's words. */
function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(whatIsWrong(args, options) ?? (e as Error).message);
  }
}

/** A flag's value through one of sizes.ts's parsers; what it refuses is bad usage. */
function parsed(text: string | undefined, flag: string, parse: (text: string, flag: string) => number): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parse(text, flag);
  } catch (e) {
    if (e instanceof SizeError) throw new UsageError(e.message);
    throw e;
  }
}

function size(text: string | undefined, flag: string): number | undefined {
  return parsed(text, flag, parseSize);
}

/** Milliseconds from a duration such as 30s or 500ms (a bare number is seconds). */
function duration(text: string | undefined, flag: string): number | undefined {
  return parsed(text, flag, parseDuration);
}

/** --nbd-timeout DURATION as the API's nbdTimeout (ms); unset: the API's default. */
function nbdWait(values: { 'nbd-timeout'?: string }): { nbdTimeout?: number } {
  const nbdTimeout = duration(values['nbd-timeout'], '--nbd-timeout');
  return nbdTimeout === undefined ? {} : { nbdTimeout };
}

/** A count such as a queue depth: digits only, no size suffix. */
function count(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: '${text}' is not a whole number`);
  return Number(text);
}

function choice<T extends string>(text: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${flag}: '${text}' is not one of ${choices.join(', ')}`);
  return text as T;
}

function display(values: { json?: boolean; quiet?: boolean; progress?: boolean }): { display: Display; lineInterval: number } {
  const chosen = [values.json && '--json', values.quiet && '--quiet', values.progress && '--progress'].filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(' and ')} do not go together`);
  // --progress: status lines every second even when stderr is not a terminal.
  return { display: chooseDisplay(values), lineInterval: values.progress ? 1 : 5 };
}

function syncMode(values: { fsync?: boolean; fdatasync?: boolean }): SyncMode {
  if (values.fsync && values.fdatasync) throw new UsageError('--fsync and --fdatasync do not go together');
  return values.fsync ? 'full' : values.fdatasync ? 'data' : 'none';
}

function elapsed(r: { elapsedMs: number; rate: number }): string {
  return `in ${formatDuration(r.elapsedMs / 1000)} (${formatBytes(r.rate)}/s`;
}

// ---- copy ----------------------------------------------------------------------

/** Flags that say where the range lies: the resume command works them out anew. */
const RANGE_FLAGS = new Set(['offset', 'seek', 'length', 'size', 'no-truncate']);
/** Flags that are no part of a copy's settings. */
const NOT_SETTINGS = new Set(['help', 'version']);

/**
 * The command that finishes a cancelled copy: built from the parsed flags, so
 * every setting carries over with its value, and the range moves to where it stopped.
 */
function resumeCommand(values: Record<string, string | boolean | undefined>, src: string, dst: string, options: CopyOptions, resumeOffset: number): string {
  const srcOffset = options.srcOffset ?? 0;
  const done = resumeOffset - srcOffset;
  // A SRC or DST that looks like a flag would be read as one: after '--' it cannot.
  const files = src.startsWith('-') || dst.startsWith('-') ? [] : [src, dst];
  const parts = [...invokedAs(), ...files, '--offset', String(resumeOffset), '--seek', String((options.dstOffset ?? 0) + done)];
  if (options.length !== undefined) parts.push('--length', String(options.length - done));
  parts.push('--no-truncate');
  for (const [flag, value] of Object.entries(values)) {
    if (value === undefined || value === false || RANGE_FLAGS.has(flag) || NOT_SETTINGS.has(flag)) continue;
    parts.push(`--${flag}`);
    if (typeof value === 'string') parts.push(value);
  }
  if (files.length === 0) parts.push('--', src, dst);
  return parts.map(shellQuote).join(' ');
}

async function copyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, COPY_OPTIONS);
  if (values.help) return printHelp('copy');
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const files = positionals[0] === 'copy' ? positionals.slice(1) : positionals;
  if (files.length !== 2) throw new UsageError('expected SRC and DST');
  const [src, dst] = files as [string, string];
  const shown = display(values);
  const options: CopyOptions = { fsync: syncMode(values), ...nbdWait(values) };
  const set = <K extends keyof CopyOptions>(key: K, value: CopyOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('sparse', choice(values.sparse, '--sparse', SPARSE_MODES));
  set('srcOffset', size(values.offset, '--offset'));
  set('dstOffset', size(values.seek, '--seek'));
  set('length', size(values.length, '--length'));
  set('blockSize', size(values.bs, '--bs'));
  set('queueDepth', count(values['queue-depth'], '--queue-depth'));
  set('bandwidth', size(values.bwlimit, '--bwlimit'));
  set('dstSize', size(values.size, '--size'));
  set('backend', choice(values.backend, '--backend', BACKEND_NAMES));
  set('srcFormat', choice(values['src-format'], '--src-format', IMAGE_FORMATS));
  set('dstFormat', choice(values['dst-format'], '--dst-format', IMAGE_FORMATS));
  set('connections', count(values.connections, '--connections'));
  if (values.direct) options.direct = true;
  if (values['no-reflink']) options.reflink = 'never';
  if (values['no-truncate']) options.truncate = false;
  if (values.force) options.force = true;
  if (values.verify) options.verify = true;
  if (values.compress) options.dstCompress = true;
  if (shown.display === 'bar') options.progressInterval = 100;

  let job;
  try {
    job = copy(src, dst, options);
  } catch (e) {
    throw new UsageError(inFlagTerms((e as Error).message, values)); // arguments the API refused, e.g. SRC is DST
  }
  return watch(job, {
    ...shown,
    jsonOut: process.stdout,
    explain: (message) => inFlagTerms(message, values),
    summary: (r) =>
      `copied ${formatBytes(r.bytesDone)} of data: ${formatBytes(r.bytesWritten)} written${formatZeroed(r)}, ` +
      `${formatBytes(r.bytesSkipped)} skipped as holes, ${elapsed(r)}, ${r.backend})` +
      (r.phase === 'verify' ? `; read back from the disk and verified` : ''),
    cancelled: (e) => {
      const at = e.resumeOffset ?? options.srcOffset ?? 0;
      return (
        `cancelled after ${formatBytes(e.bytesDone ?? 0)} of data; every source byte below offset ${at} is copied.\n` +
        `To finish the copy, run:\n  ${resumeCommand(values, src, dst, options, at)}`
      );
    },
  });
}

// ---- send / recv -----------------------------------------------------------------

async function sendCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, SEND_OPTIONS);
  if (values.help) return printHelp('send');
  if (positionals.length !== 2) throw new UsageError('send expects one FILE');
  if (values.resume && values.to === undefined) throw new UsageError('--resume needs --to COMMAND: the receiver must be able to answer');
  if (values.to === undefined && process.stdout.isTTY) throw new UsageError('send writes a binary stream: redirect stdout to a file or a pipe');
  const shown = display(values);
  const length = size(values.length, '--length');
  const idleTimeout = duration(values['idle-timeout'], '--idle-timeout');
  const options = {
    sparse: choice(values.sparse, '--sparse', SPARSE_MODES) ?? 'auto',
    format: choice(values['src-format'], '--src-format', IMAGE_FORMATS) ?? 'raw',
    name: values.name ?? '',
    offset: size(values.offset, '--offset') ?? 0,
    ...(length === undefined ? {} : { length }),
    ...nbdWait(values),
  };
  const waits = idleTimeout === undefined ? {} : { idleTimeout };
  if (values.to !== undefined) return sendTo(positionals[1]!, values.to, { ...options, ...waits, resume: values.resume ?? false }, shown);
  // Into a pipe or a file the engine writes the frames itself; a socket goes through send().
  const job = isEngineDescriptor(STDOUT) ? sendToDescriptor(positionals[1]!, STDOUT, options) : send(positionals[1]!, process.stdout, { ...options, ...waits, end: false });
  return watch(job, {
    ...shown,
    jsonOut: process.stderr,
    summary: (r) => `sent ${formatBytes(r.length)} image: ${formatBytes(r.bytesWritten)} of data, ${formatBytes(r.bytesSkipped)} as holes, ${elapsed(r)})`,
    cancelled: () => 'cancelled; the receiver has been told',
  });
}

/**
 * send --to COMMAND: COMMAND (run by sh, e.g. `ssh host blockcopy recv FILE --duplex`)
 * gets the stream on its stdin and answers on its stdout, so the receiver's OK or
 * ERROR, and with --resume its block digests, come back.
 */
async function sendTo(file: string, command: string, options: SendOptions & { idleTimeout?: number }, shown: { display: Display; lineInterval: number }): Promise<number> {
  const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const said = lastWords(child.stderr!);
  // 'exit', not 'close': our end of its stdin stays open after it is gone. Its last words come with stderr's end.
  const exited = new Promise<string | undefined>((resolve) => child.once('exit', (code, signal) => resolve(code === 0 ? undefined : signal ? `was killed by ${signal}` : `exited with status ${code}`)));
  const spoke = new Promise((resolve) => child.stderr!.once('end', resolve));
  let ending: string | undefined;
  void exited.then((how) => (ending = how));
  const started = new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  const failedToStart = await started;
  if (failedToStart) throw new Error(`could not run --to command: ${failedToStart.message}`);
  const peer = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  const job = send(file, peer, options);
  /** What the receiving command's end says, when it ended badly: the real reason the stream broke. */
  const receiverFailed = () => `the receiving command (--to ${command}) ${ending}${said().length > 0 ? `; it said:\n${said()}` : ''}`;
  const code = await watch(job, {
    ...shown,
    jsonOut: process.stdout,
    summary: (r) =>
      `sent ${formatBytes(r.length)} image: ${formatBytes(r.bytesWritten)} of data, ` +
      `${options.resume ? `${formatBytes(r.bytesKept)} the receiver held, ` : ''}${formatBytes(r.bytesSkipped - r.bytesKept)} as holes, ` +
      `the receiver verified checksum ${r.checksum}, ${elapsed(r)})`,
    cancelled: () => 'cancelled; the receiver has been told',
    // A broken pipe is the receiver gone: give it a moment to say how it ended.
    beforeFailure: () => Promise.race([Promise.all([exited, spoke]), new Promise((resolve) => setTimeout(resolve, RECEIVER_EXIT_GRACE_MS).unref())]).then(() => undefined),
    explain: (message) => (ending ? `${receiverFailed()}\n(the stream: ${message})` : message),
  });
  if (code !== EXIT_OK) child.kill();
  const status = await exited;
  if (code === EXIT_OK && status !== undefined) {
    process.stderr.write(`blockcopy: ${receiverFailed()}\n`);
    return 1;
  }
  return code;
}

/** How long a send whose stream broke waits for its --to command to exit and say why. */
const RECEIVER_EXIT_GRACE_MS = 2000;

/** Passes a child's stderr through as it comes, keeping its last lines to quote when it fails. */
function lastWords(stream: NodeJS.ReadableStream, keep = 2048): () => string {
  let tail = '';
  stream.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-keep);
  });
  return () => tail.trimEnd();
}

async function recvCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, RECV_OPTIONS);
  if (values.help) return printHelp('recv');
  if (positionals.length !== 2) throw new UsageError('recv expects one FILE');
  if (process.stdin.isTTY) throw new UsageError('recv reads a binary stream on stdin: pipe or redirect one into it (blockcopy send IMAGE | blockcopy recv FILE)');
  const shown = display(values);
  const file = positionals[1]!;
  const seek = size(values.seek, '--seek') ?? 0;
  const options = {
    fsync: syncMode(values),
    format: choice(values['dst-format'], '--dst-format', IMAGE_FORMATS) ?? 'raw',
    verify: values.verify ?? false,
    offset: seek,
    ...nbdWait(values),
  };
  /** After a one-way recv stopped: what is on disk, and the command that sends the rest. */
  const howToResume = (e: { resumeOffset?: number }) => {
    const at = e.resumeOffset ?? 0;
    if (at === 0) return undefined;
    const recv = [...invokedAs(), 'recv', file, '--seek', String(seek + at), ...recvFlags(values)].map(shellQuote).join(' ');
    return (
      `the image's first ${at} bytes are written to ${file} and flushed. To send the rest, run:\n` +
      `  ${invokedAs().join(' ')} send SOURCE --offset ${at} | ${recv}\n` +
      `(SOURCE as the first send had it; if that send had an --offset, add it to ${at})`
    );
  };

  // Done once the image is in, even if the sender (ssh, say) keeps the pipe open;
  // but bytes after the image's END mean the input was not what it claimed.
  // From a pipe or a file the engine reads the frames itself; a socket goes through receive().
  // --duplex: answers (OK or ERROR, and a resuming sender's digests) go back on stdout.
  if (values.duplex && process.stdout.isTTY) throw new UsageError('--duplex answers on stdout: it must be a pipe to the sender (send --to)');
  const native = !values.duplex && isEngineDescriptor(STDIN);
  const input = values.duplex ? Duplex.from({ readable: process.stdin, writable: process.stdout }) : process.stdin;
  const job = native ? receiveFromDescriptor(STDIN, file, { ...options, trailingGrace: TRAILING_GRACE_MS }) : receive(input, file, options);
  if (!native) void job.done.catch(() => process.stdin.destroy());
  return watch(job, {
    ...shown,
    jsonOut: values.duplex ? process.stderr : process.stdout,
    afterwards: native ? undefined : () => nothingFollows(process.stdin, TRAILING_GRACE_MS).finally(() => process.stdin.destroy()),
    summary: (r) =>
      `received ${formatBytes(r.length)} image${r.name ? ` '${r.name}'` : ''}: ${formatBytes(r.bytesWritten)} written${formatZeroed(r)}, ` +
      `${r.bytesKept > 0 ? `${formatBytes(r.bytesKept)} kept, ` : ''}${formatBytes(r.bytesSkipped - r.bytesKept)} skipped as holes, checksum ${r.checksum} verified${options.verify ? ' and read back from the disk' : ''}, ${elapsed(r)})`,
    cancelled: (e) => ['cancelled; the destination is incomplete', howToResume(e)].filter(Boolean).join('; '),
    afterFailure: howToResume,
  });
}

/** recv's flags that a resumed recv keeps (the range flags are worked out anew). */
function recvFlags(values: { fsync?: boolean; fdatasync?: boolean; verify?: boolean; 'dst-format'?: string }): string[] {
  const out: string[] = [];
  if (values.fsync) out.push('--fsync');
  if (values.fdatasync) out.push('--fdatasync');
  if (values.verify) out.push('--verify');
  if (values['dst-format']) out.push('-O', values['dst-format']);
  return out;
}

const STDIN = 0;
const STDOUT = 1;

/** How long recv waits, once the image is in, for its input to end or show more bytes. */
const TRAILING_GRACE_MS = 250;

/** Resolves when `input` ends or stays silent for `graceMs`; rejects when more bytes arrive. */
function nothingFollows(input: NodeJS.ReadStream, graceMs: number): Promise<void> {
  if (input.readableEnded || input.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('close', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => settle(afterEnd(`at least ${chunk.length} more bytes`));
    const onEnd = () => settle();
    const timer = setTimeout(onEnd, graceMs);
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('close', onEnd);
  });
}

// ---- map -------------------------------------------------------------------------

async function mapCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, MAP_OPTIONS);
  if (values.help) return printHelp('map');
  if (positionals.length !== 2) throw new UsageError('map expects one FILE');
  const file = positionals[1]!;
  const list = await extents(file, { format: choice(values['src-format'], '--src-format', IMAGE_FORMATS) ?? 'raw', ...nbdWait(values) });
  const data = list.filter((e) => e.type === 'data').reduce((n, e) => n + e.length, 0);
  const size = list.reduce((n, e) => n + e.length, 0);
  const totals = { size, dataBytes: data, holeBytes: size - data, dataExtents: list.filter((e) => e.type === 'data').length };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ file, extents: list, ...totals })}\n`);
    return EXIT_OK;
  }
  const width = String(size).length;
  process.stdout.write(`${'offset'.padStart(width)}  ${'length'.padStart(width)}  type\n`);
  for (const e of list) {
    process.stdout.write(`${String(e.offset).padStart(width)}  ${String(e.length).padStart(width)}  ${e.type.padEnd(4)}  (${formatBytes(e.length)})\n`);
  }
  const share = size > 0 ? ((100 * data) / size).toFixed(1) : '0.0';
  process.stdout.write(
    `${file}: ${formatBytes(size)}, ${formatBytes(data)} of data in ${totals.dataExtents} extents (${share}%), ${formatBytes(size - data)} of holes\n`,
  );
  return EXIT_OK;
}

// ---- checksum --------------------------------------------------------------------

/** Like sha256sum: one `DIGEST  TARGET` line per target on stdout; a target that fails is told on stderr and the rest go on. */
async function checksumCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CHECKSUM_OPTIONS);
  if (values.help) return printHelp('checksum');
  const targets = positionals.slice(1);
  if (targets.length === 0) throw new UsageError('checksum expects at least one TARGET');
  const shown = display(values);
  const options = {
    offset: size(values.offset, '--offset'),
    length: size(values.length, '--length'),
    format: choice(values['src-format'], '--src-format', IMAGE_FORMATS) ?? 'raw',
    ...nbdWait(values),
  };
  let worst = EXIT_OK;
  for (const target of targets) {
    const job = checksum(target, options);
    const code = await watch(job, {
      ...shown,
      jsonOut: process.stdout,
      label: { target },
      summary: () => undefined,
      cancelled: () => `checksum of ${target} cancelled`,
      // Each target's failure names it: the others still get their lines.
      explain: (message) => `${target}: ${inFlagTerms(message, values)}`,
    });
    if (code === EXIT_CANCELLED) return code;
    if (code === EXIT_OK && shown.display !== 'json') process.stdout.write(`${(await job).digest}  ${target}\n`);
    worst = Math.max(worst, code);
  }
  return worst;
}

// ---- dispatch --------------------------------------------------------------------

function printHelp(command?: string): number {
  if (command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const text = HELP[command as Command];
  if (!text) throw new UsageError(`no command '${command}' (commands: ${Object.keys(HELP).join(', ')})`);
  process.stdout.write(`${text}\n`);
  return EXIT_OK;
}

async function main(argv: string[]): Promise<number> {
  const first = argv.find((a) => !a.startsWith('-'));
  try {
    if (argv.length === 0) throw new UsageError('expected SRC and DST, or a command');
    if (first === undefined && (argv.includes('--help') || argv.includes('-h'))) return printHelp();
    switch (first) {
      case 'help':
        return printHelp(argv.filter((a) => !a.startsWith('-'))[1]);
      case 'send':
        return await sendCommand(argv);
      case 'recv':
        return await recvCommand(argv);
      case 'map':
        return await mapCommand(argv);
      case 'checksum':
        return await checksumCommand(argv);
      default:
        return await copyCommand(argv);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`blockcopy: ${e.message}\nTry '${invokedAs().join(' ')} --help'.\n`);
    return EXIT_USAGE;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const error = e as Error;
    process.stderr.write(`blockcopy: ${error.message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
