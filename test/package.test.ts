// The package as users get it: `npm pack`, installed into a fresh project,
// loads its prebuilt binary without a compiler; forced, it builds from source.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySources, makeSparse, MiB, ROOT, scratch, sha256 } from './helpers';

const tmp = scratch('package');
afterAll(() => tmp.cleanup());
let tarball = '';
let unpacked = '';

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

const inCI = Boolean(process.env.CI);
const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
// A release tarball carries both prebuilds (CI installs the cross compiler).
// Elsewhere, without it, the tarball is packed with this machine's alone and
// the arm64 checks are skipped.
const crossCompiles = inCI || onPath('aarch64-linux-gnu-g++');
const ARCHES: string[] = crossCompiles ? ['x64', 'arm64'] : ['x64'];
// The runs on other glibc versions and under qemu-user fetch Debian packages.
const fetchesDebian = inCI || (onPath('apt-get') && onPath('dpkg-deb'));
const runsArm64 = crossCompiles && fetchesDebian && (inCI || onPath('qemu-aarch64-static'));

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
  npm(['pack', '--pack-destination', tmp.dir], sources, { BLOCKCOPY_PREBUILDS: ARCHES.join(',') });
  const packed = fs.readdirSync(tmp.dir).filter((f) => f.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = path.join(tmp.dir, packed[0]!);
  unpacked = path.join(tmp.dir, 'unpacked');
  fs.mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
}, 900_000);

describe('npm pack', () => {
  it('ships exactly what users need: dist, native sources, binding.gyp, prebuilds, docs, README, LICENSE', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const wanted of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'native/engine/copy_loop.cc', 'native/addon.cc', 'binding.gyp', ...ARCHES.map((arch) => prebuildIn('', arch)), 'docs/stream-format.md', 'README.md', 'LICENSE', 'package.json']) {
      expect(files, wanted).toContain(wanted);
    }
    const tops = new Set(files.map((f) => f.split('/')[0]));
    expect([...tops].sort()).toEqual(['LICENSE', 'README.md', 'binding.gyp', 'dist', 'docs', 'native', 'package.json', 'prebuilds']);
  });
});

/** What the addon's prebuilds must be: what `readelf -h` calls the machine, and its loader. */
const PREBUILDS = {
  x64: { machine: 'Advanced Micro Devices X86-64', loader: 'ld-linux-x86-64.so.2' },
  arm64: { machine: 'AArch64', loader: 'ld-linux-aarch64.so.1' },
} as const;
/** Where a prebuild sits in an unpacked or installed package. */
const prebuildIn = (pkg: string, arch: string) => path.join(pkg, 'prebuilds', `linux-${arch}`, 'blockcopy.glibc.node');

/** The oldest glibc the prebuilds load on (docs/platforms.md, "Prebuilt binaries"). */
const GLIBC_FLOOR = [2, 28];

/** What a loader checks before it loads an ELF shared object, as readelf shows it. */
function auditElf(file: string) {
  const readelf = (...args: string[]) => execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8' });
  const machine = /Machine:\s+(.*)/.exec(readelf('-h'))![1]!.trim();
  const needed = [...readelf('-d').matchAll(/\(NEEDED\).*\[(.*)\]/g)].map((m) => m[1]!);
  // "File: libc.so.6 ..." then its "Name: GLIBC_2.17 ..." lines.
  const versionNeeds: string[] = [];
  let library = '';
  for (const line of readelf('-V').split('\n')) {
    const f = /File: (\S+)/.exec(line);
    if (f) library = f[1]!;
    const n = /Name: (\S+)/.exec(line);
    if (n && library) versionNeeds.push(`${library}:${n[1]}`);
  }
  // Rows of "Num: Value Size Type Bind Vis Ndx Name".
  const symbols = readelf('--dyn-syms')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0]!));
  // Undefined symbols with no version must come from the Node process itself.
  const unversioned = symbols.filter((f) => f[6] === 'UND' && f[4] === 'GLOBAL' && !f[7]!.includes('@')).map((f) => f[7]!);
  const exported = symbols.filter((f) => f[6] !== 'UND' && f[4] !== 'LOCAL').map((f) => f[7]!);
  return { machine, needed, versionNeeds, unversioned, exported };
}

const versionAbove = (version: string, floor: number[]) => {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < Math.max(parts.length, floor.length); i++) {
    if ((parts[i] ?? 0) !== (floor[i] ?? 0)) return (parts[i] ?? 0) > (floor[i] ?? 0);
  }
  return false;
};

