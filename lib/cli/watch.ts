// Following a job from the command line: a progress bar on a terminal,
// status lines elsewhere, JSON lines on request; SIGUSR1 prints a status line
// (dd's convention); Ctrl-C stops cleanly. Returns the exit status.
import { SingleBar } from 'cli-progress';
import { AbortError } from '../errors';
import type { JobBase } from '../job_base';
import type { Progress } from '../types';
import { formatBytes, formatDuration } from './format';
import { invokedAs } from './shell';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANCELLED = 130;

export type Display = 'bar' | 'lines' | 'json' | 'quiet';

/** Node's codes for bad arguments: the command exits with EXIT_USAGE on them. */
const ARGUMENT_CODES = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE']);

export interface WatchOptions<R> {
  display: Display;
  /** Seconds between status lines when not on a terminal. */
  lineInterval?: number;
  /** Where JSON lines go: stdout, unless stdout carries data (send). */
  jsonOut: NodeJS.WritableStream;
  /** The line for stderr once it succeeded; none when it returns undefined. */
  summary: (result: R) => string | undefined;
  /** Fields added to every JSON line (which of several targets it is about). */
  label?: Record<string, unknown>;
  /** Checks that run once the job has succeeded and before it counts as done; a throw fails the command. */
  afterwards?: () => Promise<void>;
  /** What to say after a cancel, e.g. how to resume. */
  cancelled: (error: AbortError) => string;
  /** What to add after a failure's message, e.g. how to resume; nothing when it returns undefined. */
  afterFailure?: (error: Error & { resumeOffset?: number }) => string | undefined;
  /** Rewords an error message for this command (the API's option names as its flags). */
  explain?: (message: string) => string;
  /** Runs once the job has failed, before its message is made: e.g. to hear why a peer went away. */
  beforeFailure?: () => Promise<void>;
}

/** --quiet / --json and whether stderr is a terminal decide how progress is shown (--progress sets the line interval). */
export function chooseDisplay(flags: { quiet?: boolean; json?: boolean }): Display {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  if (process.stderr.isTTY) return 'bar';
  return 'lines';
}

export function statusLine(p: Progress): string {
  if (p.phase === 'verify') {
    const share = p.length > 0 ? (100 * (p.bytesVerified ?? 0)) / p.length : 100;
    const left = p.etaSeconds === null ? '--:--' : formatDuration(p.etaSeconds);
    return `verify ${share.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesVerified ?? 0)} of ${formatBytes(p.length)}  ${formatBytes(p.rate)}/s  ETA ${left}  (${formatDuration(p.elapsedMs / 1000)} elapsed)`;
  }
  const percent = p.bytesTotal > 0 ? (100 * p.bytesDone) / p.bytesTotal : 100;
  const eta = p.etaSeconds === null ? '--:--' : formatDuration(p.etaSeconds);
  return `${percent.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}  ${formatBytes(p.rate)}/s  ETA ${eta}  (${formatDuration(p.elapsedMs / 1000)} elapsed)`;
}

function barPayload(p: Progress) {
  return {
    done: formatBytes(p.bytesDone),
    all: formatBytes(p.bytesTotal),
    speed: `${formatBytes(p.rate)}/s`,
    left: p.etaSeconds === null ? '--:--' : formatDuration(p.etaSeconds),
  };
}

/** The bar's figures as wide as they usually are, fully spelt and compact ("100% | 64.0 MiB of 64.0 MiB | 15.9 MiB/s | ETA 00:00"). */
const FIGURES = { wide: '{percentage}% | {done} of {all} | {speed} | ETA {left}', wideWidth: 56, compact: '{percentage}% {done}/{all} {speed} ETA {left}', compactWidth: 46 };
const BAR_MAX = 30;
const BAR_MIN = 5;

/**
 * The bar's layout for a terminal `columns` wide: the figures always fit
 * (they are what a person reads), the bar takes what room is left, up to 30,
 * and goes when there is too little.
 */
export function barLayout(columns: number): { format: string; barsize: number } {
  const room = (figures: number) => Math.min(BAR_MAX, columns - 2 - figures);
  if (room(FIGURES.wideWidth) >= 10) return { format: `{bar} ${FIGURES.wide}`, barsize: room(FIGURES.wideWidth) };
  if (room(FIGURES.compactWidth) >= BAR_MIN) return { format: `{bar} ${FIGURES.compact}`, barsize: room(FIGURES.compactWidth) };
  return { format: columns - 1 >= FIGURES.wideWidth ? FIGURES.wide : FIGURES.compact, barsize: 0 };
}

/** The terminal bar: percent, bytes done of total, rate and ETA, redrawn in place. */
function makeBar(): SingleBar {
  return new SingleBar({
    stream: process.stderr,
    ...barLayout(process.stderr.columns ?? 80),
    barCompleteChar: '#',
    barIncompleteChar: '-',
    hideCursor: true,
    clearOnComplete: false,
    // Redrawn from our own reports; cli-progress's ETA is replaced by the engine's.
    etaBuffer: 1,
    fps: 10,
  });
}

export async function watch<R extends Progress>(job: JobBase<R>, o: WatchOptions<R>): Promise<number> {
  const line = (value: object) => o.jsonOut.write(`${JSON.stringify({ ...value, ...o.label })}\n`);
  let bar: SingleBar | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (o.display === 'json') job.on('progress', (p) => line({ type: 'progress', ...p }));
  if (o.display === 'bar') {
    job.on('progress', (p) => {
      if (!bar) {
        bar = makeBar();
        bar.start(Math.max(p.bytesTotal, 1), 0, barPayload(p));
      }
      bar.setTotal(Math.max(p.bytesTotal, 1));
      bar.update(p.bytesDone, barPayload(p));
    });
  }
  if (o.display === 'lines') {
    timer = setInterval(() => process.stderr.write(`${statusLine(job.progress())}\n`), (o.lineInterval ?? 5) * 1000);
  }

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void job.cancel({ wait: false });
  };
  const onStatus = () => process.stderr.write(`${statusLine(job.progress())}\n`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGUSR1', onStatus);
  const stopShowing = () => {
    if (timer) clearInterval(timer);
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGUSR1', onStatus);
  };
  try {
    const result = await job;
    await o.afterwards?.();
    stopShowing();
    if (o.display === 'json') line({ type: 'result', ...result });
    else if (o.display !== 'quiet') {
      const summary = o.summary(result);
      if (summary !== undefined) process.stderr.write(`${summary}\n`);
    }
    return EXIT_OK;
  } catch (e) {
    stopShowing();
    const error = e as Error & { code?: string; resumeOffset?: number };
    if (o.display === 'json') line({ type: 'error', code: error.code, message: error.message, resumeOffset: error.resumeOffset });
    if (error instanceof AbortError || interrupted) {
      process.stderr.write(`blockcopy: ${o.cancelled(error as AbortError)}\n`);
      return EXIT_CANCELLED;
    }
    await o.beforeFailure?.();
    const message = o.explain ? o.explain(error.message) : error.message;
    // Arguments refused once the files were open (SRC and DST one file at one
    // offset under two names, a range past SRC's end) are bad usage too.
    if (ARGUMENT_CODES.has(error.code ?? '')) {
      process.stderr.write(`blockcopy: ${message}\nTry '${invokedAs().join(' ')} --help'.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`blockcopy: ${message}\n`);
    const more = o.afterFailure?.(error);
    if (more) process.stderr.write(`${more}\n`);
    return EXIT_FAILED;
  }
}
