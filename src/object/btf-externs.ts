import { extraBytes } from './btf-fixup.js';
import type { ObjectExtern } from './types.js';

/**
 * The kernel refuses BTF that declares externs: VARs and FUNCs with extern linkage, FUNC members
 * of a DATASEC, prototypes with unnamed parameters. libbpf rewrites them before BPF_BTF_LOAD and so
 * does this, on a copy of the raw .BTF: `.kconfig` VARs become global variables at their offsets in
 * the `.kconfig` map; `.ksyms` members become 4-byte ints, FUNC members a dummy int VAR appended to
 * the types; kfuncs become static with their parameters named.
 */

const KIND_INT = 1, KIND_FUNC = 12, KIND_FUNC_PROTO = 13, KIND_VAR = 14, KIND_DATASEC = 15;
const VAR_EXTERN = 2, VAR_GLOBAL_ALLOCATED = 1, FUNC_EXTERN = 2, FUNC_STATIC = 0;

export function sanitizeExternBtf(raw: Uint8Array, externs: readonly ObjectExtern[], kconfigSize: number): Uint8Array {
  if (externs.length === 0) return raw;
  const le = raw[0] === 0x9f;
  const source = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const hdrLen = source.getUint32(4, le);
  const typeOff = hdrLen + source.getUint32(8, le);
  const typeLen = source.getUint32(12, le);
  const strOff = hdrLen + source.getUint32(16, le);
  const strLen = source.getUint32(20, le);
  const dummyName = new TextEncoder().encode('__tsbpf_ksym\0');
  // Room for two more types: an int (16 bytes) and the dummy VAR (16 bytes).
  const out = new Uint8Array(hdrLen + typeLen + 32 + strLen + dummyName.length);
  out.set(raw.subarray(0, hdrLen));
  out.set(raw.subarray(typeOff, typeOff + typeLen), hdrLen);
  out.set(raw.subarray(strOff, strOff + strLen), hdrLen + typeLen + 32);
  out.set(dummyName, hdrLen + typeLen + 32 + strLen);
  const view = new DataView(out.buffer);
  const types = hdrLen;
  const string = (offset: number): string => {
    let s = '';
    for (let p = hdrLen + typeLen + 32 + offset; out[p] !== 0 && p < out.length; p++) s += String.fromCharCode(out[p]!);
    return s;
  };
  const starts: number[] = [0];
  for (let p = types; p + 12 <= types + typeLen; ) {
    starts.push(p);
    const info = view.getUint32(p + 4, le);
    p += 12 + extraBytes((info >>> 24) & 0x1f, info & 0xffff);
  }
  const kindOf = (id: number): number => (id === 0 || starts[id] === undefined ? 0 : (view.getUint32(starts[id]! + 4, le) >>> 24) & 0x1f);
  const intId = starts.length;
  const dummyVarId = starts.length + 1;
  // The appended int ("int" is not guaranteed to be in the strings: it stays anonymous) and dummy VAR.
  let p = types + typeLen;
  view.setUint32(p, 0, le); view.setUint32(p + 4, KIND_INT << 24, le); view.setUint32(p + 8, 4, le); view.setUint32(p + 12, (1 << 24) | 32, le);
  p += 16;
  view.setUint32(p, strLen, le); view.setUint32(p + 4, KIND_VAR << 24, le); view.setUint32(p + 8, intId, le); view.setUint32(p + 12, VAR_GLOBAL_ALLOCATED, le);
  const kconfigOffset = new Map(externs.flatMap((e) => (e.kind === 'kconfig' ? [[e.name, e] as const] : [])));

  for (let id = 1; id < starts.length; id++) {
    const at = starts[id]!;
    const info = view.getUint32(at + 4, le);
    const kind = (info >>> 24) & 0x1f;
    if (kind === KIND_VAR && view.getUint32(at + 12, le) === VAR_EXTERN) view.setUint32(at + 12, VAR_GLOBAL_ALLOCATED, le);
    if (kind === KIND_FUNC && (info & 0xffff) === FUNC_EXTERN) {
      view.setUint32(at + 4, (KIND_FUNC << 24) | FUNC_STATIC, le);
      const proto = starts[view.getUint32(at + 8, le)];
      if (proto !== undefined && kindOf(view.getUint32(at + 8, le)) === KIND_FUNC_PROTO) {
        const params = view.getUint32(proto + 4, le) & 0xffff;
        for (let i = 0; i < params; i++) {
          const param = proto + 12 + 8 * i;
          if (view.getUint32(param, le) === 0 && view.getUint32(param + 4, le) !== 0) view.setUint32(param, strLen, le);
        }
      }
    }
    if (kind !== KIND_DATASEC) continue;
    const name = string(view.getUint32(at, le));
    const vlen = info & 0xffff;
    if (name === '.ksyms') {
      for (let i = 0; i < vlen; i++) {
        const entry = at + 12 + 12 * i;
        const member = view.getUint32(entry, le);
        if (kindOf(member) === KIND_FUNC) view.setUint32(entry, dummyVarId, le);
        else if (kindOf(member) === KIND_VAR) view.setUint32(starts[member]! + 8, intId, le);
        view.setUint32(entry + 4, 4 * i, le);
        view.setUint32(entry + 8, 4, le);
      }
      view.setUint32(at + 8, 4 * vlen, le);
    } else if (name === '.kconfig') {
      // Members in offset order, at the offsets the .kconfig map gives them.
      const entries: [number, number, number][] = [];
      for (let i = 0; i < vlen; i++) {
        const member = view.getUint32(at + 12 + 12 * i, le);
        const ext = kindOf(member) === KIND_VAR ? kconfigOffset.get(string(view.getUint32(starts[member]!, le))) : undefined;
        entries.push([member, ext?.kind === 'kconfig' ? ext.offset : 0, ext?.kind === 'kconfig' ? ext.size : 0]);
      }
      entries.sort((a, b) => a[1] - b[1]);
      entries.forEach(([member, offset, size], i) => {
        view.setUint32(at + 12 + 12 * i, member, le);
        view.setUint32(at + 16 + 12 * i, offset, le);
        view.setUint32(at + 20 + 12 * i, size, le);
      });
      view.setUint32(at + 8, kconfigSize, le);
    }
  }
  // Header: the types grew by 32 bytes and the strings by the dummy name.
  view.setUint32(8, 0, le);
  view.setUint32(12, typeLen + 32, le);
  view.setUint32(16, typeLen + 32, le);
  view.setUint32(20, strLen + dummyName.length, le);
  return out;
}
