import type { Region } from '../vm/memory.js';
import { copyBytes } from './bytes.js';
import { BpfMap, type MapContext } from './map.js';
import { Errno, MapFlag, UpdateFlag, round8, type MapSpec } from './spec.js';
import { ValueLayout } from './value-fields.js';

/** Index of a 4-byte array key. */
const indexOf = (key: Uint8Array): number => (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
const keyOfIndex = (i: number): Uint8Array => new Uint8Array(new Uint32Array([i]).buffer);
/** The kernel's checks: `(flags & ~BPF_F_LOCK) > BPF_EXIST` is EINVAL, and so is BPF_F_LOCK on a value without a bpf_spin_lock. */
const validFlags = (flags: number, lockable: boolean): boolean =>
  (flags & ~UpdateFlag.F_LOCK) <= UpdateFlag.EXIST && (lockable || (flags & UpdateFlag.F_LOCK) === 0);

/** An array map: one whose values hold special fields (bpf_spin_lock ...) copies around them. */
export function arrayMap(spec: MapSpec, ctx: MapContext, perCpu = false): ArrayMap {
  return spec.valueFields?.length ? new ArrayMapWithFields(spec, ctx, perCpu) : new ArrayMap(spec, ctx, perCpu);
}

/**
 * BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY: preallocated, zero-filled, indexed by a u32; entries cannot be
 * deleted. Values live in one region, `elemSize` apart (8-byte rounded like the kernel); per-CPU
 * arrays keep `cpus` slots per index, index-major. Built by `arrayMap`: program-side updates here
 * copy whole values (the per-packet path stays small), ArrayMapWithFields' step around special fields.
 */
export class ArrayMap extends BpfMap {
  override readonly perCpu: boolean;
  readonly values: Region;
  protected readonly layout: ValueLayout;
  private readonly slot: number;
  private readonly stride: number;

  constructor(spec: MapSpec, ctx: MapContext, perCpu = false) {
    super(spec, ctx);
    this.perCpu = perCpu;
    this.layout = new ValueLayout(spec);
    this.slot = round8(spec.valueSize);
    this.stride = this.slot * (perCpu ? ctx.cpus : 1);
    const readOnlyForPrograms = ((spec.flags ?? 0) & MapFlag.RDONLY_PROG) !== 0;
    this.values = ctx.space.allocate(Math.max(1, spec.maxEntries * this.stride), 'map', `map ${spec.name} values`, !readOnlyForPrograms);
    if (spec.initialValue) ctx.space.u8.set(spec.initialValue.subarray(0, spec.valueSize), this.values.start);
  }

  /** Address of entry `index` for `cpu` (no bounds check). */
  valueAddress(index: number, cpu = 0): number {
    return this.values.start + index * this.stride + (this.perCpu ? cpu * this.slot : 0);
  }

  lookupElem(keyAddr: number, cpu: number): number {
    const index = this.space.view.getUint32(keyAddr, true);
    return index < this.spec.maxEntries ? this.valueAddress(index, cpu) : 0;
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const index = this.space.view.getUint32(keyAddr, true);
    if (!validFlags(flags, false)) return -Errno.EINVAL;
    if (index >= this.spec.maxEntries) return -Errno.E2BIG;
    if ((flags & 3) === UpdateFlag.NOEXIST) return -Errno.EEXIST;
    copyBytes(this.space.view, this.space.u8, this.valueAddress(index, cpu), valueAddr, this.spec.valueSize);
    return 0;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const index = indexOf(key);
    if (index >= this.spec.maxEntries) return undefined;
    if (!this.perCpu) return this.layout.clearFields(this.space.u8.slice(this.valueAddress(index), this.valueAddress(index) + this.spec.valueSize));
    const base = this.valueAddress(index, 0);
    const copy = this.space.u8.slice(base, base + this.stride);
    for (let cpu = 0; cpu < this.cpus; cpu++) this.layout.clearFields(copy, cpu * this.slot);
    return copy;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    this.checkValue(value);
    if (!validFlags(flags, this.layout.hasSpinLock)) this.fail(Errno.EINVAL, `bad update flags ${flags}`);
    const index = indexOf(key);
    if (index >= this.spec.maxEntries) this.fail(Errno.E2BIG, `index ${index} >= max_entries ${this.spec.maxEntries}`);
    if ((flags & 3) === UpdateFlag.NOEXIST) this.fail(Errno.EEXIST, 'array entries always exist');
    if (!this.perCpu) this.layout.write(this.space.u8, this.valueAddress(index), value);
    else for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.layout.write(this.space.u8, this.valueAddress(index, cpu), value.subarray(cpu * this.slot, cpu * this.slot + this.spec.valueSize));
    }
  }

  delete(_key: Uint8Array): void {
    this.fail(Errno.EINVAL, 'array entries cannot be deleted');
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const next = key === undefined ? 0 : indexOf(key) + 1;
    if (key !== undefined && indexOf(key) >= this.spec.maxEntries) return this.spec.maxEntries > 0 ? keyOfIndex(0) : undefined;
    return next < this.spec.maxEntries ? keyOfIndex(next) : undefined;
  }

  override dispose(): void {
    this.space.release(this.values);
    super.dispose();
  }
}

