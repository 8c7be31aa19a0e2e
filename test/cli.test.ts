// The blockcopy command: flags reaching the engine, sizes, output, exit codes,
// signals, map, help, and the progress bar on a real terminal.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTO_KERNEL, flushCalls, hasStrace, makeSparse, MiB, ROOT, runNode, scratch, sha256 } from './helpers';

const tmp = scratch('cli');
afterAll(() => tmp.cleanup());
const cli = path.join(ROOT, 'dist', 'cli', 'main.js');

describe('blockcopy SRC DST', () => {
  const src = tmp.file('src.img');
  makeSparse(src, 32 * MiB, [[3 * MiB, 2 * MiB]]);

  it('copies, exits 0 and prints a summary', () => {
    const dst = tmp.file('out.img');
    const r = runNode([cli, src, dst]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/copied 2\.00 MiB of data: 2\.00 MiB written, 30\.0 MiB skipped as holes/);
    expect(sha256(dst)).toBe(sha256(src));
  });

  it('--json prints progress objects and a final result, one per line', () => {
    const dst = tmp.file('json.img');
    const r = runNode([cli, src, dst, '--json']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; bytesDone: number; bytesTotal: number });
    const result = lines.at(-1)!;
    expect(result).toMatchObject({ type: 'result', bytesDone: 2 * MiB, bytesTotal: 2 * MiB, backend: AUTO_KERNEL });
    expect(lines.slice(0, -1).every((l) => l.type === 'progress')).toBe(true);
    expect(lines.at(-2)).toMatchObject({ type: 'progress', bytesDone: 2 * MiB });
  });

  it('--quiet prints nothing', () => {
    const r = runNode([cli, src, tmp.file('quiet.img'), '--quiet']);
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('exits 1 with a Node-style message on a copy error, creating nothing', () => {
    const dst = tmp.file('never.img');
    const r = runNode([cli, tmp.file('missing.img'), dst]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ENOENT: no such file or directory, open '${tmp.file('missing.img')}'`);
    expect(fs.existsSync(dst)).toBe(false);
  });

  it('exits 2 on bad usage', () => {
    // SRC as DST under another name is found once both are open: bad usage all the same.
    const relative = path.relative(ROOT, src);
    for (const args of [[src], [src, 'a', 'b'], [src, tmp.file('x'), '--bogus'], [src, src], [src, `./${relative}`], [src, `${tmp.dir}/../${path.basename(tmp.dir)}/src.img`]]) {
      const r = runNode([cli, ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^blockcopy: /);
    }
  });

  it('--help and --version exit 0', () => {
    const help = runNode([cli, '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: blockcopy SRC DST/);
    const version = runNode([cli, '--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('sizes', () => {
  it('parses dd and IEC suffixes and refuses bad ones with a clear reason', async () => {
    const { parseSize } = (await import('../dist/cli/sizes.js')) as typeof import('../dist/cli/sizes');
    expect(parseSize('4096', 'x')).toBe(4096);
    expect(parseSize('4K', 'x')).toBe(4096);
    expect(parseSize('4k', 'x')).toBe(4096);
    expect(parseSize('1M', 'x')).toBe(MiB);
    expect(parseSize('1MiB', 'x')).toBe(MiB);
    expect(parseSize('1.5G', 'x')).toBe(1.5 * 1024 * MiB);
    expect(parseSize('2T', 'x')).toBe(2 * 1024 ** 4);
    expect(parseSize('10MB', 'x')).toBe(10_000_000);
    expect(parseSize('3b', 'x')).toBe(1536);
    for (const [text, reason] of [
      ['', /not a size/],
      ['-1', /not a size/],
      ['1X', /unknown suffix 'X'/],
      ['0.3K', /not a whole number/],
      ['9999P', /too large/],
      ['1e6', /not a size/],
    ] as const) {
      expect(() => parseSize(text, '--bs'), text).toThrow(reason);
    }
  });

  it('a bad size on the command line exits 2 naming the flag', () => {
    const r = runNode([cli, 'a', 'b', '--length', '12Q']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^blockcopy: --length: unknown suffix 'Q' in '12Q'/);
  });
});

describe('every copy flag reaches the engine', () => {
  const src = tmp.file('flags.img');
  makeSparse(src, 16 * MiB, [
    [0, 4 * MiB],
    [8 * MiB, 2 * MiB],
  ]);
  const zeros = tmp.file('flags-zeros.img');
  fs.writeFileSync(zeros, Buffer.concat([Buffer.alloc(1 * MiB, 7), Buffer.alloc(3 * MiB)]));

  function json(args: string[]) {
    const r = runNode([cli, ...args, '--json']);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
    return { ...r, lines, result: lines.at(-1)! };
  }

  it('--offset, --seek, --length and --no-truncate copy exactly that range and leave the rest', () => {
    const dst = tmp.file('range.out');
    fs.writeFileSync(dst, Buffer.alloc(20 * MiB, 0xee));
    const r = runNode([cli, src, dst, '--offset', '1M', '--seek', '5MiB', '--length', '2M', '--no-truncate']);
    expect(r.status).toBe(0);
    expect(fs.statSync(dst).size).toBe(20 * MiB);
    expect(sha256(dst, 5 * MiB, 2 * MiB)).toBe(sha256(src, 1 * MiB, 2 * MiB));
    expect(sha256(dst, 0, 5 * MiB)).toBe(sha256(writeFilled('ee5', 5 * MiB, 0xee)));
  });

  it('--size sets the destination size; without --no-truncate a whole copy cuts it', () => {
    const grown = tmp.file('size.out');
    expect(runNode([cli, src, grown, '--size', '64M']).status).toBe(0);
    expect(fs.statSync(grown).size).toBe(64 * MiB);
    const cut = tmp.file('cut.out');
    fs.writeFileSync(cut, Buffer.alloc(32 * MiB, 1));
    expect(runNode([cli, src, cut]).status).toBe(0);
    expect(fs.statSync(cut).size).toBe(16 * MiB);
    const kept = tmp.file('kept.out');
    fs.writeFileSync(kept, Buffer.alloc(32 * MiB, 1));
    expect(runNode([cli, src, kept, '--no-truncate']).status).toBe(0);
    expect(fs.statSync(kept).size).toBe(32 * MiB);
  });

  it('--sparse always turns zero blocks into holes; never writes every byte', () => {
    const always = tmp.file('always.out');
    expect(runNode([cli, zeros, always, '--sparse', 'always']).status).toBe(0);
    expect(fs.statSync(always).blocks * 512).toBeLessThanOrEqual(1.1 * MiB);
    const never = tmp.file('never.out');
    expect(runNode([cli, src, never, '--sparse', 'never']).status).toBe(0);
    expect(fs.statSync(never).blocks * 512).toBeGreaterThanOrEqual(16 * MiB);
    expect(sha256(never)).toBe(sha256(src));
  });

  it('--backend picks the data path; --bs sets its I/O size (progress moves in steps of it)', () => {
    const { status, result, lines } = json([src, tmp.file('bs.out'), '--backend', 'pread', '--bs', '64K', '--bwlimit', '4M']);
    expect(status).toBe(0);
    expect(result).toMatchObject({ type: 'result', backend: 'pread' });
    const steps = lines.filter((l) => l.type === 'progress').map((l) => l.bytesDone as number);
    expect(steps.length).toBeGreaterThan(2);
    expect(steps.every((b) => b % (64 * 1024) === 0)).toBe(true);
    expect(steps.some((b) => b % MiB !== 0)).toBe(true); // not 1 MiB steps: --bs arrived
    expect(json([src, tmp.file('cfr.out'), '--backend', 'copy_file_range']).result).toMatchObject({ backend: 'copy_file_range' });
  });

  it('--queue-depth and --bs are checked by the API, in terms of the flags; --no-reflink and --force accepted', () => {
    const usage = (args: string[], message: RegExp) => {
      const r = runNode([cli, src, tmp.file('refused.out'), ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/options\./);
    };
    usage(['--queue-depth', '0'], /--queue-depth 0: the queue depth must be a whole number from 1 to 256/);
    usage(['--queue-depth', '1.5'], /--queue-depth: '1\.5' is not a whole number/);
    usage(['--queue-depth', '4K'], /--queue-depth: '4K' is not a whole number/);
    usage(['--bs', '3000'], /--bs 3000: the block size must be a multiple of 4 KiB, from 4 KiB to 64 MiB/);
    usage(['--bs', '4097'], /--bs 4097: the block size must be a multiple of 4 KiB, from 4 KiB to 64 MiB/);
    usage(['--offset', '64M'], /--offset \(67108864\) is past the end of the source/);
    expect(fs.existsSync(tmp.file('refused.out'))).toBe(false);
    const r = json([src, tmp.file('nr.out'), '--no-reflink', '--force']);
    expect(r.result).toMatchObject({ type: 'result' });
    expect(r.result.backend).not.toBe('reflink');
  });

  it('--bwlimit holds the copy to the rate', () => {
    const started = Date.now();
    const r = runNode([cli, src, tmp.file('bw.out'), '--bwlimit', '4M', '--quiet']);
    expect(r.status).toBe(0);
    // 6 MiB of data at 4 MiB/s: at least 1.5 s, whatever the machine.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  const hasFincore = spawnSync('fincore', ['--version']).status === 0;
  if (!hasFincore) console.warn('--direct test skipped: fincore (util-linux) is not installed');
  it.skipIf(!hasFincore)('--direct reaches the engine: the copy bypasses the page cache (fincore)', () => {
    const cached = (file: string) => Number(spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).stdout.trim());
    const plain = tmp.file('plain.out');
    const direct = tmp.file('direct.out');
    expect(runNode([cli, src, plain, '--sparse', 'never', '--backend', 'pread']).status).toBe(0);
    expect(runNode([cli, src, direct, '--sparse', 'never', '--direct']).status).toBe(0);
    expect(cached(plain)).toBeGreaterThanOrEqual(8 * MiB);
    expect(cached(direct)).toBeLessThan(1 * MiB);
    expect(sha256(direct)).toBe(sha256(src));
  });

  it.skipIf(!hasStrace)('--fsync and --fdatasync flush the destination (seen by strace), for copy and recv', async () => {
    const flushes = (args: string[], dst: string, input?: Buffer) => {
      const r = flushCalls([cli, ...args], input);
      expect(r.status, r.stderr).toBe(0);
      expect(sha256(dst)).toBe(sha256(src));
      return r.calls.get(dst) ?? [];
    };
    expect(flushes([src, tmp.file('fs.out'), '--fsync', '--quiet'], tmp.file('fs.out'))).toEqual(['fsync']);
    expect(flushes([src, tmp.file('fds.out'), '--fdatasync', '--quiet'], tmp.file('fds.out'))).toEqual(['fdatasync']);
    expect(flushes([src, tmp.file('nofs.out'), '--quiet'], tmp.file('nofs.out'))).toEqual([]);
    const stream = spawnSync(process.execPath, [cli, 'send', src], { maxBuffer: 64 * MiB }).stdout;
    expect(flushes(['recv', tmp.file('recv-fs.out'), '--fsync', '--quiet'], tmp.file('recv-fs.out'), stream)).toEqual(['fsync']);
    expect(flushes(['recv', tmp.file('recv-fds.out'), '--fdatasync', '--quiet'], tmp.file('recv-fds.out'), stream)).toEqual(['fdatasync']);
  });

  it('--fsync and --fdatasync do not go together; --json, --quiet and --progress exclude each other', () => {
    expect(runNode([cli, src, tmp.file('both.out'), '--fsync', '--fdatasync']).status).toBe(2);
    expect(runNode([cli, src, tmp.file('jq.out'), '--json', '--quiet']).status).toBe(2);
    expect(runNode([cli, src, tmp.file('jp.out'), '--json', '--progress']).status).toBe(2);
  });

  it('--progress prints plain status lines when stderr is not a terminal', () => {
    const r = runNode([cli, src, tmp.file('progress.out'), '--progress', '--bwlimit', '2M']);
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3); // about 3 s: a line a second, then the summary
    expect(lines[0]).toMatch(/^\s*\d+\.\d%  .* of 6\.00 MiB  .*\/s  ETA /);
    expect(lines.at(-1)).toMatch(/^copied 6\.00 MiB of data/);
  });
});

function writeFilled(name: string, size: number, byte: number): string {
  const file = tmp.file(name);
  fs.writeFileSync(file, Buffer.alloc(size, byte));
  return file;
}

describe('signals', () => {
  const src = tmp.file('signals.img');
  makeSparse(src, 12 * MiB, [
    [0, 5 * MiB],
    [7 * MiB, 5 * MiB],
  ]);

  it('SIGINT exits 130 and prints the command that finishes the copy, which does, byte-exact', async () => {
    const dst = tmp.file('sigint.out');
    const child = spawn(process.execPath, [cli, src, dst, '--bwlimit', '4M', '--bs', '256K']);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 1200));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(130);
    const resume = /To finish the copy, run:\n {2}(blockcopy .*)\n/.exec(stderr)?.[1];
    expect(resume, stderr).toBeDefined();
    expect(resume).toMatch(/--offset \d+ --seek \d+ --no-truncate/);
    // As printed, through a shell, with `blockcopy` being this build.
    const done = spawnSync('bash', ['-c', `blockcopy() { "${process.execPath}" "${cli}" "$@"; }; ${resume}`], { encoding: 'utf8' });
    expect(done.status, done.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    expect(fs.statSync(dst).size).toBe(12 * MiB);
  });

  it('the printed command keeps every flag with its value, even one equal to SRC', async () => {
    // The source is called 4M and so is the rate: a resume line made by filtering
    // argv for SRC dropped the rate's value.
    const dir = tmp.file('named');
    fs.mkdirSync(dir);
    makeSparse(path.join(dir, '4M'), 12 * MiB, [[0, 12 * MiB]]);
    const child = spawn(process.execPath, [cli, '4M', 'out.img', '--bwlimit', '4M', '--sparse', 'always', '--json'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Interrupted once it has reported progress: decided by what the copy says, not by a clock.
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('"progress"') && resolve()));
    child.kill('SIGINT');
    expect(await new Promise((r) => child.on('close', r))).toBe(130);
    const resume = /To finish the copy, run:\n {2}(blockcopy .*)\n/.exec(stderr)?.[1];
    expect(resume).toMatch(/^blockcopy 4M out\.img --offset \d+ --seek \d+ --no-truncate --bwlimit 4M --sparse always --json$/);
    const done = spawnSync('bash', ['-c', `blockcopy() { "${process.execPath}" "${cli}" "$@"; }; ${resume}`], { cwd: dir, encoding: 'utf8' });
    expect(done.status, done.stderr).toBe(0);
    expect(sha256(path.join(dir, 'out.img'))).toBe(sha256(path.join(dir, '4M')));
  });

  it('SIGUSR1 prints a status line and the copy carries on', async () => {
    const dst = tmp.file('usr1.out');
    const child = spawn(process.execPath, [cli, src, dst, '--bwlimit', '8M', '--json']);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Its first progress line says the command is watching (and so handles SIGUSR1): a fixed
    // wait was too short for a Node started under the sanitizers' preloaded runtime.
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGUSR1');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(stderr).toMatch(/^\s*\d+\.\d%  [\d.]+ \w+ of 10\.0 MiB  .*\/s/);
    expect(sha256(dst)).toBe(sha256(src));
  });
});

describe('blockcopy map', () => {
  const file = tmp.file('map.img');
  makeSparse(file, 8 * MiB, [
    [1 * MiB, 1 * MiB],
    [4 * MiB, 2 * MiB],
  ]);

  it('lists extents and totals, and --json gives the same as one object', () => {
    const text = runNode([cli, 'map', file]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^\s*offset\s+length\s+type\n/);
    expect(text.stdout).toMatch(/1048576\s+1048576\s+data/);
    expect(text.stdout).toMatch(/8\.00 MiB, 3\.00 MiB of data in 2 extents \(37\.5%\), 5\.00 MiB of holes/);
    const json = JSON.parse(runNode([cli, 'map', file, '--json']).stdout) as { extents: unknown[]; dataBytes: number; holeBytes: number; size: number };
    expect(json).toMatchObject({ size: 8 * MiB, dataBytes: 3 * MiB, holeBytes: 5 * MiB, dataExtents: 2 });
    expect(json.extents).toEqual([
      { offset: 0, length: 1 * MiB, type: 'hole' },
      { offset: 1 * MiB, length: 1 * MiB, type: 'data' },
      { offset: 2 * MiB, length: 2 * MiB, type: 'hole' },
      { offset: 4 * MiB, length: 2 * MiB, type: 'data' },
      { offset: 6 * MiB, length: 2 * MiB, type: 'hole' },
    ]);
  });

  it('exits 1 on a missing file, 2 without one', () => {
    const missing = runNode([cli, 'map', tmp.file('nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT: no such file or directory/);
    expect(runNode([cli, 'map']).status).toBe(2);
  });
});

describe('npx blockcopy in the checkout (the README\'s first command)', () => {
  it('runs the built command itself, so it must be executable', () => {
    const src = tmp.file('npx-src.img');
    makeSparse(src, 2 * MiB, [[0, MiB]]);
    const r = spawnSync('npx', ['--no-install', 'blockcopy', src, tmp.file('npx-dst.img'), '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(tmp.file('npx-dst.img'))).toBe(sha256(src));
  });
});

describe('help', () => {
  it('blockcopy help COMMAND prints that command’s options; an unknown one exits 2', () => {
    for (const [command, flag] of [['copy', '--no-truncate'], ['send', '--name'], ['recv', '--fdatasync'], ['map', '--json']]) {
      const r = runNode([cli, 'help', command!]);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(flag);
    }
    expect(runNode([cli, 'help', 'frobnicate']).status).toBe(2);
  });
});

describe('on a terminal', () => {
  const hasTmux = spawnSync('tmux', ['-V']).status === 0;
  it.skipIf(!hasTmux)('draws a progress bar with percent and rate, redrawn in place (tmux)', async () => {
    const src = tmp.file('tty.img');
    makeSparse(src, 8 * MiB, [[0, 8 * MiB]]);
    const session = `blockcopy-test-${process.pid}`;
    const command = `${process.execPath} ${cli} ${src} ${tmp.file('tty.out')} --bwlimit 2M; sleep 30`;
    expect(spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '150', '-y', '20', command]).status).toBe(0);
    const capture = () => spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout;
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const first = capture();
      await new Promise((r) => setTimeout(r, 1000));
      const second = capture();
      for (const screen of [first, second]) {
        const bars = screen.split('\n').filter((l) => /\d+% \|/.test(l));
        expect(bars, screen).toHaveLength(1); // one line, redrawn: not a new line per update
        expect(bars[0]).toMatch(/[#-]{30} \d+% \| [\d.]+ \w+ of 8\.00 MiB \| [\d.]+ \w+\/s \| ETA /);
      }
      expect(second).not.toBe(first); // it moved
      await new Promise((r) => setTimeout(r, 3500));
      expect(capture()).toMatch(/copied 8\.00 MiB of data: 8\.00 MiB written/);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  });
});
