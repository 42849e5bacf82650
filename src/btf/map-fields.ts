import type { Btf } from './btf.js';
import type { BtfType } from './types.js';

/**
 * The special fields of a map value, read from its BTF: where the bpf_spin_lock, bpf_timer, bpf_wq
 * and kptrs lie. The object loader records them on each map; the verifier checks programs against
 * them and the maps' copies step around them.
 */

/** Kinds of special field a map value's BTF may place (the kernel's btf_field types the verifier knows). */
export type MapValueFieldKind = 'spin_lock' | 'timer' | 'workqueue' | 'kptr';

/** A special field of a map value: the program reaches it only through helpers, never by load/store. */
export interface MapValueField {
  kind: MapValueFieldKind;
  /** Byte offset in the value. */
  offset: number;
  size: number;
}

/** Kernel structs a map value may embed, by BTF name. */
const SPECIAL_STRUCTS: Readonly<Record<string, MapValueFieldKind>> = {
  bpf_spin_lock: 'spin_lock', bpf_timer: 'timer', bpf_wq: 'workqueue',
};
/** Pointer type tags that make a member a kptr. */
const KPTR_TAGS = new Set(['kptr', 'kptr_untrusted', 'percpu_kptr']);
/** Deeper nesting than this is not followed (BTF may be hostile; real values nest a few levels). */
const MAX_DEPTH = 8;

/** The special fields of BTF type `typeId` (a map value), nested structs included, by ascending offset. */
export function mapValueFields(btf: Btf, typeId: number): MapValueField[] {
  const out: MapValueField[] = [];
  const walk = (id: number, base: number, depth: number): void => {
    const t = btf.type(btf.skipModifiers(id, true));
    if (t.kind === 'VOID' || depth > MAX_DEPTH) return;
    const special = t.kind === 'STRUCT' ? SPECIAL_STRUCTS[t.name] : undefined;
    if (t.kind === 'STRUCT' && special) {
      out.push({ kind: special, offset: base, size: t.size });
      return;
    }
    if (t.kind === 'PTR' && isKptr(btf, t.type)) {
      out.push({ kind: 'kptr', offset: base, size: 8 });
      return;
    }
    // A global data section's value is its DATASEC: each variable at its offset.
    if (t.kind === 'DATASEC') for (const v of t.vars) walk(v.type, base + v.offset, depth + 1);
    if (t.kind === 'VAR') walk(t.type, base, depth + 1);
    if (t.kind !== 'STRUCT' && t.kind !== 'UNION') return;
    for (const m of t.members) if (m.bitfieldSize === 0) walk(m.type, base + m.bitOffset / 8, depth + 1);
  };
  walk(typeId, 0, 0);
  return out.sort((a, b) => a.offset - b.offset);
}

function isKptr(btf: Btf, id: number): boolean {
  const t: BtfType | { kind: 'VOID' } = btf.type(id);
  return t.kind === 'TYPE_TAG' && KPTR_TAGS.has(t.name);
}
