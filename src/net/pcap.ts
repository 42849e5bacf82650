import { readU32, readU16, writeU16, writeU32 } from './bytes.js';
import { CaptureError } from './errors.js';
import { maxSnaplenForLinkType } from './linktype.js';
import type { ByteSource } from './source.js';
import type { CaptureInfo, CapturedPacket, RecordVisitor, ScanOutcome } from './types.js';

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

/** What reading a pcap file's records needs from its file header. */
export interface PcapLayout {
  info: CaptureInfo;
  littleEndian: boolean;
  /** 16, or 24 for Kuznetzov's records. */
  recordHeaderLength: number;
  swapped: LengthsSwapped;
  /** The link type's largest plausible caplen: beyond it a record is damage. */
  maxSnaplen: number;
  /** Records longer than this (but plausible) are cut to it, as libpcap does. */
  snaplen: number;
  nanosPerUnit: number;
}

/** Checks and decodes the 24-byte file header (`head` holds its first bytes, up to 24). */
export function pcapLayout(head: Uint8Array, file?: string): PcapLayout {
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
  return { info, littleEndian: le, recordHeaderLength, swapped, maxSnaplen, snaplen, nanosPerUnit: unitsPerSecond === 1e9 ? 1 : 1000 };
}

/** The damage found where a record should be; the same error whichever reader meets it. */
function truncatedHeader(layout: PcapLayout, rest: number, file: string | undefined, index: number, position: number): CaptureError {
  const wanted = layout.recordHeaderLength;
  return new CaptureError('net/truncated', `truncated dump file; tried to read ${wanted} header bytes, only got ${rest}`, { file, packet: index, offset: position });
}

function implausibleLength(layout: PcapLayout, caplen: number, file: string | undefined, index: number, headerAt: number): CaptureError {
  const limit = caplen > layout.snaplen ? `snaplen of ${layout.snaplen}` : `maximum of ${layout.maxSnaplen}`;
  return new CaptureError('net/bad-packet', `invalid packet capture length ${caplen}, bigger than ${limit}`, { file, packet: index, offset: headerAt });
}

function truncatedData(caplen: number, got: number, file: string | undefined, index: number, position: number): CaptureError {
  return new CaptureError('net/truncated', `truncated dump file; tried to read ${caplen} captured bytes, only got ${got}`, { file, packet: index, offset: position });
}

export function openPcap(source: ByteSource, file?: string): PcapReading {
  const layout = pcapLayout(source.read(0, FILE_HEADER_LENGTH), file);
  const { info, littleEndian: le, recordHeaderLength, swapped, maxSnaplen, snaplen, nanosPerUnit } = layout;
  const linkType = info.linkType;

  function* packets(): Generator<CapturedPacket, void, undefined> {
    let position = FILE_HEADER_LENGTH;
    for (let index = 0; ; index++) {
      let at = source.locate(position, recordHeaderLength);
      if (at < 0) {
        const rest = source.read(position, recordHeaderLength).length;
        if (rest === 0) return;
        throw truncatedHeader(layout, rest, file, index, position);
      }
      const header = source.current;
      const seconds = readU32(header, at, le);
      const fraction = readU32(header, at + 4, le);
      let caplen = readU32(header, at + 8, le);
      let wireLength = readU32(header, at + 12, le);
      if (swapped === 'yes' || (swapped === 'maybe' && caplen > wireLength)) [caplen, wireLength] = [wireLength, caplen];
      position += recordHeaderLength;
      if (caplen > maxSnaplen) throw implausibleLength(layout, caplen, file, index, position - recordHeaderLength);
      at = source.locate(position, caplen);
      if (at < 0) throw truncatedData(caplen, source.read(position, caplen).length, file, index, position);
      position += caplen;
      // Longer than the snaplen but plausible: keep the first snaplen bytes, as libpcap does.
      const data = source.current.subarray(at, at + Math.min(caplen, snaplen));
      yield { index, data, wireLength, seconds, nanos: fraction * nanosPerUnit, interfaceId: 0, linkType };
    }
  }
  return { info, packets };
}

/**
 * The fast path: calls `visit` once per record with the window holding it and the packet's place
 * there, allocating nothing per packet. Stops at the first damaged record and returns its error
 * (the same one the generator throws), after every packet before it was visited.
 */
export function scanPcap(source: ByteSource, layout: PcapLayout, visit: RecordVisitor, file?: string): ScanOutcome {
  const { littleEndian: le, recordHeaderLength, swapped, maxSnaplen, snaplen, nanosPerUnit } = layout;
  // Records are read straight from the window while they lie wholly inside it; `locate` only moves it.
  let window = source.current;
  let base = source.currentStart;
  let limit = source.currentEnd - base;
  let at = FILE_HEADER_LENGTH - base;
  for (let index = 0; ; index++) {
    if (at < 0 || at + recordHeaderLength > limit) {
      const position = base + at;
      const located = source.locate(position, recordHeaderLength);
      if (located < 0) {
        const rest = source.read(position, recordHeaderLength).length;
        return rest === 0 ? { count: index } : { count: index, error: truncatedHeader(layout, rest, file, index, position) };
      }
      window = source.current; base = source.currentStart; limit = source.currentEnd - base; at = located;
    }
    const seconds = readU32(window, at, le);
    const fraction = readU32(window, at + 4, le);
    let caplen = readU32(window, at + 8, le);
    let wireLength = readU32(window, at + 12, le);
    if (swapped !== 'no' && (swapped === 'yes' || caplen > wireLength)) { const t = caplen; caplen = wireLength; wireLength = t; }
    if (caplen > maxSnaplen) return { count: index, error: implausibleLength(layout, caplen, file, index, base + at) };
    let data = at + recordHeaderLength;
    if (data + caplen > limit) {
      const position = base + data;
      const located = source.locate(position, caplen);
      if (located < 0) return { count: index, error: truncatedData(caplen, source.read(position, caplen).length, file, index, position) };
      window = source.current; base = source.currentStart; limit = source.currentEnd - base; data = located;
    }
    visit(window, data, caplen < snaplen ? caplen : snaplen, wireLength, seconds, fraction * nanosPerUnit, index, 0);
    at = data + caplen;
  }
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
