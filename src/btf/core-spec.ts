/**
 * CO-RE access specifications: the local spec parsed from an access string ("0:1:2"), and the spec of the
 * same access in a target candidate, matched member by member by name (libbpf semantics).
 */
import type { Btf } from './btf.js';
import { essentialName, fieldsCompatible, typesCompatible, typesMatch } from './core-compat.js';
import { BtfError } from './errors.js';
import { CoreReloKind } from './ext.js';
import type { BtfArray, BtfType } from './types.js';

/** libbpf's limit on access string length (struct/union/array nesting). */
export const CORE_SPEC_MAX_LEN = 64;

/** One step of an access: the root's array index, a named member, or an array element. */
export interface CoreAccessor {
  /** The composite (for a member), the element type (for an array index), or the root type. */
  typeId: number;
  index: number;
  /** Member or enumerator name; undefined for array-index steps (including the root). */
  name?: string;
}

export interface CoreSpec {
  btf: Btf;
  rootTypeId: number;
  /** Root, named members and array indexes; anonymous members are only in `raw`. */
  accessors: CoreAccessor[];
  /** Every index of the access string, anonymous members included. */
  raw: number[];
  bitOffset: number;
}

export const isFieldKind = (k: CoreReloKind): boolean => k <= CoreReloKind.FIELD_RSHIFT_U64;
export const isTypeKind = (k: CoreReloKind): boolean =>
  k === CoreReloKind.TYPE_ID_LOCAL ||
  k === CoreReloKind.TYPE_ID_TARGET ||
  k === CoreReloKind.TYPE_EXISTS ||
  k === CoreReloKind.TYPE_SIZE ||
  k === CoreReloKind.TYPE_MATCHES;
export const isEnumvalKind = (k: CoreReloKind): boolean =>
  k === CoreReloKind.ENUMVAL_EXISTS || k === CoreReloKind.ENUMVAL_VALUE;

function badSpec(message: string, typeId: number): never {
  throw new BtfError('core/bad-access-string', message, { typeId });
}

function skipped(btf: Btf, id: number): { id: number; t: ReturnType<Btf['type']> } {
  const sid = btf.skipModifiers(id, true);
  return { id: sid, t: btf.type(sid) };
}

/** A zero-length array that is the last member of its struct, reached through a named member. */
function isFlexibleArray(btf: Btf, previous: CoreAccessor | undefined, array: BtfArray): boolean {
  if (!previous || previous.name === undefined || array.nelems > 0) return false;
  const parent = btf.type(previous.typeId);
  return (parent.kind === 'STRUCT' || parent.kind === 'UNION') && previous.index === parent.members.length - 1;
}

function parseIndexes(accessString: string, typeId: number): number[] {
  if (accessString === '') badSpec('empty access string', typeId);
  const parts = accessString.split(':');
  if (parts.length > CORE_SPEC_MAX_LEN) badSpec(`access string "${accessString}" is too long`, typeId);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) badSpec(`access string "${accessString}" has a non-numeric part "${p}"`, typeId);
    return Number(p);
  });
}

/** Parse a local access string for relocation kind `kind` rooted at `typeId`. */
export function parseCoreSpec(btf: Btf, typeId: number, accessString: string, kind: CoreReloKind): CoreSpec {
  const raw = parseIndexes(accessString, typeId);
  const spec: CoreSpec = { btf, rootTypeId: typeId, accessors: [], raw, bitOffset: 0 };
  if (isTypeKind(kind)) {
    if (raw.length !== 1 || raw[0] !== 0) badSpec(`type relocation needs access string "0", got "${accessString}"`, typeId);
    return spec;
  }
  const root = skipped(btf, typeId);
  const first = raw[0]!;
  spec.accessors.push({ typeId: root.id, index: first });
  if (isEnumvalKind(kind)) {
    const t = root.t;
    if ((t.kind !== 'ENUM' && t.kind !== 'ENUM64') || raw.length > 1 || first >= t.values.length) {
      badSpec(`enum value access "${accessString}" does not name an enumerator`, typeId);
    }
    spec.accessors[0]!.name = t.values[first]!.name;
    return spec;
  }
  spec.bitOffset = first * btf.resolveSize(root.id) * 8;
  let id = root.id;
  for (let i = 1; i < raw.length; i++) {
    const { id: sid, t } = skipped(btf, id);
    id = sid;
    const index = raw[i]!;
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      const m = t.members[index];
      if (m === undefined) badSpec(`member index ${index} out of range (${t.members.length} members)`, id);
      spec.bitOffset += m.bitOffset;
      if (m.name !== '') spec.accessors.push({ typeId: id, index, name: m.name });
      id = m.type;
    } else if (t.kind === 'ARRAY') {
      const element = skipped(btf, t.type);
      const flexible = isFlexibleArray(btf, spec.accessors[spec.accessors.length - 1], t);
      if (!flexible && index >= t.nelems) badSpec(`array index ${index} out of range (${t.nelems} elements)`, id);
      spec.accessors.push({ typeId: element.id, index });
      spec.bitOffset += index * btf.resolveSize(element.id) * 8;
      id = element.id;
    } else {
      badSpec(`access step ${i} ("${accessString}") reaches a ${t.kind}, not a struct, union or array`, id);
    }
  }
  return spec;
}

