// Streaming sparse images (docs/stream-format.md): extent streams, the wire
// format, and transfers over pipes and sockets.
export { createExtentReadStream, createExtentWriteStream, ExtentReadStream, ExtentWriteStream } from './stream/extent_streams';
export type { ExtentItem, ExtentReadStreamOptions, ExtentWriteStreamOptions, ImageBoundary, ImageInfo } from './stream/extent_streams';
export { decode, encode } from './stream/codec';
export type { EncodeOptions } from './stream/codec';
export { Connection, IncomingTransfer, receive, send } from './stream/connection';
export type { ConnectionEvents, ConnectionOptions, ReceiveOptions, SendOptions } from './stream/connection';
export { StreamFormatError } from './stream/format';
export { RemoteError } from './stream/remote_error';
export { ChecksumMismatchError } from './stream/tally';
export { TransferJob } from './stream/transfer_job';
export { TransferLimit } from './stream/transfer_limit';
export type { TransferResult } from './stream/transfer_job';
