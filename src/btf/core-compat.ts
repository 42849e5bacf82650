/**
 * Type compatibility rules CO-RE uses to accept a target candidate (libbpf semantics): flavour-free
 * ("essential") names, field compatibility, the looser "types are compatible" check for type-based
 * relocations and the stricter "types match" check for TYPE_MATCHES.
 */
import type { Btf } from './btf.js';
import { BtfError } from './errors.js';
import { BTF_INT_SIGNED, type BtfType, type BtfVoid } from './types.js';

/** libbpf's recursion limit for compatibility checks. */
const MAX_COMPAT_DEPTH = 32;

/** `task_struct___v2` -> `task_struct`: everything before the last `___` flavour marker. */
export function essentialName(name: string): string {
  const i = name.lastIndexOf('___');
  return i < 0 ? name : name.slice(0, i);
}

type AnyType = BtfType | BtfVoid;

function skip(btf: Btf, id: number): AnyType {
  return btf.type(btf.skipModifiers(id, true));
}

const isComposite = (t: AnyType): boolean => t.kind === 'STRUCT' || t.kind === 'UNION';
const isAnyEnum = (t: AnyType): boolean => t.kind === 'ENUM' || t.kind === 'ENUM64';

/** Same kind, counting ENUM and ENUM64 as one. */
export function kindsCompatible(a: AnyType, b: AnyType): boolean {
  return a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
}

/** Whether a field of local type `localId` can be relocated onto a target field of type `targetId`. */
export function fieldsCompatible(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < MAX_COMPAT_DEPTH; depth++) {
    const l = skip(local, localId);
    const t = skip(target, targetId);
    if (isComposite(l) && isComposite(t)) return true;
    if (!kindsCompatible(l, t)) return false;
    switch (l.kind) {
      case 'PTR':
      case 'FLOAT':
        return true;
      case 'FWD':
      case 'ENUM':
      case 'ENUM64': {
        const ln = essentialName(l.name);
        const tn = essentialName(t.name);
        return ln === '' || tn === '' || ln === tn;
      }
      case 'INT':
        // Old-style bitfield integers (non-zero bit offset) are never compatible.
        return l.bitsOffset === 0 && (t as typeof l).bitsOffset === 0;
      case 'ARRAY':
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      default:
        return false;
    }
  }
  throw new BtfError('btf/bad-type', 'type nesting too deep while checking field compatibility', { typeId: localId });
}

/** The compatibility check for TYPE_EXISTS, TYPE_SIZE and TYPE_ID_TARGET. */
export function typesCompatible(local: Btf, localId: number, target: Btf, targetId: number, depth = MAX_COMPAT_DEPTH): boolean {
  for (;;) {
    if (--depth < 0) {
      throw new BtfError('btf/bad-type', 'type nesting too deep while checking type compatibility', { typeId: localId });
    }
    const l = skip(local, localId);
    const t = skip(target, targetId);
    if (!kindsCompatible(l, t)) return false;
    switch (l.kind) {
      case 'VOID':
      case 'STRUCT':
      case 'UNION':
      case 'ENUM':
      case 'ENUM64':
      case 'FWD':
        return true;
      case 'INT':
        return l.bitsOffset === 0 && (t as typeof l).bitsOffset === 0;
      case 'PTR':
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      case 'ARRAY':
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      case 'FUNC_PROTO': {
        const tp = t as typeof l;
        if (l.params.length !== tp.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (!typesCompatible(local, l.params[i]!.type, target, tp.params[i]!.type, depth - 1)) return false;
        }
        localId = l.returnType;
        targetId = tp.returnType;
        continue;
      }
      default:
        return false;
    }
  }
}

/** Names agree once flavours are stripped; an anonymous target matches only an anonymous local. */
function namesMatch(localName: string, targetName: string): boolean {
  if (targetName === '') return localName === '';
  return essentialName(localName) === essentialName(targetName);
}

/** The TYPE_MATCHES relation: every local member/enumerator has a same-named, matching target one. */
export function typesMatch(
  local: Btf,
  localId: number,
  target: Btf,
  targetId: number,
  behindPointer = false,
  depth = MAX_COMPAT_DEPTH,
): boolean {
  for (;;) {
    if (--depth < 0) {
      throw new BtfError('btf/bad-type', 'type nesting too deep while matching types', { typeId: localId });
    }
    const l = skip(local, localId);
    const t = skip(target, targetId);
    if (!namesMatch(l.name, t.name)) return false;
    switch (l.kind) {
      case 'VOID':
        return t.kind === 'VOID';
      case 'FWD':
        if (t.kind === 'FWD') return l.fwdKind === t.fwdKind;
        return (l.fwdKind === 'union' && t.kind === 'UNION') || (l.fwdKind === 'struct' && t.kind === 'STRUCT');
      case 'ENUM':
      case 'ENUM64': {
        if (t.kind !== 'ENUM' && t.kind !== 'ENUM64') return false;
        if (l.size !== t.size) return false;
        const targetNames = t.values.map((v) => v.name);
        return l.values.every((lv) => targetNames.some((tn) => namesMatch(lv.name, tn)));
      }
      case 'STRUCT':
      case 'UNION': {
        if (behindPointer) {
          if (t.kind === l.kind) return true;
          if (t.kind !== 'FWD') return false;
          return (l.kind === 'UNION') === (t.fwdKind === 'union');
        }
        if (t.kind !== l.kind) return false;
        return l.members.every((lm) =>
          t.members.some(
            (tm) => namesMatch(lm.name, tm.name) && typesMatch(local, lm.type, target, tm.type, behindPointer, depth - 1),
          ),
        );
      }
      case 'INT':
        if (t.kind !== 'INT') return false;
        return l.size === t.size && (l.encoding & BTF_INT_SIGNED) === (t.encoding & BTF_INT_SIGNED);
      case 'PTR':
        if (t.kind !== 'PTR') return false;
        behindPointer = true;
        localId = l.type;
        targetId = t.type;
        continue;
      case 'ARRAY':
        if (t.kind !== 'ARRAY' || l.nelems !== t.nelems) return false;
        localId = l.type;
        targetId = t.type;
        continue;
      case 'FUNC_PROTO': {
        if (t.kind !== 'FUNC_PROTO' || l.params.length !== t.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (!typesMatch(local, l.params[i]!.type, target, t.params[i]!.type, behindPointer, depth - 1)) return false;
        }
        localId = l.returnType;
        targetId = t.returnType;
        continue;
      }
      default:
        return false;
    }
  }
}
