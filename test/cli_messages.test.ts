// The CLI as a newcomer meets it: every refusal names the flag or argument
// typed and the rule in plain words, exits 2 and creates nothing; a failed
// --to command says why; the bar keeps its figures in a narrow terminal;
// printed commands are the ones the user can run (npx blockcopy when npx ran us).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeSparse, MiB, ROOT, runNode, scratch } from './helpers';

const tmp = scratch('cli-messages');
afterAll(() => tmp.cleanup());

const src = tmp.file('src.img');
makeSparse(src, 8 * MiB, [[MiB, 2 * MiB]]);

/** Runs the CLI expecting bad usage: exit 2, the message, the --help hint, and DST not created. */
function refused(args: string[], message: string): void {
  const dst = tmp.file(`never-${Math.random().toString(36).slice(2)}.img`);
  const r = runNode([CLI, ...args.map((a) => (a === 'DST' ? dst : a))]);
  expect(r.stderr).toBe(`blockcopy: ${message}\nTry 'blockcopy --help'.\n`);
  expect(r.status).toBe(2);
  expect(fs.existsSync(dst)).toBe(false);
}

describe('flags the command does not take', () => {
  it('an unknown option is named, with the nearest flag of that command when one is a slip away', () => {
    refused([src, 'DST', '--fsnyc'], 'unknown option --fsnyc (did you mean --fsync?)');
    refused([src, 'DST', '--verfy'], 'unknown option --verfy (did you mean --verify?)');
    refused([src, 'DST', '--frobnicate'], 'unknown option --frobnicate');
    refused([src, 'DST', '-x'], 'unknown option -x');
    // Each command's own flags: send has --resume, copy has not.
    refused(['send', src, '--resme'], 'unknown option --resme (did you mean --resume?)');
    refused([src, 'DST', '--resume'], 'unknown option --resume');
  });

  it('a missing value, a value given to a switch, a value that looks like a flag', () => {
    refused([src, 'DST', '--bs'], '--bs needs a value');
    refused([src, 'DST', '--fsync=yes'], "--fsync takes no value (it was given 'yes')");
    refused([src, 'DST', '--bs', '--fsync'], "--bs needs a value, not '--fsync' (write --bs=--fsync if that is the value)");
  });
});

describe("the API's rules in the flags' words", () => {
  it('range rules name the flag as typed and say the rule plainly', () => {
    refused([src, 'DST', '--bs', '1000'], '--bs 1000: the block size must be a multiple of 4 KiB, from 4 KiB to 64 MiB');
    refused([src, 'DST', '--bs', '5000'], '--bs 5000: the block size must be a multiple of 4 KiB, from 4 KiB to 64 MiB');
    refused([src, 'DST', '--queue-depth', '0'], '--queue-depth 0: the queue depth must be a whole number from 1 to 256');
    refused([src, 'DST', '--connections', '40'], '--connections 40: the number of NBD connections must be from 1 to 16');
  });

  it('a copy onto itself says SRC and DST, not the API argument', () => {
    const r = runNode([CLI, src, src]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'blockcopy: SRC and DST are the same file at the same offset: there is nothing to copy (give --seek or --offset to move within one file)\n' +
        "Try 'blockcopy --help'.\n",
    );
  });
});

describe('checksum of several targets', () => {
  it('a target the range does not fit is named; the others still print their digests', () => {
    const small = tmp.file('small.img');
    fs.writeFileSync(small, Buffer.alloc(MiB, 1));
    const r = runNode([CLI, 'checksum', src, small, '--length', '4M']);
    expect(r.stdout).toMatch(new RegExp(`^[0-9a-f]{64}  ${src}\n$`));
    expect(r.stderr).toContain(`blockcopy: ${small}: offset + length (4194304) is past the end`);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('blockcopy:'))).toHaveLength(1);
    expect(r.status).toBe(2);
  });
});

