/** Parses the `.BTF` blob (header, type section, string section) into a `Btf`. */
import { Btf } from './btf.js';
import { BtfError } from './errors.js';
import { StringTable } from './strings.js';
import { BTF_KIND_NAMES, forEachTypeReference, type BtfMember, type BtfType } from './types.js';

export const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_MIN = 24;

export interface ParseBtfOptions {
  /** For split BTF (module BTF): the BTF it was built on top of, usually vmlinux. */
  base?: Btf;
}

interface BtfHeader {
  littleEndian: boolean;
  version: number;
  flags: number;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
}

function readHeader(bytes: Uint8Array): BtfHeader {
  if (bytes.length < BTF_HEADER_MIN) {
    throw new BtfError('btf/truncated', `BTF is ${bytes.length} bytes, shorter than its ${BTF_HEADER_MIN}-byte header`, {
      offset: 0,
    });
  }
  let littleEndian: boolean;
  if (bytes[0] === 0x9f && bytes[1] === 0xeb) littleEndian = true;
  else if (bytes[0] === 0xeb && bytes[1] === 0x9f) littleEndian = false;
  else throw new BtfError('btf/bad-magic', `bad BTF magic 0x${bytes[0]!.toString(16)}${bytes[1]!.toString(16)}`, { offset: 0 });
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h: BtfHeader = {
    littleEndian,
    version: bytes[2]!,
    flags: bytes[3]!,
    hdrLen: v.getUint32(4, littleEndian),
    typeOff: v.getUint32(8, littleEndian),
    typeLen: v.getUint32(12, littleEndian),
    strOff: v.getUint32(16, littleEndian),
    strLen: v.getUint32(20, littleEndian),
  };
  if (h.version !== 1) throw new BtfError('btf/bad-version', `BTF version ${h.version} is not 1`, { offset: 2 });
  if (h.hdrLen < BTF_HEADER_MIN || h.hdrLen > bytes.length) {
    throw new BtfError('btf/bad-header', `header length ${h.hdrLen} is invalid`, { offset: 4 });
  }
  // A longer header (from a newer kernel) is allowed only if the unknown tail is zero.
  for (let i = BTF_HEADER_MIN; i < h.hdrLen; i++) {
    if (bytes[i] !== 0) throw new BtfError('btf/bad-header', 'unknown non-zero header fields', { offset: i });
  }
  const dataLen = bytes.length - h.hdrLen;
  if (h.typeOff % 4 !== 0) throw new BtfError('btf/bad-header', `type section offset ${h.typeOff} is not 4-byte aligned`, { offset: 8 });
  if (h.typeOff + h.typeLen > dataLen) {
    throw new BtfError('btf/truncated', `type section (${h.typeLen} bytes at ${h.typeOff}) runs past the end`, { offset: 8 });
  }
  if (h.strOff + h.strLen > dataLen) {
    throw new BtfError('btf/truncated', `string section (${h.strLen} bytes at ${h.strOff}) runs past the end`, { offset: 16 });
  }
  if (h.typeOff < h.strOff ? h.typeOff + h.typeLen > h.strOff : h.strOff + h.strLen > h.typeOff) {
    throw new BtfError('btf/bad-header', 'type and string sections overlap', { offset: 8 });
  }
  return h;
}

