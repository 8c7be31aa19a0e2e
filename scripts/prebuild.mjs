#!/usr/bin/env node
// npm run prebuild (and so npm pack): the prebuilt addons the package ships,
// prebuilds/linux-x64 and prebuilds/linux-arm64, both for glibc. The one that
// is not this machine's architecture is cross-compiled with Debian's cross
// toolchain. docs/platforms.md, "Prebuilt binaries", says what they load on and why.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const TRIPLES = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const CROSS_PACKAGE = { x64: 'crossbuild-essential-amd64', arm64: 'crossbuild-essential-arm64' };

const host = os.arch();
if (!(host in TRIPLES)) fail(`prebuilds are made on x64 or arm64, not ${host}`);

const prebuildify = path.join(path.dirname(createRequire(import.meta.url).resolve('prebuildify/package.json')), 'bin.js');
const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

// A release builds both. BLOCKCOPY_PREBUILDS=x64 (a comma list) builds fewer:
// the package test does that where no cross compiler is installed.
const wanted = (process.env.BLOCKCOPY_PREBUILDS || Object.keys(TRIPLES).join(',')).split(',');
for (const arch of wanted) if (!(arch in TRIPLES)) fail(`BLOCKCOPY_PREBUILDS: no prebuild for ${arch} (${Object.keys(TRIPLES).join(', ')})`);
// The host's build last: prebuildify builds in build/, and npm test uses what it leaves there.
const arches = wanted.sort((a, b) => Number(a === host) - Number(b === host));
for (const arch of arches) {
  const args = ['--napi', '--strip', '--tag-libc', `--arch=${arch}`];
  const env = { JOBS: 'max', ...process.env }; // node-gyp compiles on every core
  if (arch !== host) {
    const triple = TRIPLES[arch];
    if (!onPath(`${triple}-g++`)) fail(`${triple}-g++ not found: install Debian's ${CROSS_PACKAGE[arch]} to build the ${arch} prebuild`);
    Object.assign(env, { CC: `${triple}-gcc`, CXX: `${triple}-g++`, LINK: `${triple}-g++`, AR: `${triple}-ar` });
    args.push(`--strip-bin=${triple}-strip`);
  }
  console.error(`prebuild: linux-${arch}${arch === host ? '' : ` (cross, ${TRIPLES[arch]})`}`);
  const run = spawnSync(process.execPath, [prebuildify, ...args], { stdio: 'inherit', env });
  if (run.status !== 0) fail(`the linux-${arch} prebuild failed (exit ${run.status ?? run.signal})`);
}

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}
