// The package as users get it: `npm pack`, installed into a fresh project,
// loads its prebuilt binary without a compiler; forced, it builds from source.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySources, makeSparse, MiB, scratch, sha256 } from './helpers';

const tmp = scratch('package');
afterAll(() => tmp.cleanup());
let tarball = '';

const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};

/** A fresh project with the tarball installed; returns the project folder. */
function project(name: string, env: NodeJS.ProcessEnv, extra: string[] = []): string {
  const dir = path.join(tmp.dir, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  npm(['install', ...extra, tarball], dir, env);
  return dir;
}

/** Runs `code` in the project with node; returns stdout. */
function runIn(dir: string, file: string, code: string): string {
  fs.writeFileSync(path.join(dir, file), code);
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
}

const COPY_CHECK = (load: string) => `
${load}
const fs = require('node:fs');
const gyp = require('node-gyp-build');
const job = bc.copy('src.img', 'dst.img');
job.then((r) => console.log(JSON.stringify({ loaded: gyp.resolve(require('node:path').dirname(require.resolve('blockcopy/package.json'))), bytesDone: r.bytesDone })));
`;

beforeAll(() => {
  // Packed from a copy of the sources, so rebuilding dist/ there cannot disturb
  // the suites running beside this one. prepack builds dist/ and the prebuild,
  // so the tarball always carries them.
  const sources = path.join(tmp.dir, 'sources');
  copySources(sources);
  npm(['pack', '--pack-destination', tmp.dir], sources);
  const packed = fs.readdirSync(tmp.dir).filter((f) => f.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = path.join(tmp.dir, packed[0]!);
}, 300_000);

describe('npm pack', () => {
  it('ships exactly what users need: dist, native sources, binding.gyp, prebuilds, docs, README, LICENSE', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const wanted of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'native/engine/copy_loop.cc', 'native/addon.cc', 'binding.gyp', 'prebuilds/linux-x64/blockcopy.glibc.node', 'docs/stream-format.md', 'README.md', 'LICENSE', 'package.json']) {
      expect(files, wanted).toContain(wanted);
    }
    const tops = new Set(files.map((f) => f.split('/')[0]));
    expect([...tops].sort()).toEqual(['LICENSE', 'README.md', 'binding.gyp', 'dist', 'docs', 'native', 'package.json', 'prebuilds']);
  });

  it('the prebuilt binary links only against glibc (libstdc++ and libgcc are static)', () => {
    const binary = path.join(tmp.dir, 'sources', 'prebuilds', 'linux-x64', 'blockcopy.glibc.node');
    const needed = execFileSync('readelf', ['-d', binary], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('(NEEDED)'))
      .map((l) => /\[(.*)\]/.exec(l)![1]);
    // glibc's own parts only: no libstdc++.so or libgcc_s.so to match on the user's machine.
    for (const lib of needed) expect(['libc.so.6', 'libm.so.6', 'ld-linux-x86-64.so.2']).toContain(lib);
    expect(needed).toContain('libc.so.6');
  });
});

describe('installed from the tarball', () => {
  it('with install scripts disabled, require() and import load the prebuild and copy', () => {
    const dir = project('prebuilt', {}, ['--ignore-scripts']);
    const pkg = path.join(dir, 'node_modules', 'blockcopy');
    makeSparse(path.join(dir, 'src.img'), 8 * MiB, [[1 * MiB, 2 * MiB]]);
    const cjs = JSON.parse(runIn(dir, 'check.cjs', COPY_CHECK("const bc = require('blockcopy');"))) as { loaded: string; bytesDone: number };
    expect(cjs.loaded).toBe(path.join(pkg, 'prebuilds', 'linux-x64', 'blockcopy.glibc.node'));
    expect(cjs.bytesDone).toBe(2 * MiB);
    expect(sha256(path.join(dir, 'dst.img'))).toBe(sha256(path.join(dir, 'src.img')));
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
    const esm = runIn(dir, 'check.mjs', "import { copySync, CopyQueue } from 'blockcopy';\nconsole.log(typeof copySync, typeof CopyQueue, copySync('src.img', 'esm.img').bytesDone);\n");
    expect(esm.trim()).toBe(`function function ${2 * MiB}`);
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
    // The command is installed too.
    const cli = spawnSync(path.join(dir, 'node_modules', '.bin', 'blockcopy'), ['src.img', 'cli.img', '--quiet'], { cwd: dir });
    expect(cli.status).toBe(0);
  });

  it('npm_config_build_from_source=true compiles it from the shipped sources', () => {
    const dir = project('from-source', { npm_config_build_from_source: 'true' });
    const pkg = path.join(dir, 'node_modules', 'blockcopy');
    expect(fs.existsSync(path.join(pkg, 'build', 'Release', 'blockcopy.node'))).toBe(true);
    makeSparse(path.join(dir, 'src.img'), 8 * MiB, [[0, 3 * MiB]]);
    const out = JSON.parse(runIn(dir, 'check.cjs', COPY_CHECK("const bc = require('blockcopy');"))) as { loaded: string; bytesDone: number };
    expect(out.loaded).toBe(path.join(pkg, 'build', 'Release', 'blockcopy.node'));
    expect(out.bytesDone).toBe(3 * MiB);
    expect(sha256(path.join(dir, 'dst.img'))).toBe(sha256(path.join(dir, 'src.img')));
  });
});
