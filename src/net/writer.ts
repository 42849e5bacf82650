import { closeSync, openSync, writeSync } from 'node:fs';
import { PcapEncoder } from './pcap.js';
import { PcapngEncoder } from './pcapng.js';
import type { CaptureFormat, CaptureInfo, CapturedPacket } from './types.js';

export interface CaptureWriterOptions {
  format: CaptureFormat;
  /** LINKTYPE_ value. */
  linkType: number;
  snaplen?: number;
  /** Nanosecond timestamps (pcap magic 0xa1b23c4d; pcapng if_tsresol 9). */
  nanosecond?: boolean;
  littleEndian?: boolean;
}

type WritablePacket = Pick<CapturedPacket, 'data' | 'wireLength' | 'seconds' | 'nanos'>;

/** Options that write packets back the way `info` describes the file they came from. */
export function writerOptionsLike(info: CaptureInfo): CaptureWriterOptions {
  const units = info.interfaces[0]?.unitsPerSecond ?? 1e6;
  return { format: info.format, linkType: info.linkType, snaplen: info.snaplen, nanosecond: units > 1e6, littleEndian: info.littleEndian };
}

/**
 * Writes a capture as packets arrive, to a sink (a file descriptor-backed writer from `toFile`, or
 * any function taking byte chunks). The file header goes out with the first call.
 */
export class CaptureWriter {
  private readonly pcap?: PcapEncoder;
  private readonly pcapng?: PcapngEncoder;
  private headerWritten = false;
  count = 0;

  constructor(private readonly options: CaptureWriterOptions, private readonly sink: (chunk: Uint8Array) => void) {
    if (options.format === 'pcap') this.pcap = new PcapEncoder(options);
    else this.pcapng = new PcapngEncoder(options.littleEndian ?? true);
  }

  static toFile(path: string, options: CaptureWriterOptions): CaptureWriter & { close: () => void } {
    const fd = openSync(path, 'w');
    const writer = new CaptureWriter(options, (chunk) => { writeSync(fd, chunk); }) as CaptureWriter & { close: () => void };
    writer.close = (): void => { writer.writeHeader(); closeSync(fd); };
    return writer;
  }

  writeHeader(): void {
    if (this.headerWritten) return;
    this.headerWritten = true;
    if (this.pcap) { this.sink(this.pcap.header()); return; }
    this.sink(this.pcapng!.sectionHeader());
    this.sink(this.pcapng!.interface({ linkType: this.options.linkType, snaplen: this.options.snaplen, tsresolDecimal: this.options.nanosecond ? 9 : 6 }));
  }

  write(packet: WritablePacket): void {
    this.writeHeader();
    this.sink(this.pcap ? this.pcap.record(packet) : this.pcapng!.packet(packet, 0));
    this.count++;
  }
}

/** Encodes a whole capture in memory. */
export function writeCapture(options: CaptureWriterOptions, packets: Iterable<WritablePacket>): Uint8Array {
  const chunks: Uint8Array[] = [];
  const writer = new CaptureWriter(options, (c) => chunks.push(c));
  writer.writeHeader();
  for (const p of packets) writer.write(p);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
