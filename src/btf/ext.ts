/**
 * `.BTF.ext`: per-section func_info, line_info and CO-RE relocation records. Offsets (`insnOff`) are in
 * bytes from the start of the ELF section, as the object file stores them; names resolve through `.BTF`.
 */
import type { Btf } from './btf.js';
import { BtfError } from './errors.js';
import { BTF_MAGIC } from './parse.js';

/** Kinds of CO-RE relocation (values of libbpf's enum bpf_core_relo_kind). */
export const CoreReloKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;
export type CoreReloKind = (typeof CoreReloKind)[keyof typeof CoreReloKind];

/** Names as libbpf prints them ("byte_off", ...), indexed by kind. */
export const CORE_RELO_KIND_NAMES = [
  'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64', 'local_type_id',
  'target_type_id', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
] as const;

export interface FuncInfo {
  insnOff: number;
  typeId: number;
}

export interface LineInfo {
  insnOff: number;
  fileName: string;
  /** The source line's text. */
  line: string;
  lineNumber: number;
  column: number;
  /** Offsets of the file name and the line in the object's BTF strings (what bpf_line_info carries). */
  fileNameOff: number;
  lineOff: number;
}

export interface CoreRelo {
  insnOff: number;
  typeId: number;
  /** "0:1:2" and the like. */
  accessString: string;
  kind: CoreReloKind;
}

export interface BtfExtSection<R> {
  /** The ELF section the records belong to, e.g. "kprobe/sys_write" or ".text". */
  sectionName: string;
  records: R[];
}

export interface BtfExt {
  funcInfo: BtfExtSection<FuncInfo>[];
  lineInfo: BtfExtSection<LineInfo>[];
  coreRelos: BtfExtSection<CoreRelo>[];
}

const EXT_HEADER_MIN = 24;
const EXT_HEADER_WITH_CORE = 32;

/** Parse `.BTF.ext` bytes; strings resolve through `btf` (the object's `.BTF`). */
export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  if (bytes.length < 8) {
    throw new BtfError('btf-ext/truncated', `.BTF.ext is ${bytes.length} bytes, too short for a header`, { offset: 0 });
  }
  let le: boolean;
  if (bytes[0] === 0x9f && bytes[1] === 0xeb) le = true;
  else if (bytes[0] === 0xeb && bytes[1] === 0x9f) le = false;
  else throw new BtfError('btf/bad-magic', `bad .BTF.ext magic (expected 0x${BTF_MAGIC.toString(16)})`, { offset: 0 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[2] !== 1) throw new BtfError('btf/bad-version', `.BTF.ext version ${bytes[2]} is not 1`, { offset: 2 });
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < EXT_HEADER_MIN || hdrLen > bytes.length) {
    throw new BtfError('btf-ext/bad-header', `.BTF.ext header length ${hdrLen} is invalid`, { offset: 4 });
  }
  const u32 = (o: number): number => view.getUint32(o, le);
  const str = (off: number, where: number): string => {
    try {
      return btf.stringAt(off);
    } catch {
      throw new BtfError('btf-ext/bad-record', `string offset ${off} is outside .BTF's string section`, { offset: where });
    }
  };

  /** Walks one info block: record size, then per ELF section a name, a count and the records. */
  function readInfo<R>(offField: number, what: string, minRecord: number, read: (o: number) => R): BtfExtSection<R>[] {
    const off = u32(offField);
    const len = u32(offField + 4);
    if (len === 0) return [];
    const start = hdrLen + off;
    const end = start + len;
    if (end > bytes.length || len < 4) {
      throw new BtfError('btf-ext/truncated', `${what} (${len} bytes at ${off}) runs past the end`, { offset: offField });
    }
    const recordSize = u32(start);
    if (recordSize < minRecord || recordSize % 4 !== 0) {
      throw new BtfError('btf-ext/bad-header', `${what} record size ${recordSize} is invalid (need >= ${minRecord})`, {
        offset: start,
      });
    }
    const out: BtfExtSection<R>[] = [];
    let o = start + 4;
    while (o < end) {
      if (o + 8 > end) throw new BtfError('btf-ext/truncated', `${what} section header runs past the end`, { offset: o });
      const sectionName = str(u32(o), o);
      const count = u32(o + 4);
      o += 8;
      if (count === 0) throw new BtfError('btf-ext/bad-record', `${what} for ${sectionName} has no records`, { offset: o - 4 });
      if (o + count * recordSize > end) {
        throw new BtfError('btf-ext/truncated', `${count} ${what} records for ${sectionName} run past the end`, { offset: o });
      }
      const records: R[] = new Array(count);
      for (let i = 0; i < count; i++, o += recordSize) records[i] = read(o);
      out.push({ sectionName, records });
    }
    return out;
  }

  const funcInfo = readInfo(8, 'func_info', 8, (o) => ({ insnOff: u32(o), typeId: u32(o + 4) }));
  const lineInfo = readInfo(16, 'line_info', 16, (o) => {
    const lineCol = u32(o + 12);
    return {
      insnOff: u32(o),
      fileName: str(u32(o + 4), o + 4),
      line: str(u32(o + 8), o + 8),
      lineNumber: lineCol >>> 10,
      column: lineCol & 0x3ff,
      fileNameOff: u32(o + 4),
      lineOff: u32(o + 8),
    };
  });
  const coreRelos =
    hdrLen >= EXT_HEADER_WITH_CORE
      ? readInfo(24, 'core_relo', 16, (o) => {
          const kind = u32(o + 12);
          if (kind > CoreReloKind.TYPE_MATCHES) {
            throw new BtfError('btf-ext/bad-record', `unknown CO-RE relocation kind ${kind}`, { offset: o + 12 });
          }
          return { insnOff: u32(o), typeId: u32(o + 4), accessString: str(u32(o + 8), o + 8), kind: kind as CoreReloKind };
        })
      : [];
  return { funcInfo, lineInfo, coreRelos };
}
