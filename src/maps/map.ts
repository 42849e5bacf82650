import type { AddressSpace } from '../vm/memory.js';
import { allocateHandle, setHandleId } from './handle.js';
import { Errno, MapError, UpdateFlag, mapTypeName, round8, type MapSpec } from './spec.js';

export interface MapContext {
  space: AddressSpace;
  /** Possible CPUs: the number of slots in per-CPU maps. */
  cpus: number;
}

/**
 * A map living in the address space. Two faces over one store:
 * - the program side (helpers) works with addresses and returns 0 or -errno, never throws, allocates
 *   nothing on lookups: it is on the per-packet path;
 * - the user side works with byte arrays and throws MapError with the kernel's errno, like bpf().
 * Per-CPU values on the user side are `cpus` slots of round8(valueSize) bytes, as the kernel's.
 */
export abstract class BpfMap {
  readonly spec: MapSpec;
  readonly space: AddressSpace;
  readonly cpus: number;
  /** What LD_IMM64 (map fd/idx) puts in a register: the address of this map's handle region (handle.ts). */
  readonly handle: number;
  private mapId = 0;
  /** Per-CPU maps keep one slot per CPU. */
  readonly perCpu: boolean = false;

  constructor(spec: MapSpec, ctx: MapContext) {
    this.spec = spec;
    this.space = ctx.space;
    this.cpus = ctx.cpus;
    this.handle = allocateHandle(ctx.space, spec);
  }

  /** Set by the registry; programs read it at `map->id`. */
  get id(): number {
    return this.mapId;
  }
  set id(id: number) {
    this.mapId = id;
    setHandleId(this.space, this.handle, id);
  }

  get name(): string {
    return this.spec.name;
  }
  get typeName(): string {
    return mapTypeName(this.spec.type);
  }

  // ---- program side -------------------------------------------------------------------------

  /** Address of the value for the key at `keyAddr` (this CPU's slot for per-CPU maps), or 0. */
  abstract lookupElem(keyAddr: number, cpu: number): number;
  /** 0 or -errno. */
  updateElem(_keyAddr: number, _valueAddr: number, _flags: number, _cpu: number): number {
    return -Errno.EINVAL;
  }
  deleteElem(_keyAddr: number): number {
    return -Errno.EINVAL;
  }
  pushElem(_valueAddr: number, _flags: number): number {
    return -Errno.ENOTSUPP;
  }
  popElem(_valueAddr: number): number {
    return -Errno.ENOTSUPP;
  }
  peekElem(_valueAddr: number): number {
    return -Errno.ENOTSUPP;
  }

  // ---- user side ----------------------------------------------------------------------------

  /** The value (all CPUs' slots for per-CPU maps) as a copy, or undefined. */
  abstract lookup(key: Uint8Array): Uint8Array | undefined;
  abstract update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  abstract delete(key: Uint8Array): void;
  /** The key after `key` (the first key when undefined), or undefined at the end. */
  abstract nextKey(key?: Uint8Array): Uint8Array | undefined;

  *keys(): IterableIterator<Uint8Array> {
    let key = this.nextKey();
    while (key !== undefined) {
      yield key;
      key = this.nextKey(key);
    }
  }

  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  lookupAndDelete(key: Uint8Array): Uint8Array | undefined {
    const value = this.lookup(key);
    if (value !== undefined) this.delete(key);
    return value;
  }

  /** BPF_MAP_LOOKUP_BATCH-like: up to `count` entries after `cursor`; the next cursor or undefined. */
  lookupBatch(count: number, cursor?: Uint8Array): { entries: [Uint8Array, Uint8Array][]; cursor?: Uint8Array } {
    const entries: [Uint8Array, Uint8Array][] = [];
    let key = this.nextKey(cursor);
    while (key !== undefined && entries.length < count) {
      const value = this.lookup(key);
      if (value !== undefined) entries.push([key, value]);
      key = this.nextKey(key);
    }
    return key === undefined ? { entries } : { entries, cursor: entries[entries.length - 1]?.[0] };
  }

  updateBatch(entries: Iterable<[Uint8Array, Uint8Array]>, flags: number = UpdateFlag.ANY): number {
    let n = 0;
    for (const [key, value] of entries) {
      this.update(key, value, flags);
      n++;
    }
    return n;
  }

