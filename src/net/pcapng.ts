import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { CaptureError } from './errors.js';
import { maxSnaplenForLinkType } from './linktype.js';
import type { ByteSource } from './source.js';
import type { CaptureInfo, CaptureInterface, CapturedPacket } from './types.js';

/** pcapng (draft-ietf-opsawg-pcapng): blocks of type, total length, body, total length again. */
export const BlockType = {
  SHB: 0x0a0d0d0a, IDB: 1, PB_OBSOLETE: 2, SPB: 3, NRB: 4, ISB: 5, EPB: 6,
} as const;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
/** libpcap refuses blocks bigger than this (16 MiB) before it knows better. */
const MAX_BLOCK_LENGTH = 16 * 1024 * 1024;

export interface PcapngReading {
  info: CaptureInfo;
  packets: () => Generator<CapturedPacket, void, undefined>;
}

export function isPcapng(head: Uint8Array): boolean {
  return head.length >= 4 && readU32(head, 0, true) === BlockType.SHB;
}

interface Block { type: number; body: Uint8Array; offset: number }

/**
 * Splits a 64-bit timestamp (high, low words) in `unitsPerSecond` ticks into seconds and
 * nanoseconds by long division on 16-bit digits, exact for resolutions up to 2^37 ticks/s.
 */
export function splitTimestamp(high: number, low: number, unitsPerSecond: number): { seconds: number; nanos: number } {
  if (unitsPerSecond > 2 ** 37) {
    const ticks = (BigInt(high) << 32n) | BigInt(low);
    const units = BigInt(unitsPerSecond);
    return { seconds: Number(ticks / units), nanos: Number(((ticks % units) * 1_000_000_000n) / units) };
  }
  const digits = [high >>> 16, high & 0xffff, low >>> 16, low & 0xffff];
  let quotient = 0;
  let remainder = 0;
  for (const digit of digits) {
    const current = remainder * 65536 + digit;
    const q = Math.floor(current / unitsPerSecond);
    remainder = current - q * unitsPerSecond;
    quotient = quotient * 65536 + q;
  }
  const nanos = 1e9 % unitsPerSecond === 0 ? remainder * (1e9 / unitsPerSecond) : Math.floor((remainder * 1e9) / unitsPerSecond);
  return { seconds: quotient, nanos };
}

/**
 * The inverse of splitTimestamp: seconds and nanoseconds to a 64-bit tick count (high and low
 * words), exact without BigInt for any seconds below 2^40 and resolutions up to 2^30 ticks/s.
 */
export function joinTimestamp(seconds: number, nanos: number, unitsPerSecond: number): { high: number; low: number } {
  const sub = Math.floor((nanos * unitsPerSecond) / 1e9);
  if (seconds >= 2 ** 40 || unitsPerSecond > 2 ** 30) {
    const ticks = BigInt(seconds) * BigInt(unitsPerSecond) + BigInt(sub);
    return { high: Number((ticks >> 32n) & 0xffffffffn), low: Number(ticks & 0xffffffffn) };
  }
  // ticks = secondsHigh * units * 2^21 + (secondsLow * units + sub), every product below 2^53
  const secondsHigh = Math.floor(seconds / 2 ** 21);
  const near = (seconds - secondsHigh * 2 ** 21) * unitsPerSecond + sub;
  const far = secondsHigh * unitsPerSecond;
  const farHigh = Math.floor(far / 2 ** 11); // far * 2^21 = farHigh * 2^32 + farLow * 2^21
  const farLow = far - farHigh * 2 ** 11;
  const nearHigh = Math.floor(near / 2 ** 32);
  const lowSum = near - nearHigh * 2 ** 32 + farLow * 2 ** 21;
  const carry = Math.floor(lowSum / 2 ** 32);
  return { high: (nearHigh + farHigh + carry) >>> 0, low: lowSum - carry * 2 ** 32 };
}

/** if_tsresol: high bit set means a power of two, else a power of ten. */
function unitsFromTsresol(value: number): number {
  return value & 0x80 ? 2 ** (value & 0x7f) : 10 ** (value & 0x7f);
}

