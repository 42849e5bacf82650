/** A parsed BTF blob: types by id, lookup by name, size and alignment resolution. */
import { BtfError } from './errors.js';
import type { StringTable } from './strings.js';
import type { BtfKindName, BtfType, BtfVoid } from './types.js';

export const VOID_TYPE: BtfVoid = Object.freeze({ id: 0, kind: 'VOID', name: '' }) as BtfVoid;

/** libbpf gives up following a chain of typedefs/modifiers after this many steps. */
const MAX_RESOLVE_DEPTH = 32;
const POINTER_SIZE = 8;

export class Btf {
  private nameIndex: Map<string, number[]> | undefined;

  constructor(
    /** Own types: `types[i]` has id `startId + i`. */
    readonly types: BtfType[],
    readonly strings: StringTable,
    readonly littleEndian: boolean,
    /** The BTF this one extends (split BTF, e.g. a module over vmlinux). */
    readonly base?: Btf,
  ) {}

  /** The first id this blob defines: 1, or the base's type count for split BTF. */
  get startId(): number {
    return this.base ? this.base.typeCount : 1;
  }

  /** Number of ids in use, counting void (id 0) and the base's types: valid ids are 0 .. typeCount-1. */
  get typeCount(): number {
    return this.startId + this.types.length;
  }

  /** Offsets below this refer to the base's strings. */
  get startStringOffset(): number {
    return this.base ? this.base.startStringOffset + this.base.strings.length : 0;
  }

  type(id: number): BtfType | BtfVoid {
    if (id === 0) return VOID_TYPE;
    const start = this.startId;
    if (id >= start) {
      const t = this.types[id - start];
      if (t !== undefined) return t;
    } else if (this.base) {
      return this.base.type(id);
    }
    throw new BtfError('btf/bad-type-id', `no type with id ${id} (ids go up to ${this.typeCount - 1})`, { typeId: id });
  }

  /** A type that must not be void. */
  nonVoid(id: number): BtfType {
    const t = this.type(id);
    if (t.kind === 'VOID') throw new BtfError('btf/bad-type-id', 'expected a type, found void', { typeId: id });
    return t;
  }

  stringAt(offset: number): string {
    const start = this.startStringOffset;
    if (offset < start && this.base) return this.base.stringAt(offset);
    return this.strings.at(offset - start);
  }

  /** Ids of every type (base first) with this name. */
  idsByName(name: string): readonly number[] {
    if (!this.nameIndex) {
      const index = new Map<string, number[]>();
      for (let id = 1; id < this.typeCount; id++) {
        const t = this.type(id) as BtfType;
        if (t.name === '') continue;
        const list = index.get(t.name);
        if (list) list.push(id);
        else index.set(t.name, [id]);
      }
      this.nameIndex = index;
    }
    return this.nameIndex.get(name) ?? [];
  }

  /** The first type with this name (and kind, when given). */
  findByName(name: string, kind?: BtfKindName): BtfType | undefined {
    for (const id of this.idsByName(name)) {
      const t = this.type(id) as BtfType;
      if (kind === undefined || t.kind === kind) return t;
    }
    return undefined;
  }

  /** Every type of the given kind (base types included). */
  *ofKind<K extends BtfKindName>(kind: K): Generator<Extract<BtfType, { kind: K }>> {
    for (let id = 1; id < this.typeCount; id++) {
      const t = this.type(id) as BtfType;
      if (t.kind === kind) yield t as Extract<BtfType, { kind: K }>;
    }
  }

  /** Follows CONST/VOLATILE/RESTRICT/TYPE_TAG (and TYPEDEF when asked) to the underlying type's id. */
  skipModifiers(id: number, alsoTypedefs = false): number {
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const t = this.type(id);
      switch (t.kind) {
        case 'CONST':
        case 'VOLATILE':
        case 'RESTRICT':
        case 'TYPE_TAG':
          id = t.type;
          continue;
        case 'TYPEDEF':
          if (!alsoTypedefs) return id;
          id = t.type;
          continue;
        default:
          return id;
      }
    }
    throw new BtfError('btf/bad-type', 'typedef/modifier chain too long or circular', { typeId: id });
  }

  /** Size in bytes, through typedefs, modifiers, variables and arrays (libbpf's btf__resolve_size). */
  resolveSize(id: number): number {
    let multiplier = 1;
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const t = this.type(id);
      switch (t.kind) {
        case 'INT':
        case 'STRUCT':
        case 'UNION':
        case 'ENUM':
        case 'ENUM64':
        case 'DATASEC':
        case 'FLOAT':
          return multiplier * t.size;
        case 'PTR':
          return multiplier * POINTER_SIZE;
        case 'TYPEDEF':
        case 'VOLATILE':
        case 'CONST':
        case 'RESTRICT':
        case 'TYPE_TAG':
        case 'VAR':
        case 'DECL_TAG':
          id = t.type;
          continue;
        case 'ARRAY':
          multiplier *= t.nelems;
          id = t.type;
          continue;
        default:
          throw new BtfError('btf/bad-type', `${t.kind} has no size`, { typeId: t.id });
      }
    }
    throw new BtfError('btf/bad-type', 'type chain too long or circular', { typeId: id });
  }

  /** Alignment in bytes (libbpf's btf__align_of): packed structs align to 1. */
  resolveAlignment(id: number, depth = 0): number {
    if (depth > MAX_RESOLVE_DEPTH) throw new BtfError('btf/bad-type', 'type chain too long or circular', { typeId: id });
    const t = this.type(id);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'FLOAT':
        return Math.min(POINTER_SIZE, t.size);
      case 'PTR':
        return POINTER_SIZE;
      case 'TYPEDEF':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'ARRAY':
        return this.resolveAlignment(t.type, depth + 1);
      case 'STRUCT':
      case 'UNION': {
        let max = 1;
        for (const m of t.members) {
          const align = this.resolveAlignment(m.type, depth + 1);
          // A member placed off its natural alignment means the struct is packed.
          if (m.bitfieldSize === 0 && m.bitOffset % (8 * align) !== 0) return 1;
          max = Math.max(max, align);
        }
        return t.size % max === 0 ? max : 1;
      }
      default:
        throw new BtfError('btf/bad-type', `${t.kind} has no alignment`, { typeId: t.id });
    }
  }
}
