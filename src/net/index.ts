export * from './types.js';
export { CaptureError } from './errors.js';
export {
  CaptureReader, openCapture, captureFromBytes, readCapture, CaptureScanner, openScanner, scannerFromBytes, scanCapture,
  type CaptureContents, type CaptureReadOptions,
} from './capture.js';
export { PcapEncoder, type PcapWriteOptions } from './pcap.js';
export { PcapngEncoder, splitTimestamp, joinTimestamp, type PcapngInterfaceOptions } from './pcapng.js';
export { CaptureWriter, writeCapture, writerOptionsLike, type CaptureWriterOptions } from './writer.js';
export * from './linktype.js';
export * from './address.js';
export * from './build.js';
export { summarizePacket, formatTime } from './summary.js';
