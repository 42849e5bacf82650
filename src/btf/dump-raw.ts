/** `bpftool btf dump file X` (raw format) text, byte for byte. */
import type { Btf } from './btf.js';
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type BtfType } from './types.js';

const quoted = (name: string): string => `'${name === '' ? '(anon)' : name}'`;

function intEncoding(encoding: number): string {
  switch (encoding) {
    case 0:
      return '(none)';
    case BTF_INT_SIGNED:
      return 'SIGNED';
    case BTF_INT_CHAR:
      return 'CHAR';
    case BTF_INT_BOOL:
      return 'BOOL';
    default:
      return 'UNKN';
  }
}

const FUNC_LINKAGE = ['static', 'global', 'extern'];
const VAR_LINKAGE = ['static', 'global', 'extern'];

/** One type in bpftool's raw format (no trailing newline). */
export function dumpBtfTypeRaw(btf: Btf, t: BtfType): string {
  let s = `[${t.id}] ${t.kind} ${quoted(t.name)}`;
  switch (t.kind) {
    case 'INT':
      s += ` size=${t.size} bits_offset=${t.bitsOffset} nr_bits=${t.bits} encoding=${intEncoding(t.encoding)}`;
      break;
    case 'PTR':
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT':
    case 'TYPEDEF':
    case 'TYPE_TAG':
      s += ` type_id=${t.type}`;
      break;
    case 'ARRAY':
      s += ` type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case 'STRUCT':
    case 'UNION':
      s += ` size=${t.size} vlen=${t.members.length}`;
      for (const m of t.members) {
        s += `\n\t${quoted(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}`;
        if (m.bitfieldSize !== 0) s += ` bitfield_size=${m.bitfieldSize}`;
      }
      break;
    case 'ENUM':
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) s += `\n\t${quoted(v.name)} val=${v.value}`;
      break;
    case 'ENUM64':
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) s += `\n\t${quoted(v.name)} val=${v.value}${t.signed ? 'LL' : 'ULL'}`;
      break;
    case 'FWD':
      s += ` fwd_kind=${t.fwdKind}`;
      break;
    case 'FUNC':
      s += ` type_id=${t.type} linkage=${FUNC_LINKAGE[t.linkage] ?? 'unknown'}`;
      break;
    case 'FUNC_PROTO':
      s += ` ret_type_id=${t.returnType} vlen=${t.params.length}`;
      for (const p of t.params) s += `\n\t${quoted(p.name)} type_id=${p.type}`;
      break;
    case 'VAR':
      s += ` type_id=${t.type}, linkage=${VAR_LINKAGE[t.linkage] ?? 'unknown'}`;
      break;
    case 'DATASEC':
      s += ` size=${t.size} vlen=${t.vars.length}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        const target = btf.type(v.type);
        if (target.kind !== 'VOID' && target.name !== '') s += ` (${target.kind} '${target.name}')`;
      }
      break;
    case 'FLOAT':
      s += ` size=${t.size}`;
      break;
    case 'DECL_TAG':
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
  }
  return s;
}

/** All of a BTF's own types (for split BTF, those past the base), one per line as bpftool prints them. */
export function dumpBtfRaw(btf: Btf): string {
  const parts: string[] = [];
  for (const t of btf.types) parts.push(dumpBtfTypeRaw(btf, t), '\n');
  return parts.join('');
}
