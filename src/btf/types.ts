/** BTF kinds and the plain objects a parsed type becomes. Field meanings follow the kernel's btf.h. */

/** Kind names in kind-number order (index = BTF_KIND_* value), spelled as bpftool prints them. */
export const BTF_KIND_NAMES = [
  'UNKN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT',
  'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64',
] as const;
export type BtfKindName = Exclude<(typeof BTF_KIND_NAMES)[number], 'UNKN'>;

export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

export const BTF_FUNC_STATIC = 0;
export const BTF_FUNC_GLOBAL = 1;
export const BTF_FUNC_EXTERN = 2;

export const BTF_VAR_STATIC = 0;
export const BTF_VAR_GLOBAL_ALLOCATED = 1;
export const BTF_VAR_GLOBAL_EXTERN = 2;

interface TypeBase {
  id: number;
  /** '' for anonymous types. */
  name: string;
}

export interface BtfInt extends TypeBase {
  kind: 'INT';
  size: number;
  /** Bit set of BTF_INT_SIGNED, BTF_INT_CHAR, BTF_INT_BOOL. */
  encoding: number;
  bitsOffset: number;
  bits: number;
}

/** Kinds that only point at another type. */
export interface BtfRefType extends TypeBase {
  kind: 'PTR' | 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT' | 'TYPE_TAG';
  type: number;
}

export interface BtfArray extends TypeBase {
  kind: 'ARRAY';
  type: number;
  indexType: number;
  nelems: number;
}

export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  /** 0 when the member is not a bitfield. */
  bitfieldSize: number;
}

export interface BtfComposite extends TypeBase {
  kind: 'STRUCT' | 'UNION';
  size: number;
  /** Set when member offsets pack a bitfield size in their high 8 bits. */
  kindFlag: boolean;
  members: BtfMember[];
}

export interface BtfEnumValue {
  name: string;
  value: number;
}

export interface BtfEnum extends TypeBase {
  kind: 'ENUM';
  size: number;
  signed: boolean;
  /** Values as the 32-bit pattern read signed or unsigned according to `signed`. */
  values: BtfEnumValue[];
}

export interface BtfEnum64Value {
  name: string;
  value: bigint;
}

export interface BtfEnum64 extends TypeBase {
  kind: 'ENUM64';
  size: number;
  signed: boolean;
  values: BtfEnum64Value[];
}

export interface BtfFwd extends TypeBase {
  kind: 'FWD';
  fwdKind: 'struct' | 'union';
}

export interface BtfFunc extends TypeBase {
  kind: 'FUNC';
  /** The FUNC_PROTO. */
  type: number;
  /** BTF_FUNC_STATIC / GLOBAL / EXTERN. */
  linkage: number;
}

export interface BtfParam {
  name: string;
  type: number;
}

export interface BtfFuncProto extends TypeBase {
  kind: 'FUNC_PROTO';
  returnType: number;
  params: BtfParam[];
}

export interface BtfVar extends TypeBase {
  kind: 'VAR';
  type: number;
  /** BTF_VAR_STATIC / GLOBAL_ALLOCATED / GLOBAL_EXTERN. */
  linkage: number;
}

export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}

export interface BtfDatasec extends TypeBase {
  kind: 'DATASEC';
  size: number;
  vars: BtfVarSecinfo[];
}

export interface BtfFloat extends TypeBase {
  kind: 'FLOAT';
  size: number;
}

export interface BtfDeclTag extends TypeBase {
  kind: 'DECL_TAG';
  type: number;
  /** -1 for the type itself, else the member or parameter index. */
  componentIdx: number;
}

export type BtfType =
  | BtfInt
  | BtfRefType
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** Type id 0: `void`. */
export interface BtfVoid {
  id: 0;
  kind: 'VOID';
  name: '';
}

/**
 * Every type id `t` refers to, with what it is for (for error messages): the one place that knows
 * which kinds point at which ids. Dumps, validation and reference walks all read it.
 */
export function forEachTypeReference(t: BtfType, visit: (id: number, role: string) => void): void {
  switch (t.kind) {
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
    case 'FUNC':
    case 'VAR':
    case 'DECL_TAG':
      visit(t.type, 'type');
      break;
    case 'ARRAY':
      visit(t.type, 'element type');
      visit(t.indexType, 'index type');
      break;
    case 'STRUCT':
    case 'UNION':
      for (const m of t.members) visit(m.type, `member '${m.name}'`);
      break;
    case 'FUNC_PROTO':
      visit(t.returnType, 'return type');
      for (const p of t.params) visit(p.type, `parameter '${p.name}'`);
      break;
    case 'DATASEC':
      for (const v of t.vars) visit(v.type, 'variable');
      break;
    default:
      break;
  }
}
