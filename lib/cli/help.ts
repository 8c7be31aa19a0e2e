// What `blockcopy --help` and `blockcopy help COMMAND` print.
import { DEFAULT_IDLE_TIMEOUT } from '../options';

export const USAGE = `Usage: blockcopy SRC DST [options]          copy, keeping holes as holes
       blockcopy send FILE [options] > stream   write FILE as a sparse image stream
       blockcopy recv FILE [options] < stream   write a stream's image into FILE
       blockcopy map FILE [--json]              the data extents and holes of FILE
       blockcopy checksum TARGET...             a digest per target, holes not read
       blockcopy help COMMAND                   options of copy, send, recv, map or checksum

  blockcopy disk.img /dev/sdb --force --fsync
  blockcopy part.img out.img --seek 1MiB --size 8G --no-truncate
  blockcopy send disk.img | ssh host blockcopy recv disk.img
  blockcopy -f qcow2 disk.qcow2 nbd+unix:///?socket=/run/nbd.sock

SRC, DST and FILE may be NBD URIs: nbd://host[:port][/export] or
nbd+unix:///[export]?socket=PATH (nbds://, TLS, is not supported yet).

Sizes take dd and IEC suffixes: 512, 4K, 1M, 1.5G, 2GiB (powers of 1024), 10MB (of 1000).
Exit status: 0 done, 1 copy, stream or system error, 2 bad usage, 130 cancelled.
--version prints the version.`;

const NBD_WAIT = `  --nbd-timeout DUR  fail (ETIMEDOUT) when an NBD server takes longer than DUR
                    over the handshake or one request's whole reply: 30s, 500ms,
                    2m; 0 waits for ever (default 30s)`;

const OUTPUT = `Output (on stderr; JSON on stdout):
  --progress        status lines every second even when stderr is not a terminal
                    (on a terminal a progress bar is the default)
  --quiet, -q       print nothing but errors
  --json            one JSON object per progress report, then the result (or error)
  SIGUSR1           prints a status line, as dd does; Ctrl-C cancels cleanly`;

export const HELP = {
  copy: `Usage: blockcopy [copy] SRC DST [options]

Copies SRC (a file, block device or NBD URI) to DST. Holes stay holes; the
kernel's fast paths (reflink, copy_file_range) are used where they fit.

  --sparse MODE     auto (source holes stay holes, the default), always (all-zero
                    blocks become holes too) or never (write every byte)
  --offset SIZE     start reading SRC here (dd's skip, in bytes)
  --seek SIZE       start writing DST here (dd's seek, in bytes)
  --length SIZE     copy this many bytes (default: to the end of SRC)
  --bs SIZE         I/O size, a multiple of 4K (default 1M)
  --queue-depth N   io_uring or NBD requests in flight (default 16, 64 with --direct)
  --bwlimit RATE    at most RATE bytes per second, e.g. 50M
  --direct          O_DIRECT on both ends
  --fsync           flush DST (data and metadata) before exiting
  --fdatasync       flush DST's data before exiting
  --backend B       auto, io_uring, pread or copy_file_range
  --no-reflink      never share extents, always copy the data
  --size SIZE       set DST's size first (a resize tool's bigger image)
  --no-truncate     keep DST's size and its bytes outside the range (the default
                    when --offset, --seek, --length or --size is given)
  --force           write to a block device even if it is mounted or in use
  --verify          then flush DST, read the range back from the disk and compare
                    it with SRC's (exit 1 naming the first byte that differs)
  -f, --src-format FMT  SRC is an image in FMT (qcow2, vmdk, vhdx, vdi, ...):
                    read through a qemu-nbd run for the copy (default raw)
  -O, --dst-format FMT  DST is an image in FMT; a new one (or one replaced
                    whole) is made with qemu-img create
  -c, --compress    with -O qcow2: write compressed clusters, as qemu-img convert -c
  --connections N   NBD connections per end when the server allows several (default 4)
${NBD_WAIT}

${OUTPUT}

Ctrl-C prints how far the copy got and the exact command that finishes it.`,
  send: `Usage: blockcopy send FILE [options] > stream
       blockcopy send FILE --to 'ssh host blockcopy recv FILE --duplex' [--resume]

Writes FILE to stdout as a sparse image stream (docs/stream-format.md):
holes travel as a few bytes. stdout must be a pipe or a file.

  --sparse MODE     auto (default), always (zero blocks travel as holes) or never
  --name NAME       a name for the receiver
  --offset SIZE     send FILE from here on (the image is the rest, or --length bytes)
  --length SIZE     send this many bytes
  -f, --src-format FMT  FILE is an image in FMT, read through qemu-nbd
${NBD_WAIT}
  --to COMMAND      run COMMAND (with sh) and stream to its stdin instead; it
                    answers on its stdout (recv --duplex), so its OK or error
                    comes back: done means written (and flushed, if it asked)
  --resume          with --to: the receiver first sends a digest of each 64 KiB
                    block it already holds, and only the blocks that differ are
                    sent (resume a broken transfer, or update an older copy)
  --idle-timeout DUR  fail (ETIMEDOUT) when the receiver keeps us waiting DUR
                    for an answer (its block digests, its OK after END) or for
                    room on the stream: 30s, 500ms, 2m; 0 waits for ever
                    (default ${DEFAULT_IDLE_TIMEOUT / 1000}s)

${OUTPUT.replace('JSON on stdout', 'JSON on stderr too, since stdout is the stream')}`,
  recv: `Usage: blockcopy recv FILE [options] < stream

Reads an image stream from stdin and writes it into FILE, holes as holes,
and verifies the stream's checksum against what was written. From a pipe or a
file, a recv that fails or is cancelled flushes what it wrote and prints the
command that sends the rest (send --offset N | recv --seek N).

  --fsync           flush FILE (data and metadata) before exiting
  --fdatasync       flush FILE's data before exiting
  --seek SIZE       write the image at this offset of FILE, keeping what is
                    before it (and after it, when FILE is longer)
  --verify          then read the image back from the disk and check it against
                    what was written (exit 1 naming the 16 MiB window that differs)
  --duplex          answer on stdout (OK or ERROR, and a resuming sender's block
                    digests): for send --to; --json then goes to stderr
  -O, --dst-format FMT  FILE is an image in FMT, written through qemu-nbd
${NBD_WAIT}

${OUTPUT}`,
  map: `Usage: blockcopy map FILE [-f FMT] [--json]

Lists the data extents and holes of FILE (a file, block device, NBD URI, or
with -f an image in that format), with
totals, like filefrag or bmaptool. --json prints one object:
{ file, extents: [{ offset, length, type }], size, dataBytes, holeBytes, dataExtents }.

${NBD_WAIT}`,
  checksum: `Usage: blockcopy checksum TARGET... [options]

Prints one line per TARGET, \`DIGEST  TARGET\`, as sha256sum does. The digest
(sha256-blocks-64k, docs/checksum.md) depends only on the bytes TARGET reads
as: a sparse file, a fully written copy, the same image on a block device,
over NBD or as qcow2 (-f) all give one digest. Holes are counted, not read.
A TARGET that fails is reported on stderr; the others are still hashed (exit 1).

  --offset SIZE     start here
  --length SIZE     hash this many bytes (default: to the end)
  -f, --src-format FMT  TARGET is an image in FMT, read through qemu-nbd
${NBD_WAIT}

${OUTPUT.replace('then the result (or error)', 'then the result (or error), each with its target')}`,
} as const;