/** Parse `.BTF` bytes (either byte order). Throws BtfError naming the type id / offset at fault. */
export function parseBtf(bytes: Uint8Array, options: ParseBtfOptions = {}): Btf {
  const base = options.base;
  const h = readHeader(bytes);
  const le = h.littleEndian;
  const strBytes = bytes.subarray(h.hdrLen + h.strOff, h.hdrLen + h.strOff + h.strLen);
  if (!base && (strBytes.length === 0 || strBytes[0] !== 0)) {
    throw new BtfError('btf/bad-string', 'string section must start with an empty string', { offset: h.hdrLen + h.strOff });
  }
  if (strBytes.length > 0 && strBytes[strBytes.length - 1] !== 0) {
    throw new BtfError('btf/bad-string', 'string section does not end with NUL', {
      offset: h.hdrLen + h.strOff + strBytes.length - 1,
    });
  }
  const strings = new StringTable(strBytes);
  const strStart = base ? base.startStringOffset + base.strings.length : 0;
  const firstId = base ? base.typeCount : 1;

  let currentId = firstId;
  const name = (off: number): string => {
    if (off === 0) return '';
    if (off < strStart && base) {
      try {
        return base.stringAt(off);
      } catch {
        /* reported below */
      }
    } else {
      const s = strings.tryAt(off - strStart);
      if (s !== undefined) return s;
    }
    throw new BtfError('btf/bad-string', `name offset ${off} is outside the string section`, { typeId: currentId });
  };

  const view = new DataView(bytes.buffer, bytes.byteOffset + h.hdrLen + h.typeOff, h.typeLen);
  const end = h.typeLen;
  const sectionStart = h.hdrLen + h.typeOff;
  const types: BtfType[] = [];
  let o = 0;
  const need = (n: number, what: string): void => {
    if (o + n > end) {
      throw new BtfError('btf/truncated', `${what} runs past the end of the type section`, {
        typeId: currentId,
        offset: sectionStart + o,
      });
    }
  };

  while (o < end) {
    need(12, 'type header');
    const nameOff = view.getUint32(o, le);
    const info = view.getUint32(o + 4, le);
    const sizeOrType = view.getUint32(o + 8, le);
    const typeStart = o;
    o += 12;
    const vlen = info & 0xffff;
    const kindNo = (info >>> 24) & 0x1f;
    const kindFlag = info >>> 31 === 1;
    const kind = BTF_KIND_NAMES[kindNo];
    if (kind === undefined || kind === 'UNKN') {
      throw new BtfError('btf/bad-kind', `unknown kind ${kindNo}`, { typeId: currentId, offset: sectionStart + typeStart });
    }
    const id = currentId;
    const n = name(nameOff);
    let t: BtfType;
    switch (kind) {
      case 'INT': {
        need(4, 'INT data');
        const v = view.getUint32(o, le);
        o += 4;
        t = { id, kind, name: n, size: sizeOrType, encoding: (v >>> 24) & 0x0f, bitsOffset: (v >>> 16) & 0xff, bits: v & 0xff };
        if (t.bits > 128 || t.bitsOffset + t.bits > 8 * sizeOrType) {
          throw new BtfError('btf/bad-type', `INT bits ${t.bits} at ${t.bitsOffset} do not fit ${sizeOrType} bytes`, {
            typeId: id,
            offset: sectionStart + typeStart,
          });
        }
        break;
      }
      case 'PTR':
      case 'TYPEDEF':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
        t = { id, kind, name: n, type: sizeOrType };
        break;
      case 'ARRAY':
        need(12, 'ARRAY data');
        t = { id, kind, name: n, type: view.getUint32(o, le), indexType: view.getUint32(o + 4, le), nelems: view.getUint32(o + 8, le) };
        o += 12;
        break;
      case 'STRUCT':
      case 'UNION': {
        need(12 * vlen, `${kind} members`);
        const members: BtfMember[] = new Array(vlen);
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = view.getUint32(o + 8, le);
          members[i] = {
            name: name(view.getUint32(o, le)),
            type: view.getUint32(o + 4, le),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitfieldSize: kindFlag ? off >>> 24 : 0,
          };
        }
        t = { id, kind, name: n, size: sizeOrType, kindFlag, members };
        break;
      }
      case 'ENUM': {
        need(8 * vlen, 'ENUM values');
        const values = new Array(vlen);
        for (let i = 0; i < vlen; i++, o += 8) {
          values[i] = { name: name(view.getUint32(o, le)), value: kindFlag ? view.getInt32(o + 4, le) : view.getUint32(o + 4, le) };
        }
        t = { id, kind, name: n, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case 'ENUM64': {
        need(12 * vlen, 'ENUM64 values');
        const values = new Array(vlen);
        for (let i = 0; i < vlen; i++, o += 12) {
          const raw = (BigInt(view.getUint32(o + 8, le)) << 32n) | BigInt(view.getUint32(o + 4, le));
          values[i] = { name: name(view.getUint32(o, le)), value: kindFlag ? BigInt.asIntN(64, raw) : raw };
        }
        t = { id, kind, name: n, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case 'FWD':
        t = { id, kind, name: n, fwdKind: kindFlag ? 'union' : 'struct' };
        break;
      case 'FUNC':
        t = { id, kind, name: n, type: sizeOrType, linkage: vlen };
        break;
      case 'FUNC_PROTO': {
        need(8 * vlen, 'FUNC_PROTO parameters');
        const params = new Array(vlen);
        for (let i = 0; i < vlen; i++, o += 8) {
          params[i] = { name: name(view.getUint32(o, le)), type: view.getUint32(o + 4, le) };
        }
        t = { id, kind, name: n, returnType: sizeOrType, params };
        break;
      }
      case 'VAR':
        need(4, 'VAR data');
        t = { id, kind, name: n, type: sizeOrType, linkage: view.getUint32(o, le) };
        o += 4;
        break;
      case 'DATASEC': {
        need(12 * vlen, 'DATASEC entries');
        const vars = new Array(vlen);
        for (let i = 0; i < vlen; i++, o += 12) {
          vars[i] = { type: view.getUint32(o, le), offset: view.getUint32(o + 4, le), size: view.getUint32(o + 8, le) };
        }
        t = { id, kind, name: n, size: sizeOrType, vars };
        break;
      }
      case 'FLOAT':
        t = { id, kind, name: n, size: sizeOrType };
        break;
      case 'DECL_TAG':
        need(4, 'DECL_TAG data');
        t = { id, kind, name: n, type: sizeOrType, componentIdx: view.getInt32(o, le) };
        o += 4;
        break;
    }
    types.push(t);
    currentId++;
  }
  const btf = new Btf(types, strings, le, base);
  checkReferences(btf);
  return btf;
}

function badReference(t: BtfType, ref: number, what: string, count: number): never {
  throw new BtfError('btf/bad-type-id', `${t.kind} ${what} refers to type ${ref}, past the last id ${count - 1}`, {
    typeId: t.id,
  });
}

/** Every type id a type refers to must exist. */
function checkReferences(btf: Btf): void {
  const count = btf.typeCount;
  for (const t of btf.types) {
    forEachTypeReference(t, (id, role) => {
      if (id >= count) badReference(t, id, role, count);
    });
  }
}
