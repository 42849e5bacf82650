/**
 * CO-RE relocation (libbpf semantics): for each `.BTF.ext` CO-RE record, find the target types whose
 * essential name matches the local root type, match the access spec against each, and compute the value
 * the instruction must carry in the target. No candidate -> a "poison" result (libbpf then replaces the
 * instruction with a call to the invalid helper 0xbad2310, see core-patch.ts); candidates that disagree
 * -> BtfError 'core/ambiguous' (libbpf fails the load), unless `ambiguityPoisons` is set.
 */
import type { Btf } from './btf.js';
import { essentialName, kindsCompatible } from './core-compat.js';
import { isEnumvalKind, isFieldKind, matchCoreSpec, parseCoreSpec, type CoreSpec } from './core-spec.js';
import { BtfError } from './errors.js';
import { CORE_RELO_KIND_NAMES, CoreReloKind, type CoreRelo } from './ext.js';
import { BTF_INT_SIGNED, type BtfType } from './types.js';

export interface CoreRelocationResult {
  relo: CoreRelo;
  /** The value the compiler put in the instruction (computed from the local BTF). */
  origValue: bigint;
  /** The value for the target. */
  newValue: bigint;
  /** Memory access size of the field locally and in the target (field byte-offset relocations only). */
  origSize: number;
  newSize: number;
  /** Whether the instruction must currently hold `origValue` (libbpf skips the check for bitfields). */
  validate: boolean;
  /** The relocation could not be resolved: the instruction is to be poisoned. */
  poison: boolean;
  /** Load/store size differs and the field is not a pointer or unsigned int: poison loads/stores. */
  failMemSizeAdjust: boolean;
  /** The target candidate used (0 when none). */
  targetTypeId: number;
  /** The target-side spec (undefined when poisoned or for TYPE_ID_LOCAL). */
  targetSpec?: CoreSpec;
}

export interface RelocateCoreOptions {
  /** Treat ambiguous candidates as "poison" instead of throwing. */
  ambiguityPoisons?: boolean;
}

/** Thrown inside the calculation to ask for a poisoned instruction (libbpf's -EUCLEAN). */
class PoisonRequest {}

interface FieldValue {
  value: bigint;
  size: number;
  typeId: number;
  validate: boolean;
}

function fieldValue(kind: CoreReloKind, spec: CoreSpec | undefined): FieldValue {
  const out: FieldValue = { value: 0n, size: 0, typeId: 0, validate: true };
  if (kind === CoreReloKind.FIELD_EXISTS) {
    out.value = spec ? 1n : 0n;
    return out;
  }
  if (!spec) throw new PoisonRequest();
  const btf = spec.btf;
  const acc = spec.accessors[spec.accessors.length - 1]!;
  if (acc.name === undefined) {
    // The access ends on an array element (or the root): only offset and size make sense.
    const size = btf.resolveSize(acc.typeId);
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET) {
      out.value = BigInt(Math.floor(spec.bitOffset / 8));
      out.size = size;
      out.typeId = acc.typeId;
    } else if (kind === CoreReloKind.FIELD_BYTE_SIZE) {
      out.value = BigInt(size);
    } else {
      throw new BtfError('core/bad-relo', `${CORE_RELO_KIND_NAMES[kind]} relocation cannot apply to an array element`, {
        typeId: spec.rootTypeId,
      });
    }
    return out;
  }
  const parent = btf.type(acc.typeId) as BtfType;
  if (parent.kind !== 'STRUCT' && parent.kind !== 'UNION') {
    throw new BtfError('core/bad-relo', 'member access on a non-composite', { typeId: acc.typeId });
  }
  const member = parent.members[acc.index]!;
  const fieldTypeId = btf.skipModifiers(member.type, true);
  const fieldType = btf.type(fieldTypeId);
  const bitOff = spec.bitOffset;
  let bitSize = member.bitfieldSize;
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    if (fieldType.kind !== 'INT' && fieldType.kind !== 'ENUM' && fieldType.kind !== 'ENUM64') {
      throw new BtfError('core/bad-relo', `bitfield of kind ${fieldType.kind}`, { typeId: fieldTypeId });
    }
    // The smallest naturally aligned load, starting from the declared type's size, that covers the bits.
    byteSize = fieldType.size;
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) {
        throw new BtfError('core/bad-relo', 'bitfield cannot be read with one 64-bit load', { typeId: acc.typeId });
      }
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = btf.resolveSize(fieldTypeId);
    byteOff = Math.floor(bitOff / 8);
    bitSize = byteSize * 8;
  }
  // Compilers and libbpf may pick different loads for bitfields, so only some values are checked.
  out.validate = !bitfield;
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      out.value = BigInt(byteOff);
      if (!bitfield) {
        out.size = byteSize;
        out.typeId = fieldTypeId;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      out.value = BigInt(byteSize);
      break;
    case CoreReloKind.FIELD_SIGNED: {
      const signed =
        ((fieldType.kind === 'ENUM' || fieldType.kind === 'ENUM64') && fieldType.signed) ||
        (fieldType.kind === 'INT' && (fieldType.encoding & BTF_INT_SIGNED) !== 0);
      out.value = signed ? 1n : 0n;
      out.validate = true;
      break;
    }
    case CoreReloKind.FIELD_LSHIFT_U64:
      // The shift that puts the field's top bit at bit 63 after a byteSize load in the BTF's byte order.
      out.value = btf.littleEndian
        ? BigInt(64 - (bitOff + bitSize - byteOff * 8))
        : BigInt((8 - byteSize) * 8 + (bitOff - byteOff * 8));
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      out.value = BigInt(64 - bitSize);
      out.validate = true;
      break;
    default:
      throw new BtfError('core/bad-relo', `unsupported field relocation kind ${kind}`);
  }
  return out;
}

