// Streaming sparse images (docs/stream-format.md): extent streams, the wire
// format, and transfers over pipes and sockets.
export { createExtentReadStream, createExtentWriteStream, ExtentReadStream, ExtentWriteStream } from './extent_streams';
export type { ExtentItem, ExtentReadStreamOptions, ExtentWriteStreamOptions, ImageBoundary, ImageInfo } from './extent_streams';
export { decode, encode } from './codec';
export type { EncodeOptions } from './codec';
export { Connection } from './connection';
export type { ConnectionEvents, ConnectionOptions, SendOptions } from './connection';
export { IncomingTransfer } from './incoming';
export type { ReceiveOptions } from './incoming';
export { receive, send } from './one_image';
export { StreamFormatError } from './format';
export { RemoteError } from './errors';
export { ChecksumMismatchError } from './tally';
export { TransferJob } from './transfer_job';
export { TransferLimit } from './transfer_limit';
export type { TransferResult } from './transfer_job';