describe('the prebuilds in the tarball', () => {
  for (const [arch, want] of Object.entries(PREBUILDS)) {
    it.skipIf(!ARCHES.includes(arch))(`linux-${arch}: ${want.machine}, needs glibc ${GLIBC_FLOOR.join('.')} at most and no library but libc, libm and the loader`, () => {
      const audit = auditElf(prebuildIn(path.join(unpacked, 'package'), arch));
      expect(audit.machine).toBe(want.machine);
      for (const lib of audit.needed) expect(['libc.so.6', 'libm.so.6', want.loader]).toContain(lib);
      expect(audit.needed).toContain('libc.so.6');
      // Every version asked for is glibc's (no GLIBCXX_ or GCC_: libstdc++ and libgcc are inside), none above the floor.
      expect(audit.versionNeeds.length).toBeGreaterThan(0);
      const tooNew = audit.versionNeeds.filter((need) => {
        const m = /:GLIBC_([\d.]+)$/.exec(need);
        return !m || versionAbove(m[1]!, GLIBC_FLOOR);
      });
      expect(tooNew).toEqual([]);
      // Node-API, and the SHA-256 of the OpenSSL inside Node: nothing else may be left to the process.
      expect(audit.unversioned.filter((s) => !/^(napi_|node_api_|EVP_)/.test(s))).toEqual([]);
      expect(audit.unversioned).toContain('napi_create_function');
      // Only what Node looks up; the static libstdc++ and every std:: template stay inside (native/exports.map).
      expect(audit.exported.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    });
  }
});

/**
 * Run in a project with the tarball installed: copies through two backends,
 * checksums, and throws a JS exception through the addon's C++ frames (a
 * progress callback that throws mid-copy), which the unwinder must find.
 */
const FOREIGN_CHECK = `
const bc = require('blockcopy');
const gyp = require('node-gyp-build');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const hash = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
(async () => {
  const auto = await bc.copy('src.img', 'auto.img');
  const pread = bc.copySync('src.img', 'pread.img', { backend: 'pread' });
  const { digest } = await bc.checksum('src.img');
  let thrown = '';
  try {
    bc.copySync('src.img', 'thrown.img', { bandwidth: 16 * 1024 * 1024, progressInterval: 10,
      onProgress: (p) => { if (p.bytesDone < p.bytesTotal) throw new Error('from the callback'); } });
  } catch (e) { thrown = e.message; }
  let missing = '';
  try { bc.copySync('missing.img', 'never.img'); } catch (e) { missing = e.code; }
  console.log(JSON.stringify({
    arch: process.arch,
    glibc: process.report.getReport().header.glibcVersionRuntime,
    loaded: gyp.resolve(path.dirname(require.resolve('blockcopy/package.json'))),
    auto: hash('auto.img'), autoBlocks: fs.statSync('auto.img').blocks, autoBytes: auto.bytesDone,
    pread: hash('pread.img'), digest, thrown, missing, neverCreated: !fs.existsSync('never.img'),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Prints the arguments copySync() hands the addon for a pread copy to replay.img. */
const CAPTURE_ENGINE_ARGS = `
const path = require('node:path');
const { addon } = require(path.join(path.dirname(require.resolve('blockcopy/package.json')), 'dist', 'native.js'));
addon.copySync = (...args) => { console.log(JSON.stringify(args.slice(0, 3))); process.exit(0); };
require('blockcopy').copySync('src.img', 'replay.img', { backend: 'pread' });
`;

/** node replay.js ADDON ARGS: loads the addon alone and runs that copy. */
const REPLAY_ENGINE_ARGS = `
const addon = { exports: {} };
process.dlopen(addon, process.argv[2]);
const result = addon.exports.copySync(...JSON.parse(process.argv[3]), undefined);
const glibc = process.report.getReport().header.glibcVersionRuntime;
console.log(JSON.stringify({ arch: process.arch, node: process.version, glibc, ending: result.ending, bytesDone: result.bytesDone }));
`;

type ForeignResult = {
  arch: string;
  glibc: string;
  loaded: string;
  auto: string;
  autoBlocks: number;
  autoBytes: number;
  pread: string;
  digest: string;
  thrown: string;
  missing: string;
  neverCreated: boolean;
};

describe('the prebuilds away from this machine', () => {
  let dir = '';
  const data = 3 * MiB + 4097; // an odd length of data in a sparse 64 MiB image
  beforeAll(() => {
    dir = project('foreign', {}, ['--ignore-scripts']);
    makeSparse(path.join(dir, 'src.img'), 64 * MiB, [[1 * MiB, data]]);
    fs.writeFileSync(path.join(dir, 'check.cjs'), FOREIGN_CHECK);
  }, 300_000);

  /** Fetches a root of Debian packages (scripts/debian-root.sh), kept between runs. */
  const debianRoot = (suite: string, arch: string, packages: string[]) => {
    const kept = path.join(os.tmpdir(), 'blockcopy-debian-roots', `${suite}-${arch}`);
    execFileSync('bash', [path.join(ROOT, 'scripts', 'debian-root.sh'), suite, arch, kept, ...packages], { stdio: 'inherit', timeout: 600_000 });
    return path.join(kept, 'root');
  };

  /** Runs the arm64 Node of a Debian root under qemu-user, in the project; returns stdout. */
  const arm64Node = (root: string, args: string[]) =>
    execFileSync('qemu-aarch64-static', ['-L', root, path.join(root, 'usr', 'bin', 'node'), ...args], { cwd: dir, encoding: 'utf8', timeout: 300_000 });

  const hostDigest = () =>
    JSON.parse(execFileSync(process.execPath, ['-e', "require('blockcopy').checksum('src.img').then((r) => console.log(JSON.stringify(r.digest)))"], { cwd: dir, encoding: 'utf8' })) as string;

  const expectCopied = (out: ForeignResult, arch: string) => {
    expect(out.arch).toBe(arch);
    expect(out.loaded).toBe(prebuildIn(path.join(dir, 'node_modules', 'blockcopy'), arch));
    const want = sha256(path.join(dir, 'src.img'));
    expect(out.auto).toBe(want);
    expect(out.pread).toBe(want);
    // Only the data was copied, rounded out to file system blocks, and the holes stayed holes.
    expect(out.autoBytes).toBeGreaterThanOrEqual(data);
    expect(out.autoBytes).toBeLessThan(data + 64 * 1024);
    expect(out.autoBlocks * 512).toBeLessThan(data + 1 * MiB);
    expect(out.thrown).toBe('from the callback');
    expect(out.missing).toBe('ENOENT');
    expect(out.neverCreated).toBe(true);
    return out;
  };

  it.skipIf(!fetchesDebian)('linux-x64 loads and copies on glibc 2.31 (Debian 11\'s libc, through its own loader)', () => {
    const root = debianRoot('bullseye', 'amd64', ['libc6', 'libstdc++6']);
    const libs = [path.join(root, 'lib', 'x86_64-linux-gnu'), path.join(root, 'usr', 'lib', 'x86_64-linux-gnu')];
    // The old loader runs this Node with the old libc; a symbol newer than 2.31 would stop the load.
    const out = execFileSync(path.join(libs[0]!, 'ld-linux-x86-64.so.2'), ['--library-path', libs.join(':'), process.execPath, 'check.cjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    const result = expectCopied(JSON.parse(out) as ForeignResult, 'x64');
    expect(result.glibc).toBe('2.31');
    expect(result.digest).toBe(hostDigest());
  }, 600_000);

  it.skipIf(!runsArm64)('linux-arm64 loads and copies under qemu-user, run by Debian 13\'s arm64 Node', () => {
    const root = debianRoot('trixie', 'arm64', ['nodejs']);
    const out = arm64Node(root, ['check.cjs']);
    const result = expectCopied(JSON.parse(out) as ForeignResult, 'arm64');
    // The same digest as the x64 addon computes on this machine's glibc: one format everywhere.
    expect(result.digest).toBe(hostDigest());
  }, 600_000);

  it.skipIf(!runsArm64)('linux-arm64 loads on glibc 2.31 too: Debian 11\'s arm64 Node 12, under qemu-user, runs the addon\'s copy', () => {
    const root = debianRoot('bullseye', 'arm64', ['nodejs']);
    // Node 12 cannot run the library's JS, so the addon is called directly, with
    // the arguments this machine's copySync() gives it for the same copy.
    const args = execFileSync(process.execPath, ['-e', CAPTURE_ENGINE_ARGS], { cwd: dir, encoding: 'utf8' }).trim();
    fs.writeFileSync(path.join(dir, 'replay.js'), REPLAY_ENGINE_ARGS);
    const out = arm64Node(root, ['replay.js', prebuildIn(path.join(dir, 'node_modules', 'blockcopy'), 'arm64'), args]);
    const result = JSON.parse(out) as { arch: string; glibc: string; node: string; ending: string; bytesDone: number };
    expect(result).toMatchObject({ arch: 'arm64', glibc: '2.31', ending: 'completed' });
    expect(result.node).toMatch(/^v12\./);
    expect(result.bytesDone).toBeGreaterThanOrEqual(data);
    expect(sha256(path.join(dir, 'replay.img'))).toBe(sha256(path.join(dir, 'src.img')));
  }, 600_000);
});

describe('installed from the tarball', () => {
  it('with install scripts disabled, require() and import load the prebuild and copy', () => {
    const dir = project('prebuilt', {}, ['--ignore-scripts']);
    const pkg = path.join(dir, 'node_modules', 'blockcopy');
    makeSparse(path.join(dir, 'src.img'), 8 * MiB, [[1 * MiB, 2 * MiB]]);
    const cjs = JSON.parse(runIn(dir, 'check.cjs', COPY_CHECK("const bc = require('blockcopy');"))) as { loaded: string; bytesDone: number };
    expect(cjs.loaded).toBe(prebuildIn(pkg, 'x64'));
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
  }, 600_000); // a whole compile of the addon: minutes on two loaded cores
});
