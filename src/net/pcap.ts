import { readU32, readU16, writeU16, writeU32 } from './bytes.js';
import { CaptureError } from './errors.js';
import { maxSnaplenForLinkType } from './linktype.js';
import type { ByteSource } from './source.js';
import type { CaptureInfo, CapturedPacket } from './types.js';

/** Classic libpcap savefiles: 24-byte file header, then 16-byte record headers (24 for Kuznetzov's). */
export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
/** Alexey Kuznetzov's patched tcpdump: records carry ifindex, protocol and packet type (8 more bytes). */
export const PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;

const FILE_HEADER_LENGTH = 24;
const LINKTYPE_MASK = 0x03ffffff;

/** Old writers swapped caplen and len; libpcap undoes it by version, as we do. */
type LengthsSwapped = 'no' | 'yes' | 'maybe';

export interface PcapReading {
  info: CaptureInfo;
  packets: () => Generator<CapturedPacket, void, undefined>;
}

/** Whether these leading bytes are a pcap file header, and its byte order. */
export function pcapByteOrder(head: Uint8Array): { littleEndian: boolean; magic: number } | undefined {
  if (head.length < 4) return undefined;
  for (const littleEndian of [true, false]) {
    const magic = readU32(head, 0, littleEndian);
    if (magic === PCAP_MAGIC_MICRO || magic === PCAP_MAGIC_NANO || magic === PCAP_MAGIC_KUZNETZOV) return { littleEndian, magic };
  }
  return undefined;
}

export function openPcap(source: ByteSource, file?: string): PcapReading {
  const head = source.read(0, FILE_HEADER_LENGTH);
  const order = pcapByteOrder(head);
  if (!order) throw new CaptureError('net/bad-magic', 'not a pcap file', { file, offset: 0 });
  if (head.length < FILE_HEADER_LENGTH) {
    throw new CaptureError('net/truncated', `truncated pcap file header: ${head.length} of ${FILE_HEADER_LENGTH} bytes`, { file, offset: 0 });
  }
  const le = order.littleEndian;
  const versionMajor = readU16(head, 4, le);
  const versionMinor = readU16(head, 6, le);
  if (versionMajor < 2) throw new CaptureError('net/bad-header', `archaic pcap savefile format ${versionMajor}.${versionMinor}`, { file, offset: 4 });
  const rawSnaplen = readU32(head, 16, le);
  const linkType = readU32(head, 20, le) & LINKTYPE_MASK;
  const maxSnaplen = maxSnaplenForLinkType(linkType);
  const snaplen = rawSnaplen === 0 || rawSnaplen > maxSnaplen ? maxSnaplen : rawSnaplen;
  const unitsPerSecond = order.magic === PCAP_MAGIC_NANO ? 1e9 : 1e6;
  const recordHeaderLength = order.magic === PCAP_MAGIC_KUZNETZOV ? 24 : 16;
  const swapped: LengthsSwapped = versionMajor === 2 && versionMinor < 3 ? 'yes' : versionMajor === 2 && versionMinor === 3 ? 'maybe' : 'no';
  const info: CaptureInfo = {
    format: 'pcap', littleEndian: le, versionMajor, versionMinor, linkType, snaplen,
    interfaces: [{ linkType, snaplen, unitsPerSecond, tsOffset: 0 }],
  };
  const nanosPerUnit = unitsPerSecond === 1e9 ? 1 : 1000;

  function* packets(): Generator<CapturedPacket, void, undefined> {
    let position = FILE_HEADER_LENGTH;
    for (let index = 0; ; index++) {
      let at = source.locate(position, recordHeaderLength);
      if (at < 0) {
        const rest = source.read(position, recordHeaderLength).length;
        if (rest === 0) return;
        throw new CaptureError('net/truncated', `truncated dump file; tried to read ${recordHeaderLength} header bytes, only got ${rest}`, { file, packet: index, offset: position });
      }
      const header = source.current;
      const seconds = readU32(header, at, le);
      const fraction = readU32(header, at + 4, le);
      let caplen = readU32(header, at + 8, le);
      let wireLength = readU32(header, at + 12, le);
      if (swapped === 'yes' || (swapped === 'maybe' && caplen > wireLength)) [caplen, wireLength] = [wireLength, caplen];
      position += recordHeaderLength;
      if (caplen > maxSnaplen) {
        const limit = caplen > snaplen ? `snaplen of ${snaplen}` : `maximum of ${maxSnaplen}`;
        throw new CaptureError('net/bad-packet', `invalid packet capture length ${caplen}, bigger than ${limit}`, { file, packet: index, offset: position - recordHeaderLength });
      }
      at = source.locate(position, caplen);
      if (at < 0) {
        const got = source.read(position, caplen).length;
        throw new CaptureError('net/truncated', `truncated dump file; tried to read ${caplen} captured bytes, only got ${got}`, { file, packet: index, offset: position });
      }
      position += caplen;
      // Longer than the snaplen but plausible: keep the first snaplen bytes, as libpcap does.
      const data = source.current.subarray(at, at + Math.min(caplen, snaplen));
      yield { index, data, wireLength, seconds, nanos: fraction * nanosPerUnit, interfaceId: 0, linkType };
    }
  }
  return { info, packets };
}

export interface PcapWriteOptions {
  linkType: number;
  snaplen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds. */
  nanosecond?: boolean;
  littleEndian?: boolean;
}

/** Encodes a pcap file piece by piece: `header()` once, then `record()` per packet. */
export class PcapEncoder {
  private readonly le: boolean;
  constructor(private readonly options: PcapWriteOptions) {
    this.le = options.littleEndian ?? true;
  }

  header(): Uint8Array {
    const b = new Uint8Array(FILE_HEADER_LENGTH);
    writeU32(b, 0, this.options.nanosecond ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, this.le);
    writeU16(b, 4, 2, this.le);
    writeU16(b, 6, 4, this.le);
    writeU32(b, 16, this.options.snaplen ?? 262144, this.le);
    writeU32(b, 20, this.options.linkType, this.le);
    return b;
  }

  record(packet: Pick<CapturedPacket, 'data' | 'wireLength' | 'seconds' | 'nanos'>): Uint8Array {
    const b = new Uint8Array(16 + packet.data.length);
    writeU32(b, 0, packet.seconds >>> 0, this.le);
    writeU32(b, 4, this.options.nanosecond ? packet.nanos >>> 0 : Math.floor(packet.nanos / 1000) >>> 0, this.le);
    writeU32(b, 8, packet.data.length, this.le);
    writeU32(b, 12, packet.wireLength, this.le);
    b.set(packet.data, 16);
    return b;
  }
}
