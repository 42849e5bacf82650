/** Endian-aware integer reads and writes on plain byte arrays (no DataView per packet). */

export function readU16(b: Uint8Array, at: number, littleEndian: boolean): number {
  return littleEndian ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!;
}

export function readU32(b: Uint8Array, at: number, littleEndian: boolean): number {
  return littleEndian
    ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function writeU16(b: Uint8Array, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) { b[at] = value & 0xff; b[at + 1] = (value >>> 8) & 0xff; }
  else { b[at] = (value >>> 8) & 0xff; b[at + 1] = value & 0xff; }
}

export function writeU32(b: Uint8Array, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) {
    b[at] = value & 0xff; b[at + 1] = (value >>> 8) & 0xff; b[at + 2] = (value >>> 16) & 0xff; b[at + 3] = (value >>> 24) & 0xff;
  } else {
    b[at] = (value >>> 24) & 0xff; b[at + 1] = (value >>> 16) & 0xff; b[at + 2] = (value >>> 8) & 0xff; b[at + 3] = value & 0xff;
  }
}
