#!/usr/bin/env node
// A virt-resize in miniature, built on blockcopy's public API.
//
//   node examples/resize.js IN.img OUT.img --size 2G [--expand N]
//
// Reads IN's partition table (GPT or MBR, through `sfdisk --json`), creates
// OUT at the new size with the same partitions in the same order and
// alignment, partition N (default: the last) grown to fill the new space and
// those after it moved up, then copies every partition across, sparse, through
// one CopyQueue with one progress line for all of them. The filesystem inside
// the grown partition keeps its size: grow it afterwards (resize2fs, xfs_growfs).
// Ctrl-C cancels every copy and exits 130.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { CopyQueue } = require('blockcopy');

const ALIGN = 1024 * 1024; // partitions start and grow in whole MiB, as fdisk aligns them

function parseSize(text) {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text);
  if (!m) throw new Error(`--size: '${text}' is not a size such as 2G or 512M`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
}

function readTable(image) {
  const table = JSON.parse(execFileSync('sfdisk', ['--json', image], { encoding: 'utf8' })).partitiontable;
  if (table.unit !== 'sectors') throw new Error(`unexpected unit ${table.unit}`);
  const sector = table.sectorsize ?? 512;
  for (const p of table.partitions) {
    if (table.label === 'dos' && ['5', 'f', '85'].includes(p.type)) throw new Error('extended MBR partitions are not handled by this example');
  }
  return { label: table.label, sector, partitions: table.partitions };
}

/** The new layout: partition `expand` grows by the new space (whole MiB), the ones after it move up. */
function plan(table, outSize, expand) {
  const { sector, partitions } = table;
  // GPT keeps 33 sectors at the end for its backup; MBR nothing.
  const reservedEnd = table.label === 'gpt' ? 33 * sector : 0;
  const lastEnd = Math.max(...partitions.map((p) => (p.start + p.size) * sector));
  if (outSize < lastEnd + reservedEnd) throw new Error(`--size must be at least ${lastEnd + reservedEnd} bytes to hold every partition`);
  const usableEnd = outSize - reservedEnd;
  const extra = Math.floor((usableEnd - lastEnd) / ALIGN) * ALIGN;
  return partitions.map((p, i) => {
    const moved = i > expand ? extra : 0;
    return {
      ...p,
      srcOffset: p.start * sector,
      length: p.size * sector,
      dstOffset: p.start * sector + moved,
      newStart: p.start + moved / sector,
      newSize: p.size + (i === expand ? extra / sector : 0),
    };
  });
}

function writeTable(out, table, layout) {
  const lines = [`label: ${table.label}`, 'unit: sectors', ''];
  for (const p of layout) {
    const fields = [`start=${p.newStart}`, `size=${p.newSize}`, `type=${p.type}`];
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    if (p.name) fields.push(`name="${p.name}"`);
    if (p.bootable) fields.push('bootable');
    lines.push(fields.join(', '));
  }
  execFileSync('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', out], { input: `${lines.join('\n')}\n` });
}

function mib(n) {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

async function main(argv) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { size: { type: 'string' }, expand: { type: 'string' } } });
  if (positionals.length !== 2 || !values.size) {
    console.error('usage: resize.js IN.img OUT.img --size SIZE [--expand N]');
    return 2;
  }
  const [input, output] = positionals;
  const outSize = parseSize(values.size);
  const table = readTable(input);
  const expand = values.expand === undefined ? table.partitions.length - 1 : Number(values.expand) - 1;
  if (!(expand >= 0 && expand < table.partitions.length)) throw new Error(`--expand: no partition ${values.expand}`);
  const layout = plan(table, outSize, expand);

  fs.writeFileSync(output, '');
  fs.truncateSync(output, outSize); // sparse, so it reads as zeros: targetIsZero below
  writeTable(output, table, layout);

  const queue = new CopyQueue({ concurrency: 2 });
  const jobs = layout.map((p) =>
    queue.add(input, output, { srcOffset: p.srcOffset, dstOffset: p.dstOffset, length: p.length, truncate: false, targetIsZero: true, progressInterval: 200 }),
  );
  // One line for all partitions: the data of all of them together.
  const tick = () => {
    const all = jobs.map((j) => j.progress());
    const done = all.reduce((n, p) => n + p.bytesDone, 0);
    const total = all.reduce((n, p) => n + p.bytesTotal, 0);
    const line = `copying ${jobs.length} partitions: ${total ? ((100 * done) / total).toFixed(1) : '0.0'}%  ${mib(done)} of ${mib(total)} of data`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  };
  const timer = setInterval(tick, process.stderr.isTTY ? 200 : 2000);
  let interrupted = false;
  process.on('SIGINT', () => {
    interrupted = true;
    for (const job of jobs) void job.cancel({ wait: false });
  });
  const results = await Promise.allSettled(jobs);
  clearInterval(timer);
  tick();
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (interrupted) {
    console.error('resize: cancelled; OUT is incomplete');
    return 130;
  }
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    console.error(`resize: ${failed.reason.message}`);
    return 1;
  }
  layout.forEach((p, i) => {
    const r = results[i].value;
    console.log(
      `partition ${i + 1}: ${mib(p.length)} at ${mib(p.srcOffset)} -> ${mib(p.newSize * table.sector)} at ${mib(p.dstOffset)}; ${mib(r.bytesWritten)} written, ${mib(r.bytesSkipped)} skipped`,
    );
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error) => {
    console.error(`resize: ${error.message}`);
    process.exitCode = 1;
  },
);