export interface PcapngReadOptions {
  /**
   * Refuse what libpcap 1.10 refuses although the format allows it (default true): a later section
   * in the other byte order, interfaces whose link type or snaplen differ from the first one's.
   */
  libpcapLimits?: boolean;
}

export function openPcapng(source: ByteSource, file?: string, options: PcapngReadOptions = {}): PcapngReading {
  const strict = options.libpcapLimits ?? true;
  let position = 0;
  let le = true;
  let packetIndex = 0;
  const fail = (code: string, message: string, offset: number): never => {
    throw new CaptureError(code, message, { file, packet: packetIndex, offset });
  };

  /** Reads the block at `position`; undefined at a clean end of file. */
  function nextBlock(): Block | undefined {
    const offset = position;
    const head = source.read(offset, 12);
    if (head.length === 0) return undefined;
    if (head.length < 8) fail('net/truncated', `truncated pcapng dump file; tried to read 8 bytes, only got ${head.length}`, offset);
    const type = readU32(head, 0, le);
    if (type === BlockType.SHB) {
      // A new section may change the byte order; its magic tells.
      if (head.length < 12) fail('net/truncated', 'truncated pcapng section header', offset);
      const magicLe = readU32(head, 8, true);
      const sectionLe = magicLe === BYTE_ORDER_MAGIC ? true : readU32(head, 8, false) === BYTE_ORDER_MAGIC ? false : undefined;
      if (sectionLe === undefined) fail('net/bad-magic', `pcapng section header has an unknown byte-order magic 0x${magicLe.toString(16)}`, offset + 8);
      le = sectionLe!;
    }
    const total = readU32(head, 4, le);
    if (total < 12) fail('net/bad-block', `block in pcapng dump file has a length of ${total} < 12`, offset);
    if (total % 4 !== 0) fail('net/bad-block', `block in pcapng dump file has a length of ${total} that is not a multiple of 4`, offset);
    if (total > MAX_BLOCK_LENGTH) fail('net/bad-block', `pcapng block size ${total} > maximum ${MAX_BLOCK_LENGTH}`, offset);
    const whole = source.read(offset, total);
    if (whole.length < total) fail('net/truncated', `truncated pcapng dump file; tried to read ${total} bytes, only got ${whole.length}`, offset);
    if (readU32(whole, total - 4, le) !== total) fail('net/bad-block', 'block total length in header and trailer don\'t match', offset);
    position = offset + total;
    return { type, body: whole.subarray(8, total - 4), offset };
  }

  function parseSectionHeader(block: Block): { major: number; minor: number } {
    if (block.body.length < 16) fail('net/bad-block', 'section header block is too short', block.offset);
    const major = readU16(block.body, 4, le);
    const minor = readU16(block.body, 6, le);
    if (major !== 1 || (minor !== 0 && minor !== 2)) fail('net/bad-header', `unknown pcapng savefile version ${major}.${minor}`, block.offset);
    return { major, minor };
  }

  function parseInterface(block: Block): CaptureInterface {
    const body = block.body;
    if (body.length < 8) fail('net/bad-block', 'interface description block is too short', block.offset);
    const linkType = readU16(body, 0, le);
    const rawSnaplen = readU32(body, 4, le);
    const maxSnaplen = maxSnaplenForLinkType(linkType);
    const snaplen = rawSnaplen === 0 || rawSnaplen > maxSnaplen ? maxSnaplen : rawSnaplen;
    const iface: CaptureInterface = { linkType, snaplen, unitsPerSecond: 1e6, tsOffset: 0 };
    for (let at = 8; at + 4 <= body.length;) {
      const code = readU16(body, at, le);
      const length = readU16(body, at + 2, le);
      if (code === OPT_ENDOFOPT) break;
      const value = body.subarray(at + 4, at + 4 + length);
      if (value.length < length) fail('net/bad-block', 'interface description block option runs past the block', block.offset);
      if (code === IF_TSRESOL && length >= 1) iface.unitsPerSecond = unitsFromTsresol(value[0]!);
      else if (code === IF_TSOFFSET && length >= 8) iface.tsOffset = readU32(value, le ? 0 : 4, le) + readU32(value, le ? 4 : 0, le) * 2 ** 32;
      else if (code === IF_NAME) iface.name = new TextDecoder().decode(value).replace(/\0+$/, '');
      at += 4 + ((length + 3) & ~3);
    }
    return iface;
  }

  const first = nextBlock();
  if (!first || first.type !== BlockType.SHB) throw new CaptureError('net/bad-magic', 'not a pcapng file', { file, offset: 0 });
  const version = parseSectionHeader(first);
  const sectionLittleEndian = le;
  let interfaces: CaptureInterface[] = [];
  // libpcap reads up to the first interface description before it reports the file open.
  for (;;) {
    const block = nextBlock();
    if (!block) throw new CaptureError('net/no-interface', 'the capture file has no Interface Description Blocks', { file, offset: position });
    if (block.type === BlockType.IDB) { interfaces.push(parseInterface(block)); break; }
    if (block.type === BlockType.EPB || block.type === BlockType.SPB || block.type === BlockType.PB_OBSOLETE) {
      throw new CaptureError('net/no-interface', 'the capture file has a packet block before any Interface Description Blocks', { file, offset: block.offset });
    }
    if (block.type === BlockType.SHB) parseSectionHeader(block);
  }
  const firstInterface = interfaces[0]!;
  const info: CaptureInfo = {
    format: 'pcapng', littleEndian: sectionLittleEndian, versionMajor: version.major, versionMinor: version.minor,
    linkType: firstInterface.linkType, snaplen: firstInterface.snaplen, interfaces,
  };

  function* packets(): Generator<CapturedPacket, void, undefined> {
    for (;;) {
      const block = nextBlock();
      if (!block) return;
      const body = block.body;
      switch (block.type) {
        case BlockType.SHB:
          parseSectionHeader(block);
          if (strict && le !== sectionLittleEndian) fail('net/bad-header', 'the file has sections with different byte orders', block.offset);
          interfaces = [];
          info.interfaces = interfaces;
          break;
        case BlockType.IDB: {
          const iface = parseInterface(block);
          if (strict && iface.linkType !== firstInterface.linkType) {
            fail('net/unsupported', `an interface has a type ${iface.linkType} different from the type of the first interface`, block.offset);
          }
          if (strict && iface.snaplen !== firstInterface.snaplen) {
            fail('net/unsupported', `an interface has a snapshot length ${iface.snaplen} different from the snapshot length of the first interface`, block.offset);
          }
          interfaces.push(iface);
          break;
        }
        case BlockType.EPB:
        case BlockType.PB_OBSOLETE: {
          if (body.length < 20) fail('net/bad-block', `block of type ${block.type} in pcapng dump file is too short`, block.offset);
          const interfaceId = block.type === BlockType.EPB ? readU32(body, 0, le) : readU16(body, 0, le);
          const caplen = readU32(body, 12, le);
          const wireLength = readU32(body, 16, le);
          if (caplen > body.length - 20) fail('net/bad-block', `block of type ${block.type} in pcapng dump file is too short`, block.offset);
          const iface = interfaces[interfaceId];
          if (!iface) fail('net/no-interface', `a packet arrived on interface ${interfaceId}, but there's no Interface Description Block for that interface`, block.offset);
          const { seconds, nanos } = splitTimestamp(readU32(body, 4, le), readU32(body, 8, le), iface!.unitsPerSecond);
          yield {
            index: packetIndex++, data: body.subarray(20, 20 + Math.min(caplen, iface!.snaplen)), wireLength,
            seconds: seconds + iface!.tsOffset, nanos, interfaceId, linkType: iface!.linkType,
          };
          break;
        }
        case BlockType.SPB: {
          if (body.length < 4) fail('net/bad-block', 'simple packet block is too short', block.offset);
          const iface = interfaces[0];
          if (!iface) fail('net/no-interface', 'a packet arrived on interface 0, but there\'s no Interface Description Block for that interface', block.offset);
          const wireLength = readU32(body, 0, le);
          const caplen = Math.min(wireLength, iface!.snaplen);
          if (caplen > body.length - 4) fail('net/bad-block', 'simple packet block is too short', block.offset);
          yield { index: packetIndex++, data: body.subarray(4, 4 + caplen), wireLength, seconds: 0, nanos: 0, interfaceId: 0, linkType: iface!.linkType };
          break;
        }
        default:
          break; // name resolution, statistics, custom and unknown blocks carry no packets
      }
    }
  }
  return { info, packets };
}

