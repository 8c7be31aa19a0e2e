// encode() and decode(): one image's items to the wire format and back.
// For several images on one connection, see connection.ts.
import { Transform, type TransformCallback } from 'node:stream';
import { checkEncodeOptions } from '../options';
import type { ExtentItem, ImageBoundary } from './extent_streams';
import { encodeFrame, type Frame, frameItem, FrameParser, framePieces, itemFrame, preface, StreamFormatError } from './format';
import { RemoteError } from './errors';
import { ImageTally } from './tally';

export interface EncodeOptions {
  /** The image's size in bytes. */
  size: number;
  /** Bytes of data expected (for the receiver's progress); default 0, unknown. */
  dataBytes?: number;
  /** A name the receiver may use, e.g. the image's file name. */
  name?: string;
  /** The transfer id in each frame; default 1. */
  id?: number;
}

/** Objects ({ type: 'data' | 'hole' }) in, wire-format bytes out; END with the checksum on end(). */
export function encode(options: EncodeOptions): Transform {
  const { size, dataBytes, name, id } = checkEncodeOptions(options);
  const tally = new ImageTally(size);
  const pushFrame = (t: Transform, frame: Frame) => {
    for (const part of encodeFrame(frame)) t.push(part);
  };
  return new Transform({
    writableObjectMode: true,
    construct(callback) {
      this.push(preface());
      pushFrame(this, { type: 'begin', id, size, dataBytes, name });
      callback();
    },
    transform(item: ExtentItem | ImageBoundary, _encoding, callback: TransformCallback) {
      try {
        if (item.type === 'data' || item.type === 'hole') {
          for (const piece of framePieces(item)) {
            tally.add(piece);
            pushFrame(this, itemFrame(id, piece));
          }
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      if (tally.position !== size) {
        callback(new StreamFormatError(`the image ended at byte ${tally.position} of ${size}`));
        return;
      }
      pushFrame(this, { type: 'end', id, dataBytes: tally.dataBytes, checksum: tally.checksum() });
      callback();
    },
  });
}

/**
 * Wire-format bytes in, objects out: { type: 'begin', size, dataBytes, name },
 * then data and hole items, then { type: 'end' } once the checksum has been
 * verified. Malformed input, a checksum that does not match and an ERROR
 * frame from the sender all destroy the stream with an error before anything
 * wrong is passed on. Holds at most one frame in memory.
 */
export function decode(): Transform {
  const parser = new FrameParser();
  let transfer: { id: number; tally: ImageTally } | undefined;
  let finished = false;
  const toObject = (t: Transform, frame: Frame): void => {
    if (frame.type === 'error') throw new RemoteError(frame.code, frame.message);
    if (frame.type === 'ok' || frame.type === 'digests' || frame.type === 'same' || (frame.type === 'begin' && frame.resume)) {
      throw new StreamFormatError(`${frame.type === 'begin' ? 'a resuming BEGIN' : `a ${frame.type.toUpperCase()} frame`} in a one-way stream`);
    }
    if (finished) throw new StreamFormatError(`a ${frame.type.toUpperCase()} frame came after the image ended`);
    if (frame.type === 'begin') {
      if (transfer) throw new StreamFormatError('a second BEGIN in a single-image stream');
      transfer = { id: frame.id, tally: new ImageTally(frame.size) };
      t.push({ type: 'begin', size: frame.size, dataBytes: frame.dataBytes, name: frame.name });
      return;
    }
    if (!transfer) throw new StreamFormatError(`a ${frame.type.toUpperCase()} frame before BEGIN`);
    if (frame.id !== transfer.id) throw new StreamFormatError(`frame for transfer ${frame.id} in a stream of transfer ${transfer.id}`);
    switch (frame.type) {
      case 'data':
      case 'hole': {
        const item = frameItem(frame);
        transfer.tally.add(item);
        t.push(item);
        return;
      }
      case 'end':
        transfer.tally.verify(frame.dataBytes, frame.checksum);
        finished = true;
        t.push({ type: 'end', dataBytes: frame.dataBytes, checksum: frame.checksum });
        return;
    }
  };
  return new Transform({
    readableObjectMode: true,
    readableHighWaterMark: 16,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        const { frames, error } = parser.push(chunk);
        for (const frame of frames) toObject(this, frame);
        callback(error);
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      if (!finished) {
        callback(new StreamFormatError(transfer ? `the stream was cut off at byte ${transfer.tally.position} of the image` : 'the stream ended before any image began'));
        return;
      }
      if (parser.buffered > 0) {
        callback(new StreamFormatError(`${parser.buffered} stray bytes after the end`));
        return;
      }
      callback();
    },
  });
}