/** Arrays whose values hold special fields: program-side updates copy around them and may take BPF_F_LOCK. */
class ArrayMapWithFields extends ArrayMap {
  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const index = this.space.view.getUint32(keyAddr, true);
    if (!validFlags(flags, this.layout.hasSpinLock)) return -Errno.EINVAL;
    if (index >= this.spec.maxEntries) return -Errno.E2BIG;
    if ((flags & 3) === UpdateFlag.NOEXIST) return -Errno.EEXIST;
    this.layout.copy(this.space.view, this.space.u8, this.valueAddress(index, cpu), valueAddr, this.spec.valueSize);
    return 0;
  }
}

/**
 * Arrays whose values are kernel objects named by fd (prog_array, perf_event_array, array_of_maps,
 * devmap, cpumap, xskmap, cgroup_array): programs never see the value bytes, only helpers use them.
 * The runtime stores the objects; the user side speaks in u32 ids through `resolve`.
 */
export class ObjectArrayMap<T> extends BpfMap {
  private readonly objects: (T | undefined)[];
  private readonly ids: Uint32Array;
  /** Turns a user-side u32 (fd/id/ifindex) into the object; undefined means "bad fd". */
  resolve: (id: number) => T | undefined;

  constructor(spec: MapSpec, ctx: MapContext, resolve: (id: number) => T | undefined) {
    super(spec, ctx);
    this.objects = new Array<T | undefined>(spec.maxEntries);
    this.ids = new Uint32Array(spec.maxEntries);
    this.resolve = resolve;
  }

  /** The object at `index` (helpers: tail_call, redirect_map, map-in-map lookups). */
  get(index: number): T | undefined {
    return index < this.spec.maxEntries ? this.objects[index] : undefined;
  }

  set(index: number, object: T | undefined, id = 0): void {
    if (index >= this.spec.maxEntries) this.fail(Errno.E2BIG, `index ${index} >= max_entries ${this.spec.maxEntries}`);
    this.objects[index] = object;
    this.ids[index] = object === undefined ? 0 : id;
  }

  /** Map-in-map: the inner map as a program holds maps (its handle); other objects: NULL. */
  lookupElem(keyAddr: number, _cpu: number): number {
    const object = this.get(this.space.view.getUint32(keyAddr, true));
    return object instanceof BpfMap ? object.handle : 0;
  }

  override deleteElem(keyAddr: number): number {
    const index = this.space.view.getUint32(keyAddr, true);
    if (index >= this.spec.maxEntries) return -Errno.E2BIG;
    if (this.objects[index] === undefined) return -Errno.ENOENT;
    this.objects[index] = undefined;
    return 0;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const index = indexOf(key);
    if (this.objects[index] === undefined) return undefined;
    return keyOfIndex(this.ids[index]!).slice(0, Math.min(4, this.spec.valueSize));
  }

  update(key: Uint8Array, value: Uint8Array, _flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    const index = indexOf(key);
    const id = indexOf(value.length >= 4 ? value : new Uint8Array(4));
    const object = this.resolve(id);
    if (object === undefined) this.fail(Errno.EBADF, `no object with id ${id}`);
    this.set(index, object, id);
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    const index = indexOf(key);
    if (index >= this.spec.maxEntries) this.fail(Errno.E2BIG, `index ${index} out of range`);
    if (this.objects[index] === undefined) this.fail(Errno.ENOENT, `no entry at ${index}`);
    this.objects[index] = undefined;
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    // Like the kernel's fd arrays, iteration walks every index, populated or not.
    const next = key === undefined ? 0 : indexOf(key) + 1;
    return next < this.spec.maxEntries ? keyOfIndex(next) : undefined;
  }
}