export interface PcapngInterfaceOptions {
  linkType: number;
  snaplen?: number;
  /** Timestamp resolution as a power of ten (6: microseconds, the default; 9: nanoseconds). */
  tsresolDecimal?: number;
  name?: string;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function block(type: number, bodyLength: number, littleEndian: boolean, fill: (b: Uint8Array) => void): Uint8Array {
  const total = 12 + pad4(bodyLength);
  const b = new Uint8Array(total);
  writeU32(b, 0, type, littleEndian);
  writeU32(b, 4, total, littleEndian);
  fill(b.subarray(8, 8 + bodyLength));
  writeU32(b, total - 4, total, littleEndian);
  return b;
}

/** Encodes pcapng blocks: a section header, interfaces, enhanced packet blocks. */
export class PcapngEncoder {
  private readonly units: number[] = [];
  constructor(private readonly littleEndian = true) {}

  sectionHeader(): Uint8Array {
    return block(BlockType.SHB, 16, this.littleEndian, (b) => {
      writeU32(b, 0, BYTE_ORDER_MAGIC, this.littleEndian);
      writeU16(b, 4, 1, this.littleEndian);
      writeU16(b, 6, 0, this.littleEndian);
      writeU32(b, 8, 0xffffffff, this.littleEndian); // section length unknown
      writeU32(b, 12, 0xffffffff, this.littleEndian);
    });
  }

