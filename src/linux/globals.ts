import type { Btf, BtfDatasec } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { decodeBtfValue, type Decoded } from '../object/decode.js';
import type { BpfObject, ObjectMap } from '../object/types.js';
import { MapFlag } from './constants.js';
import type { BpfMap } from './map.js';
import { MappedArray } from './mmap-map.js';

/**
 * Global variables (.data, .bss, .rodata and their `.name` variants) by name, what libbpf's skeleton
 * (`skel->bss->x`) and cilium/ebpf's Variable give: offsets, sizes and types from the object's BTF
 * DATASEC (or its symbols), values read and written through the section's mmap'd map, or through
 * lookup/update where the map cannot be mapped, or in the object model before load.
 */

/** How a variable's bytes read as a JavaScript value. */
type Scalar =
  | { kind: 'int'; size: 1 | 2 | 4 | 8; signed: boolean }
  | { kind: 'bool' }
  | { kind: 'float'; size: 4 | 8 }
  | { kind: 'bytes' };

export interface GlobalVariable {
  name: string;
  offset: number;
  size: number;
  /** The variable's type in the object's BTF (absent without BTF). */
  typeId?: number;
}

/** 8-byte integers (and pointers) read as bigint, other numbers as number, bool as boolean, the rest as bytes. */
export type GlobalValue = number | bigint | boolean | Uint8Array;

/** Where a section's bytes live. */
interface GlobalStore {
  readonly kind: 'mmap' | 'syscall' | 'object';
  read(offset: number, size: number): Uint8Array;
  write(offset: number, bytes: Uint8Array): void;
  /** The live bytes, when the store has them in this process. */
  readonly live?: Uint8Array;
  close(): void;
}

class MmapStore implements GlobalStore {
  readonly kind = 'mmap';
  constructor(private readonly mapping: MappedArray) {}
  get live(): Uint8Array { return this.mapping.bytes; }
  read(offset: number, size: number): Uint8Array { return this.mapping.bytes.slice(offset, offset + size); }
  write(offset: number, bytes: Uint8Array): void { this.mapping.bytes.set(bytes, offset); }
  close(): void { this.mapping.close(); }
}