function typeValue(kind: CoreReloKind, spec: CoreSpec | undefined): bigint {
  if (!spec) return 0n;
  switch (kind) {
    case CoreReloKind.TYPE_ID_TARGET:
      return BigInt(spec.rootTypeId);
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
      return 1n;
    case CoreReloKind.TYPE_SIZE:
      return BigInt(spec.btf.resolveSize(spec.rootTypeId));
    default:
      throw new BtfError('core/bad-relo', `unsupported type relocation kind ${kind}`);
  }
}

function enumvalValue(kind: CoreReloKind, spec: CoreSpec | undefined): bigint {
  if (kind === CoreReloKind.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (!spec) throw new PoisonRequest();
  const acc = spec.accessors[0]!;
  const t = spec.btf.type(acc.typeId);
  if (t.kind === 'ENUM') return BigInt.asUintN(64, BigInt(t.values[acc.index]!.value | 0)); // 32-bit values sign-extend, as in libbpf
  if (t.kind === 'ENUM64') return BigInt.asUintN(64, t.values[acc.index]!.value);
  throw new BtfError('core/bad-relo', 'enum value relocation on a non-enum', { typeId: acc.typeId });
}

/** Compute one relocation against one target spec (undefined: no candidate matched). */
function calculate(relo: CoreRelo, local: CoreSpec, target: CoreSpec | undefined, targetTypeId: number): CoreRelocationResult {
  const r: CoreRelocationResult = {
    relo,
    origValue: 0n,
    newValue: 0n,
    origSize: 0,
    newSize: 0,
    validate: true,
    poison: false,
    failMemSizeAdjust: false,
    targetTypeId,
    targetSpec: target,
  };
  try {
    if (isFieldKind(relo.kind)) {
      const o = fieldValue(relo.kind, local);
      const n = fieldValue(relo.kind, target);
      r.origValue = o.value;
      r.origSize = o.size;
      r.validate = o.validate;
      r.newValue = n.value;
      r.newSize = n.size;
      if (o.size !== n.size && target) {
        const ot = local.btf.type(o.typeId);
        const nt = target.btf.type(n.typeId);
        // Resizing a load is safe for pointers and unsigned integers (zero extension keeps the value).
        const bothPointers = ot.kind === 'PTR' && nt.kind === 'PTR';
        const bothUnsigned =
          ot.kind === 'INT' && nt.kind === 'INT' && ot.encoding !== BTF_INT_SIGNED && nt.encoding !== BTF_INT_SIGNED;
        r.failMemSizeAdjust = !bothPointers && !bothUnsigned;
      }
    } else if (isEnumvalKind(relo.kind)) {
      r.origValue = enumvalValue(relo.kind, local);
      r.newValue = enumvalValue(relo.kind, target);
    } else {
      r.origValue = typeValue(relo.kind, local);
      r.newValue = typeValue(relo.kind, target);
      if (relo.kind === CoreReloKind.TYPE_ID_TARGET) r.validate = false;
    }
  } catch (e) {
    if (!(e instanceof PoisonRequest)) throw e;
    r.poison = true;
    r.targetSpec = undefined;
  }
  return r;
}

/** Target type ids by essential name, built once per target BTF. */
const essentialIndexes = new WeakMap<Btf, Map<string, number[]>>();

function candidatesByEssentialName(target: Btf, name: string): readonly number[] {
  let index = essentialIndexes.get(target);
  if (!index) {
    index = new Map();
    for (let id = 1; id < target.typeCount; id++) {
      const t = target.type(id);
      if (t.name === '') continue;
      const key = essentialName(t.name);
      const list = index.get(key);
      if (list) list.push(id);
      else index.set(key, [id]);
    }
    essentialIndexes.set(target, index);
  }
  return index.get(name) ?? [];
}

/** Target types a local root type may relocate to: same essential name, compatible kind. */
export function findCandidates(local: Btf, localTypeId: number, target: Btf): number[] {
  const lt = local.type(localTypeId);
  const name = essentialName(lt.name);
  if (name === '') {
    throw new BtfError('core/bad-relo', 'CO-RE relocation on an anonymous type is not supported', { typeId: localTypeId });
  }
  return candidatesByEssentialName(target, name).filter((id) => kindsCompatible(lt, target.type(id)));
}

/** Resolve one CO-RE record against the target BTF. */
export function relocateCoreOne(
  local: Btf,
  relo: CoreRelo,
  target: Btf,
  options: RelocateCoreOptions = {},
): CoreRelocationResult {
  const localSpec = parseCoreSpec(local, relo.typeId, relo.accessString, relo.kind);
  if (relo.kind === CoreReloKind.TYPE_ID_LOCAL) {
    const id = BigInt(relo.typeId);
    return {
      relo, origValue: id, newValue: id, origSize: 0, newSize: 0, validate: true, poison: false,
      failMemSizeAdjust: false, targetTypeId: 0,
    };
  }
  let chosen: CoreRelocationResult | undefined;
  for (const candidate of findCandidates(local, relo.typeId, target)) {
    const targetSpec = matchCoreSpec(localSpec, relo.kind, target, candidate);
    if (!targetSpec) continue;
    const r = calculate(relo, localSpec, targetSpec, candidate);
    if (!chosen) {
      chosen = r;
      continue;
    }
    const sameOffset = !isFieldKind(relo.kind) || chosen.targetSpec?.bitOffset === targetSpec.bitOffset;
    const sameDecision = r.poison === chosen.poison && (r.poison || r.newValue === chosen.newValue);
    if (!sameOffset || !sameDecision) {
      if (options.ambiguityPoisons) return { ...calculate(relo, localSpec, undefined, 0), poison: true };
      throw new BtfError(
        'core/ambiguous',
        `${CORE_RELO_KIND_NAMES[relo.kind]} relocation at insn offset ${relo.insnOff} ("${relo.accessString}") is ambiguous: ` +
          `candidates [${chosen.targetTypeId}] and [${candidate}] give ${chosen.newValue} and ${r.newValue}`,
        { typeId: relo.typeId },
      );
    }
  }
  return chosen ?? calculate(relo, localSpec, undefined, 0);
}

/** Resolve every record (e.g. one section's `coreRelos` from `.BTF.ext`) against the target BTF. */
export function relocateCore(
  local: Btf,
  relos: readonly CoreRelo[],
  target: Btf,
  options: RelocateCoreOptions = {},
): CoreRelocationResult[] {
  return relos.map((r) => relocateCoreOne(local, r, target, options));
}
