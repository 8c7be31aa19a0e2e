// send() and receive(): one image over one stream, the case most callers
// want; a Connection underneath.
import { Duplex, type Readable, Transform, type Writable } from 'node:stream';
import { invalidArgType } from '../errors';
import { checkReceiveArgs, checkSendArgs, checkStream, checkTarget } from '../options';
import type { Target } from '../types';
import { Connection, type ConnectionOptions, type SendOptions } from './connection';
import { connectionLost } from './errors';
import type { ReceiveOptions } from './incoming';
import { TransferJob } from './transfer_job';

/**
 * A stream that can carry answers back: a duplex whose other side is a peer
 * (a socket). A Transform (a PassThrough, a gzip) is a Duplex too, but what is
 * written to it comes back out of it: a one-way pipe, not a peer.
 */
function isDuplexWith(stream: unknown, side: 'readable' | 'writable'): boolean {
  return stream instanceof Duplex && !(stream instanceof Transform) && (stream as Duplex)[side] !== false;
}

/**
 * Sends one image into a stream. Over a duplex that can be read (a socket)
 * the job resolves on the receiver's OK and fails on its ERROR; into a plain
 * writable (a pipe, stdout) it resolves once the END frame is written. The
 * stream is ended afterwards unless `end: false`. `idleTimeout` bounds each
 * wait for the receiver's answers, as Connection's does. Bad arguments throw here.
 */
export function send(target: Target, stream: Writable, options: SendOptions & Pick<ConnectionOptions, 'idleTimeout'> & { end?: boolean; handshake?: boolean } = {}): TransferJob {
  checkTarget('target', target);
  checkStream('stream', stream, 'writable');
  const { end, handshake, idleTimeout, ...sendOptions } = checkOneStreamOptions(options);
  checkSendArgs(target, sendOptions);
  const input = (handshake ?? isDuplexWith(stream, 'readable')) ? (stream as unknown as Readable) : null;
  const connection = new Connection(input, stream, { ...(handshake === undefined ? {} : { handshake }), ...(idleTimeout === undefined ? {} : { idleTimeout }) });
  const job = connection.send(target, sendOptions);
  if (end ?? true) void job.done.catch(() => {}).then(() => connection.end()).catch(() => {});
  return job;
}

/**
 * Receives one image from a stream into `target`. Over a duplex that can be
 * written the sender gets OK or ERROR back. The stream carries one image:
 * a second one is refused, and bytes after its END fail the job while it is
 * still writing (`blockcopy recv` also waits briefly for the end of its input).
 * Bad arguments throw here, before anything is read.
 */
export function receive(stream: Readable, target: Target, options: ReceiveOptions & { handshake?: boolean } = {}): TransferJob {
  checkStream('stream', stream, 'readable');
  const { handshake, ...receiveOptions } = checkOneStreamOptions(options);
  const checked = checkReceiveArgs(target, receiveOptions);
  const output = (handshake ?? isDuplexWith(stream, 'writable')) ? (stream as unknown as Writable) : null;
  const connection = new Connection(stream, output, { maxTransfers: 1, handshake: output !== null });
  connection._oneImage();
  const job = new TransferJob(checked.progressInterval);
  let taken = false;
  connection.on('transfer', (offer) => {
    if (taken) return offer.reject({ code: 'ERR_BLOCKCOPY_NOT_ACCEPTED', message: 'receive() takes one image per stream' });
    taken = true;
    offer.accept(target, receiveOptions, job);
  });
  connection.on('error', (error) => job.status !== 'completed' && job.fail(error));
  connection.on('close', () => {
    if (!taken) job.fail(connectionLost('before any image began'));
  });
  job.once('completed', () => output && void connection.end());
  return job;
}

/** send()'s and receive()'s own options, checked; the rest is passed on. */
function checkOneStreamOptions<T extends { end?: boolean; handshake?: boolean }>(options: T): T {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  for (const key of ['end', 'handshake'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', options[key]);
  }
  return options;
}