/** Maps without BPF_F_MMAPABLE (older kernels, reused pins): each access is a lookup; writes are read-modify-update. */
class SyscallStore implements GlobalStore {
  readonly kind = 'syscall';
  readonly #key = new Uint8Array(4);
  constructor(private readonly map: BpfMap) {}
  read(offset: number, size: number): Uint8Array { return this.#value().slice(offset, offset + size); }
  write(offset: number, bytes: Uint8Array): void {
    const value = this.#value();
    value.set(bytes, offset);
    this.map.update(this.#key, value);
  }
  close(): void {}
  #value(): Uint8Array {
    const value = this.map.lookup(this.#key);
    if (!value) throw new TsbpfError('linux/no-global-value', `map ${this.map.name} has no value at index 0`);
    return value;
  }
}

/** The object model's initial value, before load: what is set here is what the map is created with. */
class ObjectStore implements GlobalStore {
  readonly kind = 'object';
  constructor(readonly live: Uint8Array) {}
  read(offset: number, size: number): Uint8Array { return this.live.slice(offset, offset + size); }
  write(offset: number, bytes: Uint8Array): void { this.live.set(bytes, offset); }
  close(): void {}
}

export class GlobalsView implements Disposable {
  readonly variables: readonly GlobalVariable[];
  readonly #byName: ReadonlyMap<string, GlobalVariable>;
  #closed = false;

  private constructor(
    /** The section, e.g. `.bss`. */
    readonly section: string,
    variables: GlobalVariable[],
    readonly size: number,
    private readonly store: GlobalStore,
    /** Writes are refused (a loaded .rodata: frozen, and constant to the verifier). */
    readonly readOnly: boolean,
    private readonly btf: Btf | undefined,
  ) {
    this.variables = variables;
    this.#byName = new Map(variables.map((v) => [v.name, v]));
  }

  /** The section of a loaded object: mmap'd when its map is BPF_F_MMAPABLE, else through lookup/update. */
  static forKernelMap(object: BpfObject, spec: ObjectMap, map: BpfMap): GlobalsView {
    const readOnly = spec.origin === 'rodata';
    const mmapable = (map.spec.flags & MapFlag.MMAPABLE) !== 0;
    const store = mmapable ? new MmapStore(new MappedArray(map, { writable: !readOnly })) : new SyscallStore(map);
    return new GlobalsView(spec.section, sectionVariables(object, spec), spec.valueSize, store, readOnly, object.btf);
  }

  /** The section in the object model, before load: `.rodata` set here is what the verifier folds. */
  static forObject(object: BpfObject, section: string): GlobalsView {
    const spec = globalDataMap(object, section);
    spec.initialValue ??= new Uint8Array(spec.valueSize);
    return new GlobalsView(spec.section, sectionVariables(object, spec), spec.valueSize, new ObjectStore(spec.initialValue), false, object.btf);
  }

  /** How values are reached: `mmap` (shared memory), `syscall` (lookup/update) or `object` (before load). */
  get access(): 'mmap' | 'syscall' | 'object' {
    return this.store.kind;
  }

  /**
   * The section's bytes: the live memory for writable mmap'd sections and before load (kept past
   * close(), it reads placeholder pages, no longer the map), otherwise a copy.
   */
  get bytes(): Uint8Array {
    this.#checkOpen();
    const live = this.store.live;
    return live && !this.readOnly ? live.subarray(0, this.size) : this.store.read(0, this.size);
  }

  variable(name: string): GlobalVariable {
    const v = this.#byName.get(name);
    if (!v) {
      throw new TsbpfError('linux/no-global', `no variable ${name} in ${this.section} (variables: ${this.variables.map((x) => x.name).join(', ') || 'none'})`, { section: this.section });
    }
    return v;
  }

  /** A copy of the variable's bytes. */
  read(name: string): Uint8Array {
    this.#checkOpen();
    const v = this.variable(name);
    return this.store.read(v.offset, v.size);
  }

  /** The variable as a number, bigint (8-byte integers), boolean, or bytes (arrays, structs). */
  get(name: string): GlobalValue {
    const v = this.variable(name);
    const bytes = this.read(name);
    const scalar = this.#scalar(v);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (scalar.kind) {
      case 'bool': return bytes[0] !== 0;
      case 'float': return scalar.size === 4 ? view.getFloat32(0, true) : view.getFloat64(0, true);
      case 'int': return readInt(view, scalar.size, scalar.signed);
      case 'bytes': return bytes;
    }
  }

  /** The variable decoded through BTF: structs as objects, arrays as arrays, char arrays as strings. */
  decode(name: string): Decoded {
    const v = this.variable(name);
    const bytes = this.read(name);
    if (this.btf && v.typeId !== undefined) return decodeBtfValue(this.btf, v.typeId, bytes);
    const value = this.get(name);
    return value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
  }

  /** Every variable decoded, by name. */
  toObject(): Record<string, Decoded> {
    return Object.fromEntries(this.variables.map((v) => [v.name, this.decode(v.name)]));
  }

  /** Writes a number, bigint, boolean, or exactly `size` bytes; the programs see it at once when mmap'd. */
  set(name: string, value: GlobalValue): void {
    this.#checkOpen();
    const v = this.variable(name);
    if (this.readOnly) {
      throw new TsbpfError('linux/global-read-only', `${this.section} is read-only once loaded (frozen; the verifier treated ${name} as a constant): set it before load with objectGlobals(object, '${this.section}')`, { section: this.section });
    }
    this.store.write(v.offset, this.#encode(v, value));
  }

  /** Releases the mapping (idempotent); the map itself belongs to the loaded object. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.store.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #encode(v: GlobalVariable, value: GlobalValue): Uint8Array {
    const bad = (why: string): never => {
      throw new TsbpfError('linux/bad-global-value', `${this.section} ${v.name} (${v.size} bytes): ${why}`, { section: this.section });
    };
    if (value instanceof Uint8Array) {
      if (value.byteLength !== v.size) bad(`got ${value.byteLength} bytes`);
      return value;
    }
    const out = new Uint8Array(v.size);
    const view = new DataView(out.buffer);
    const scalar = this.#scalar(v);
    switch (scalar.kind) {
      case 'bytes':
        return bad(`takes a Uint8Array, got ${typeof value}`);
      case 'bool':
        if (typeof value !== 'boolean') bad(`takes a boolean, got ${typeof value}`);
        out[0] = value ? 1 : 0;
        return out;
      case 'float':
        if (typeof value !== 'number') bad(`takes a number, got ${typeof value}`);
        if (scalar.size === 4) view.setFloat32(0, value as number, true);
        else view.setFloat64(0, value as number, true);
        return out;
      case 'int': {
        if (typeof value === 'boolean') bad('takes a number or bigint, got boolean');
        if (typeof value === 'number' && !Number.isSafeInteger(value)) bad(`${value} is not a safe integer`);
        const n = BigInt(value as number | bigint);
        const bits = BigInt(scalar.size * 8);
        // Either reading of the bits is accepted: -1 and 0xffffffff both fill a u32.
        if (n < -(1n << (bits - 1n)) || n >= 1n << bits) bad(`${n} does not fit in ${scalar.size * 8} bits`);
        let bitsLeft = BigInt.asUintN(scalar.size * 8, n);
        for (let i = 0; i < scalar.size; i++, bitsLeft >>= 8n) out[i] = Number(bitsLeft & 0xffn);
        return out;
      }
    }
  }

  #scalar(v: GlobalVariable): Scalar {
    if (!this.btf || v.typeId === undefined) return scalarBySize(v.size, false);
    const t = this.btf.type(this.btf.skipModifiers(v.typeId, true));
    switch (t.kind) {
      case 'INT':
        if (t.encoding & 4) return { kind: 'bool' };
        return scalarBySize(t.size, (t.encoding & 1) !== 0);
      case 'ENUM':
      case 'ENUM64':
        return scalarBySize(t.size, t.signed);
      case 'PTR':
        return scalarBySize(8, false);
      case 'FLOAT':
        return t.size === 4 || t.size === 8 ? { kind: 'float', size: t.size } : { kind: 'bytes' };
      default:
        return { kind: 'bytes' };
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new TsbpfError('linux/closed', `globals view of ${this.section} is closed`, { section: this.section });
  }
}

function readInt(view: DataView, size: 1 | 2 | 4 | 8, signed: boolean): number | bigint {
  switch (size) {
    case 1: return signed ? view.getInt8(0) : view.getUint8(0);
    case 2: return signed ? view.getInt16(0, true) : view.getUint16(0, true);
    case 4: return signed ? view.getInt32(0, true) : view.getUint32(0, true);
    case 8: return signed ? view.getBigInt64(0, true) : view.getBigUint64(0, true);
  }
}

function scalarBySize(size: number, signed: boolean): Scalar {
  return size === 1 || size === 2 || size === 4 || size === 8 ? { kind: 'int', size, signed } : { kind: 'bytes' };
}

/** The global data map of `section`, or an error naming the sections the object has. */
export function globalDataMap(object: BpfObject, section: string): ObjectMap {
  const spec = object.maps.find((m) => (m.origin === 'data' || m.origin === 'rodata' || m.origin === 'bss') && m.section === section);
  if (!spec) {
    const sections = object.maps.filter((m) => m.origin === 'data' || m.origin === 'rodata' || m.origin === 'bss').map((m) => m.section);
    throw new TsbpfError('linux/no-global-section', `no global data section ${section} in ${object.fileName ?? 'the object'} (sections: ${sections.join(', ') || 'none'})`);
  }
  return spec;
}

/** Variables of the section with their BTF types (by name from the DATASEC). */
function sectionVariables(object: BpfObject, spec: ObjectMap): GlobalVariable[] {
  const btf = object.btf;
  const datasec = btf?.findByName(spec.section, 'DATASEC') as BtfDatasec | undefined;
  const typeIds = new Map<string, number>();
  for (const v of datasec?.vars ?? []) {
    const variable = btf!.type(v.type);
    if (variable.kind === 'VAR') typeIds.set(variable.name, variable.type);
  }
  return (spec.variables ?? []).map((v) => {
    const typeId = typeIds.get(v.name);
    return typeId === undefined ? { ...v } : { ...v, typeId };
  });
}

/**
 * The global variables of section `section` in an opened object, before load: values set here are
 * the map's initial contents (for `.rodata`, constants the verifier folds).
 */
export function objectGlobals(object: BpfObject, section: string): GlobalsView {
  return GlobalsView.forObject(object, section);
}
