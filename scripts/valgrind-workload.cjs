// What `npm run test:valgrind` runs under valgrind: a little of everything the
// addon does (sync and async copies, cancel, a queue, extents, a stream round
// trip, the engine's own send and receive on a file, a checksum with its helper
// threads, a verified copy, a failing open), small enough to finish in a few minutes there.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pipeline } = require('node:stream/promises');
const bc = require(path.join(__dirname, '..', 'dist', 'index.js'));
const descriptor = require(path.join(__dirname, '..', 'dist', 'stream', 'descriptor.js'));

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-valgrind-'));
  const src = path.join(dir, 'src.img');
  const fd = fs.openSync(src, 'w');
  fs.ftruncateSync(fd, 4 << 20);
  fs.writeSync(fd, Buffer.alloc(512 << 10, 7), 0, 512 << 10, 1 << 20);
  fs.closeSync(fd);
  try {
    bc.copySync(src, path.join(dir, 'a'), { backend: 'pread' });
    await bc.copy(src, path.join(dir, 'b'), { sparse: 'always' }); // pread: io_uring is off under valgrind
    await bc.copy(src, path.join(dir, 'c'), { backend: 'copy_file_range' });
    const job = bc.copy(src, path.join(dir, 'd'), { bandwidth: 1 << 20 });
    setTimeout(() => job.cancel(), 50);
    await job.done.catch(() => {});
    const queue = new bc.CopyQueue({ concurrency: 2 });
    for (let i = 0; i < 4; i++) queue.add(src, path.join(dir, `q${i}`));
    await queue.idle();
    await bc.extents(src);
    await bc.copy(path.join(dir, 'missing'), path.join(dir, 'e')).done.catch(() => {});
    const reader = bc.createExtentReadStream(src);
    const { size } = await reader.ready();
    await pipeline(reader, bc.encode({ size }), bc.decode(), bc.createExtentWriteStream(path.join(dir, 'f')));
    // blockcopy send > file, then blockcopy recv < file: the engine frames and parses.
    const stream = path.join(dir, 'stream');
    const out = fs.openSync(stream, 'w');
    await descriptor.sendToDescriptor(src, out, { sparse: 'always' });
    fs.closeSync(out);
    const input = fs.openSync(stream, 'r');
    await descriptor.receiveFromDescriptor(input, path.join(dir, 'g'));
    fs.closeSync(input);
    if (!fs.readFileSync(path.join(dir, 'g')).equals(fs.readFileSync(src))) throw new Error('recv wrote other bytes');
    const sums = [await bc.checksum(src), await bc.checksum(path.join(dir, 'g'), { offset: 1, length: (3 << 20) + 5 })];
    if (sums[0].digest === sums[1].digest) throw new Error('two ranges, one digest');
    const cancelled = bc.checksum(src);
    cancelled.cancel({ wait: false });
    await cancelled.done.catch(() => {});
    await bc.copy(src, path.join(dir, 'h'), { verify: true, backend: 'pread' });
    // A resumed transfer over a socket: the receiver's block digests, SAME frames.
    const net = require('node:net');
    const server = net.createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const client = net.connect(server.address().port, '127.0.0.1');
    const peer = await accepted;
    const received = bc.receive(peer, path.join(dir, 'h'), { verify: true });
    await bc.send(src, client, { resume: true });
    await received;
    client.destroy();
    peer.destroy();
    server.close();
    console.log('workload done');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