/**
 * Find local member `local.name` in target composite `targetId`, descending into anonymous members.
 * Updates `spec` (raw path and bit offset) and returns the member's type id, or undefined when absent
 * or incompatible.
 */
function matchMember(localSpec: CoreSpec, localAcc: CoreAccessor, target: Btf, targetId: number, spec: CoreSpec): number | undefined {
  const local = localSpec.btf;
  const localParent = local.type(localAcc.typeId) as BtfType;
  if (localParent.kind !== 'STRUCT' && localParent.kind !== 'UNION') return undefined;
  const localMember = localParent.members[localAcc.index]!;
  const { id: tid, t } = skipped(target, targetId);
  if (t.kind !== 'STRUCT' && t.kind !== 'UNION') return undefined;
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i]!;
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) badSpec('target access path too deep', tid);
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      const found = matchMember(localSpec, localAcc, target, m.type, spec);
      if (found !== undefined) return found;
    } else if (m.name === localMember.name) {
      if (!fieldsCompatible(local, localMember.type, target, m.type)) {
        spec.bitOffset -= m.bitOffset;
        spec.raw.pop();
        return undefined;
      }
      spec.accessors.push({ typeId: tid, index: i, name: m.name });
      return m.type;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}

/** The target-side spec for `local` rooted at candidate `targetId`, or undefined when it does not match. */
export function matchCoreSpec(local: CoreSpec, kind: CoreReloKind, target: Btf, targetId: number): CoreSpec | undefined {
  const spec: CoreSpec = { btf: target, rootTypeId: targetId, accessors: [], raw: [], bitOffset: 0 };
  if (isTypeKind(kind)) {
    const ok =
      kind === CoreReloKind.TYPE_MATCHES
        ? typesMatch(local.btf, local.rootTypeId, target, targetId)
        : typesCompatible(local.btf, local.rootTypeId, target, targetId);
    return ok ? spec : undefined;
  }
  if (isEnumvalKind(kind)) {
    const { id, t } = skipped(target, targetId);
    if (t.kind !== 'ENUM' && t.kind !== 'ENUM64') return undefined;
    const want = essentialName(local.accessors[0]!.name ?? '');
    const index = t.values.findIndex((v) => essentialName(v.name) === want);
    if (index < 0) return undefined;
    spec.accessors.push({ typeId: id, index, name: t.values[index]!.name });
    spec.raw.push(index);
    return spec;
  }
  let id = targetId;
  for (let i = 0; i < local.accessors.length; i++) {
    const acc = local.accessors[i]!;
    const current = skipped(target, id);
    id = current.id;
    if (acc.name !== undefined) {
      const next = matchMember(local, acc, target, id, spec);
      if (next === undefined) return undefined;
      id = next;
      continue;
    }
    // Array index: the root indexes the type itself; later steps need an array here.
    if (i > 0) {
      const t = current.t;
      if (t.kind !== 'ARRAY') return undefined;
      const flexible = isFlexibleArray(target, spec.accessors[spec.accessors.length - 1], t);
      if (!flexible && acc.index >= t.nelems) return undefined;
      id = skipped(target, t.type).id;
    }
    if (spec.raw.length >= CORE_SPEC_MAX_LEN) badSpec('target access path too deep', id);
    spec.accessors.push({ typeId: id, index: acc.index });
    spec.raw.push(acc.index);
    spec.bitOffset += acc.index * target.resolveSize(id) * 8;
  }
  return spec;
}