describe('send --to COMMAND that fails', () => {
  it.each([
    ['a command that is not installed', 'no-such-blockcopy-command recv x', 'exited with status 127', 'not found'],
    ['one that prints and exits 3', 'echo the disk is on fire >&2; exit 3', 'exited with status 3', 'the disk is on fire'],
  ])('%s: the receiving command is named, with its status and what it printed', (_, command, status, words) => {
    const r = runNode([CLI, 'send', src, '--to', command]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`blockcopy: the receiving command (--to ${command}) ${status}; it said:\n`);
    expect(r.stderr.slice(r.stderr.indexOf('it said:'))).toContain(words);
  });
});

describe('printed commands', () => {
  it('are `npx blockcopy ...` when npx ran blockcopy, `blockcopy ...` otherwise', async () => {
    const dst = tmp.file('npx-resume.img');
    // A real npx, in the clone, as the README tells a user without blockcopy on PATH.
    const viaNpx = spawnSync('npx', ['--no-install', 'blockcopy', src, tmp.file('x.img'), '--bs', '1000'], { cwd: ROOT, encoding: 'utf8' });
    expect(viaNpx.status).toBe(2);
    expect(viaNpx.stderr).toContain("Try 'npx blockcopy --help'.");
    // npx's variables reach every process below it: only npx running blockcopy itself counts.
    const below = runNode([CLI, src, tmp.file('x.img'), '--bs', '1000'], { npm_command: 'exec', npm_lifecycle_script: 'vitest run' });
    expect(below.stderr).toContain("Try 'blockcopy --help'.");

    const child = spawn(process.execPath, [CLI, src, dst, '--bwlimit', '1M', '--bs', '64K'], {
      env: { ...process.env, npm_command: 'exec', npm_lifecycle_script: "'blockcopy'" },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGINT');
    expect(await new Promise((r) => child.on('close', r))).toBe(130);
    const resume = /To finish the copy, run:\n {2}(.*)\n/.exec(stderr)?.[1];
    expect(resume, stderr).toMatch(/^npx blockcopy .* --offset \d+ --seek \d+ --no-truncate/);
  });
});

describe('on a terminal (tmux)', () => {
  const hasTmux = spawnSync('tmux', ['-V']).status === 0;
  const screen = async (name: string, columns: number, command: string, waitMs: number): Promise<string> => {
    const session = `blockcopy-${name}-${process.pid}`;
    expect(spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', String(columns), '-y', '10', command]).status).toBe(0);
    try {
      await new Promise((r) => setTimeout(r, waitMs));
      return spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout;
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  };

  it.skipIf(!hasTmux)('recv with stdin on the terminal is refused: exit 2, nothing created', async () => {
    const dst = tmp.file('tty-recv.img');
    const status = tmp.file('tty-recv.status');
    const shown = await screen('recv', 120, `${process.execPath} ${CLI} recv ${dst}; echo $? > ${status}; sleep 30`, 1500);
    expect(shown).toContain('blockcopy: recv reads a binary stream on stdin: pipe or redirect one into it');
    expect(fs.readFileSync(status, 'utf8').trim()).toBe('2');
    expect(fs.existsSync(dst)).toBe(false);
  });

  it.skipIf(!hasTmux)('in 50 columns the bar keeps its figures: percent, bytes, rate and ETA', async () => {
    const big = tmp.file('narrow.img');
    makeSparse(big, 16 * MiB, [[0, 16 * MiB]]);
    const dst = tmp.file('narrow.out');
    const shown = await screen('narrow', 50, `${process.execPath} ${CLI} ${big} ${dst} --bwlimit 4M; sleep 30`, 2000);
    const bar = shown.split('\n').find((l) => /\d+%/.test(l));
    expect(bar, shown).toMatch(/\d+% [\d.]+ \w+\/16\.0 MiB [\d.]+ \w+\/s ETA (\d\d:\d\d|--:--)$/);
    expect(bar!.length).toBeLessThanOrEqual(50);
  });
});
