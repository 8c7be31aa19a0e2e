#!/usr/bin/env node
// A sparse image shipper built on blockcopy's public API.
//
//   node examples/stream.js serve --listen 127.0.0.1:9000 [--idle-timeout SECONDS] DIR
//   node examples/stream.js push IMG... --to 127.0.0.1:9000
//
// push sends every image over one connection at once, interleaved frame by
// frame; serve writes each into DIR under its own name, verifies the END
// checksum and answers OK or ERROR. A failing image does not stop the others.
'use strict';
const net = require('node:net');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Connection, TransferLimit } = require('blockcopy');

function hostPort(text) {
  const at = text.lastIndexOf(':');
  const port = Number(text.slice(at + 1));
  if (at < 1 || !Number.isInteger(port)) throw new Error(`expected HOST:PORT, got '${text}'`);
  return { host: text.slice(0, at), port };
}

const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function serve(dir, listen, idleSeconds = 60) {
  const { host, port } = hostPort(listen);
  // At most 64 images at once however many clients connect, 16 per client; a
  // transfer that goes quiet, or a client that reads none of our answers, for
  // idleSeconds is dropped.
  const limit = new TransferLimit(64);
  const server = net.createServer((socket) => {
    const connection = Connection.over(socket, { maxTransfers: 16, limit, idleTimeout: idleSeconds * 1000 });
    connection.on('error', (error) => console.error(`serve: connection: ${error.message}`));
    connection.on('transfer', (incoming) => {
      // The name comes from the other end: never let it leave DIR.
      const name = path.basename(incoming.name || `image-${incoming.id}`);
      const job = incoming.accept(path.join(dir, name), { fsync: 'data' });
      job.then(
        (r) => console.log(`serve: ${name}: ${mib(r.length)} image, ${mib(r.bytesWritten)} written, checksum ${r.checksum} verified`),
        (e) => console.error(`serve: ${name}: ${e.code}: ${e.message}`),
      );
    });
  });
  server.listen(port, host, () => console.log(`serve: listening on ${host}:${server.address().port}, writing into ${dir}`));
  process.on('SIGINT', () => server.close(() => process.exit(0)));
}

function push(images, to) {
  const { host, port } = hostPort(to);
  const socket = net.connect(port, host);
  const connection = Connection.over(socket, { maxTransfers: images.length });
  const lines = new Map(images.map((img) => [img, 'waiting']));
  const show = () => {
    if (!process.stderr.isTTY) return;
    process.stderr.write(`\x1b[${lines.size}A`);
    for (const [img, line] of lines) process.stderr.write(`\r${path.basename(img)}: ${line}\x1b[K\n`);
  };
  if (process.stderr.isTTY) process.stderr.write('\n'.repeat(lines.size));
  const jobs = images.map((img) => {
    const job = connection.send(img, { name: path.basename(img), progressInterval: 200 });
    job.on('progress', (p) => {
      lines.set(img, `${((100 * p.bytesDone) / Math.max(p.bytesTotal, 1)).toFixed(0)}%  ${mib(p.bytesDone)} of ${mib(p.bytesTotal)}`);
      show();
    });
    return job.then(
      (r) => ({ img, ok: true, text: `sent, receiver wrote ${mib(r.bytesWritten)}, checksum ${r.checksum}` }),
      (e) => ({ img, ok: false, text: `failed: ${e.code}: ${e.message}` }),
    );
  });
  process.on('SIGINT', () => {
    for (const img of images) lines.set(img, 'cancelling');
    connection.destroy();
  });
  return Promise.all(jobs).then(async (results) => {
    for (const r of results) lines.set(r.img, r.text);
    show();
    if (!process.stderr.isTTY) for (const r of results) console.log(`${path.basename(r.img)}: ${r.text}`);
    await connection.end();
    socket.end();
    return results.every((r) => r.ok) ? 0 : 1;
  });
}

function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { listen: { type: 'string' }, to: { type: 'string' }, 'idle-timeout': { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  const idle = values['idle-timeout'] === undefined ? undefined : Number(values['idle-timeout']);
  if (command === 'serve' && rest.length === 1 && values.listen) return serve(rest[0], values.listen, idle);
  if (command === 'push' && rest.length > 0 && values.to) {
    return push(rest, values.to).then((code) => {
      process.exitCode = code;
    });
  }
  console.error('usage: stream.js serve --listen HOST:PORT [--idle-timeout SECONDS] DIR | stream.js push IMG... --to HOST:PORT');
  process.exitCode = 2;
}

main(process.argv.slice(2));