  deleteBatch(keys: Iterable<Uint8Array>): number {
    let n = 0;
    for (const key of keys) {
      this.delete(key);
      n++;
    }
    return n;
  }

  /** Byte size of one user-side value (all CPU slots for per-CPU maps). */
  get userValueSize(): number {
    return this.perCpu ? this.cpus * round8(this.spec.valueSize) : this.spec.valueSize;
  }

  protected checkKey(key: Uint8Array): void {
    if (key.length !== this.spec.keySize) {
      throw new MapError(Errno.EINVAL, `map ${this.name}: key is ${key.length} bytes, expected ${this.spec.keySize}`);
    }
  }
  protected checkValue(value: Uint8Array): void {
    if (value.length !== this.userValueSize) {
      throw new MapError(Errno.EINVAL, `map ${this.name}: value is ${value.length} bytes, expected ${this.userValueSize}`);
    }
  }
  protected fail(errno: number, what: string): never {
    throw new MapError(errno, `map ${this.name}: ${what}`);
  }

  /** Frees the map's regions. */
  dispose(): void {
    const region = this.space.regionAt(this.handle);
    if (region) this.space.release(region);
  }
}

/** Read a key at an address as a Map key: a number for 4-byte keys, else a latin1 string. */
export function keyAt(u8: Uint8Array, address: number, size: number): number | string {
  if (size === 4) return (u8[address]! | (u8[address + 1]! << 8) | (u8[address + 2]! << 16) | (u8[address + 3]! << 24)) >>> 0;
  // Two bytes per UTF-16 code unit, one fromCharCode call: map lookups are on the per-packet path.
  const half = size >> 1;
  let s = half <= 8 ? shortKey(u8, address, half) : longKey(u8, address, half);
  if (size & 1) s += String.fromCharCode(u8[address + size - 1]!);
  return s;
}

/** Little-endian u16 at `a`: one UTF-16 code unit of a key string. */
const unitAt = (u8: Uint8Array, a: number): number => u8[a]! | (u8[a + 1]! << 8);

/** Keys up to 17 bytes (flow tuples ...): fromCharCode with its arguments spelled out is twice as fast as apply. */
function shortKey(u8: Uint8Array, a: number, half: number): string {
  const c = String.fromCharCode;
  switch (half) {
    case 0: return '';
    case 1: return c(unitAt(u8, a));
    case 2: return c(unitAt(u8, a), unitAt(u8, a + 2));
    case 3: return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4));
    case 4: return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4), unitAt(u8, a + 6));
    case 5: return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4), unitAt(u8, a + 6), unitAt(u8, a + 8));
    case 6:
      return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4), unitAt(u8, a + 6), unitAt(u8, a + 8), unitAt(u8, a + 10));
    case 7:
      return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4), unitAt(u8, a + 6), unitAt(u8, a + 8), unitAt(u8, a + 10),
        unitAt(u8, a + 12));
    default:
      return c(unitAt(u8, a), unitAt(u8, a + 2), unitAt(u8, a + 4), unitAt(u8, a + 6), unitAt(u8, a + 8), unitAt(u8, a + 10),
        unitAt(u8, a + 12), unitAt(u8, a + 14));
  }
}

function longKey(u8: Uint8Array, address: number, half: number): string {
  const units = half < KEY_UNITS.length ? KEY_UNITS[half]! : new Array<number>(half);
  for (let i = 0; i < half; i++) units[i] = unitAt(u8, address + 2 * i);
  return String.fromCharCode.apply(null, units);
}

/**
 * Scratch for keyAt, one array per length (keys up to 64 bytes), so building a key allocates only
 * the string (no slice of a longer scratch per call).
 */
const KEY_UNITS: number[][] = Array.from({ length: 33 }, (_, half) => new Array<number>(half).fill(0));

export function keyOfBytes(key: Uint8Array): number | string {
  return keyAt(key, 0, key.length);
}

export function bytesOfKey(key: number | string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (typeof key === 'number') {
    new DataView(out.buffer).setUint32(0, key, true);
    return out;
  }
  for (let i = 0; i < size >> 1; i++) {
    const unit = key.charCodeAt(i);
    out[2 * i] = unit & 0xff;
    out[2 * i + 1] = unit >> 8;
  }
  if (size & 1) out[size - 1] = key.charCodeAt(size >> 1);
  return out;
}
