import { STT_FUNC, STT_SECTION, type ElfFile } from '../elf/index.js';

/**
 * clang leaves the size of each DATASEC and the offsets of its variables at 0; the ELF section
 * headers and symbol table hold the real values. libbpf patches them in before loading BTF into the
 * kernel, which rejects a zero-sized DATASEC; this does the same to a copy of the raw .BTF bytes.
 * Like libbpf, it also makes hidden functions (`__hidden`, STV_HIDDEN) static, so the kernel
 * verifies them with their callers rather than on their own as global functions.
 */

const KIND_DATASEC = 15;
const KIND_FUNC = 12;
const STV_HIDDEN = 2;
const KIND_VAR = 14;

/** Bytes each kind carries after the 12-byte common header. */
export function extraBytes(kind: number, vlen: number): number {
  switch (kind) {
    case 1: return 4; // INT
    case 3: return 12; // ARRAY
    case 4: case 5: return 12 * vlen; // STRUCT, UNION
    case 6: return 8 * vlen; // ENUM
    case 13: return 8 * vlen; // FUNC_PROTO
    case 14: return 4; // VAR
    case 15: return 12 * vlen; // DATASEC
    case 17: return 4; // DECL_TAG
    case 19: return 12 * vlen; // ENUM64
    default: return 0; // PTR FWD TYPEDEF VOLATILE CONST RESTRICT FUNC FLOAT TYPE_TAG
  }
}

export function fixupDatasecs(raw: Uint8Array, elf: ElfFile): Uint8Array {
  const out = raw.slice();
  const view = new DataView(out.buffer);
  const le = out[0] === 0x9f;
  const hdrLen = view.getUint32(4, le);
  const typeOff = hdrLen + view.getUint32(8, le);
  const typeLen = view.getUint32(12, le);
  const strOff = hdrLen + view.getUint32(16, le);
  const strLen = view.getUint32(20, le);
  const string = (offset: number): string => {
    let s = '';
    for (let p = strOff + offset; p < strOff + strLen && out[p] !== 0; p++) s += String.fromCharCode(out[p]!);
    return s;
  };
  // First pass: where each type starts and what VAR names are (by type id).
  const starts: number[] = [0];
  for (let p = typeOff; p + 12 <= typeOff + typeLen; ) {
    starts.push(p);
    const info = view.getUint32(p + 4, le);
    p += 12 + extraBytes((info >>> 24) & 0x1f, info & 0xffff);
  }
  const varName = (id: number): string | undefined => {
    const p = starts[id];
    if (p === undefined || id === 0) return undefined;
    return ((view.getUint32(p + 4, le) >>> 24) & 0x1f) === KIND_VAR ? string(view.getUint32(p, le)) : undefined;
  };
  const hidden = new Set(elf.symbols.filter((s) => s.type === STT_FUNC && (s.visibility & 3) === STV_HIDDEN).map((s) => s.name));
  for (let id = 1; id < starts.length; id++) {
    const p = starts[id]!;
    const info = view.getUint32(p + 4, le);
    if (((info >>> 24) & 0x1f) === KIND_FUNC && (info & 0xffff) === 1 && hidden.has(string(view.getUint32(p, le)))) {
      view.setUint32(p + 4, KIND_FUNC << 24, le);
      continue;
    }
    if (((info >>> 24) & 0x1f) !== KIND_DATASEC) continue;
    const section = elf.sectionByName(string(view.getUint32(p, le)));
    if (!section) continue;
    if (view.getUint32(p + 8, le) === 0) view.setUint32(p + 8, section.size, le);
    const symbols = new Map(
      elf.symbols.filter((s) => s.sectionIndex === section.index && s.type !== STT_SECTION).map((s) => [s.name, s.value]),
    );
    for (let i = 0; i < (info & 0xffff); i++) {
      const entry = p + 12 + 12 * i;
      const name = varName(view.getUint32(entry, le));
      const offset = name === undefined ? undefined : symbols.get(name);
      if (offset !== undefined) view.setUint32(entry + 4, offset, le);
    }
  }
  return out;
}