  interface(options: PcapngInterfaceOptions): Uint8Array {
    const le = this.littleEndian;
    const tsresol = options.tsresolDecimal ?? 6;
    this.units.push(10 ** tsresol);
    const name = options.name !== undefined ? new TextEncoder().encode(options.name) : undefined;
    const optionsLength = (tsresol !== 6 ? 8 : 0) + (name ? 4 + pad4(name.length) : 0);
    const bodyLength = 8 + (optionsLength ? optionsLength + 4 : 0);
    return block(BlockType.IDB, bodyLength, le, (b) => {
      writeU16(b, 0, options.linkType, le);
      writeU32(b, 4, options.snaplen ?? 262144, le);
      let at = 8;
      if (tsresol !== 6) { writeU16(b, at, IF_TSRESOL, le); writeU16(b, at + 2, 1, le); b[at + 4] = tsresol; at += 8; }
      if (name) { writeU16(b, at, IF_NAME, le); writeU16(b, at + 2, name.length, le); b.set(name, at + 4); at += 4 + pad4(name.length); }
      // the end-of-options marker is the zeroes already there
    });
  }

  packet(packet: Pick<CapturedPacket, 'data' | 'wireLength' | 'seconds' | 'nanos'>, interfaceId = 0): Uint8Array {
    const le = this.littleEndian;
    const units = this.units[interfaceId] ?? 1e6;
    const { high, low } = joinTimestamp(packet.seconds, packet.nanos, units);
    return block(BlockType.EPB, 20 + packet.data.length, le, (b) => {
      writeU32(b, 0, interfaceId, le);
      writeU32(b, 4, high >>> 0, le);
      writeU32(b, 8, low >>> 0, le);
      writeU32(b, 12, packet.data.length, le);
      writeU32(b, 16, packet.wireLength, le);
      b.set(packet.data, 20);
    });
  }
}
