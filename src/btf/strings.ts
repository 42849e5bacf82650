/** A BTF string section: NUL-terminated names addressed by byte offset. */
import { BtfError } from './errors.js';

const utf8 = new TextDecoder('utf-8');

export class StringTable {
  /** The whole section decoded once when it is pure ASCII (byte offset = character index). */
  private readonly ascii: string | undefined;
  private readonly cache = new Map<number, string>();

  constructor(readonly bytes: Uint8Array) {
    let isAscii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]! >= 0x80) {
        isAscii = false;
        break;
      }
    }
    this.ascii = isAscii ? utf8.decode(bytes) : undefined;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** The string at `offset`, or undefined when the offset is outside the table or unterminated. */
  tryAt(offset: number): string | undefined {
    if (offset < 0 || offset >= this.bytes.length) return undefined;
    if (this.ascii !== undefined) {
      const end = this.ascii.indexOf('\0', offset);
      return end < 0 ? undefined : this.ascii.slice(offset, end);
    }
    const hit = this.cache.get(offset);
    if (hit !== undefined) return hit;
    const end = this.bytes.indexOf(0, offset);
    if (end < 0) return undefined;
    const s = utf8.decode(this.bytes.subarray(offset, end));
    this.cache.set(offset, s);
    return s;
  }

  at(offset: number, typeId?: number): string {
    const s = this.tryAt(offset);
    if (s === undefined) {
      throw new BtfError('btf/bad-string', `string offset ${offset} is outside the string section (${this.length} bytes)`, {
        typeId,
      });
    }
    return s;
  }
}
