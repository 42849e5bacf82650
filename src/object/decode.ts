import type { Btf, BtfType } from '../btf/index.js';

/**
 * Bytes to plain values through BTF, the way `bpftool map dump` shows BTF-described maps: integers
 * as numbers (bigint beyond 2^53), char arrays as strings, structs as objects, arrays as arrays,
 * enums by name when the value has one.
 */
export type Decoded = number | bigint | string | boolean | null | Decoded[] | { [field: string]: Decoded };

const MAX_DEPTH = 16;

export function decodeBtfValue(btf: Btf, typeId: number, bytes: Uint8Array, littleEndian = true): Decoded {
  return decode(btf, typeId, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, littleEndian, 0);
}

function readInt(view: DataView, offset: number, size: number, signed: boolean, le: boolean): number | bigint {
  if (offset + size > view.byteLength) return 0;
  switch (size) {
    case 1: return signed ? view.getInt8(offset) : view.getUint8(offset);
    case 2: return signed ? view.getInt16(offset, le) : view.getUint16(offset, le);
    case 4: return signed ? view.getInt32(offset, le) : view.getUint32(offset, le);
    case 8: {
      const v = signed ? view.getBigInt64(offset, le) : view.getBigUint64(offset, le);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    default: {
      let hex = '';
      for (let i = 0; i < size && offset + i < view.byteLength; i++) hex += view.getUint8(offset + i).toString(16).padStart(2, '0');
      return BigInt('0x' + (hex || '0'));
    }
  }
}

function decode(btf: Btf, id: number, view: DataView, offset: number, le: boolean, depth: number): Decoded {
  if (depth > MAX_DEPTH) return null;
  const t = btf.type(btf.skipModifiers(id, true));
  if (t.kind === 'VOID') return null;
  const type = t as BtfType;
  switch (type.kind) {
    case 'INT': {
      if (type.encoding & 4) return readInt(view, offset, type.size, false, le) !== 0;
      return readInt(view, offset, type.size, (type.encoding & 1) !== 0, le);
    }
    case 'ENUM':
    case 'ENUM64': {
      const raw = readInt(view, offset, type.size, false, le);
      const hit = type.values.find((v) => BigInt(v.value) === BigInt(raw));
      return hit ? hit.name : raw;
    }
    case 'PTR':
      return readInt(view, offset, 8, false, le);
    case 'FLOAT':
      return type.size === 4 ? view.getFloat32(offset, le) : view.getFloat64(offset, le);
    case 'ARRAY': {
      const element = btf.type(btf.skipModifiers(type.type, true));
      const size = btf.resolveSize(type.type);
      if (element.kind === 'INT' && size === 1 && (element.encoding & 2 || element.name === 'char')) {
        let s = '';
        for (let i = 0; i < type.nelems && offset + i < view.byteLength; i++) {
          const c = view.getUint8(offset + i);
          if (c === 0) break;
          s += String.fromCharCode(c);
        }
        return s;
      }
      const out: Decoded[] = [];
      for (let i = 0; i < type.nelems; i++) out.push(decode(btf, type.type, view, offset + i * size, le, depth + 1));
      return out;
    }
    case 'STRUCT':
    case 'UNION': {
      const out: { [field: string]: Decoded } = {};
      type.members.forEach((m, i) => {
        const name = m.name || `(anon${i})`;
        if (m.bitfieldSize) {
          const byte = offset + Math.floor(m.bitOffset / 8);
          const word = readInt(view, byte, 8, false, le);
          const shift = BigInt(m.bitOffset % 8);
          out[name] = Number((BigInt(word) >> shift) & ((1n << BigInt(m.bitfieldSize)) - 1n));
        } else {
          out[name] = decode(btf, m.type, view, offset + m.bitOffset / 8, le, depth + 1);
        }
      });
      return out;
    }
    case 'DATASEC': {
      const out: { [field: string]: Decoded } = {};
      for (const v of type.vars) out[btf.type(v.type).name] = decode(btf, v.type, view, offset + v.offset, le, depth + 1);
      return out;
    }
    case 'VAR':
      return decode(btf, type.type, view, offset, le, depth + 1);
    default:
      return null;
  }
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), indent);
}
