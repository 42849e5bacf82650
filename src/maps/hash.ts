import type { Region } from '../vm/memory.js';
import { BpfMap, bytesOfKey, keyAt, keyOfBytes, type MapContext } from './map.js';
import { Errno, UpdateFlag, round8, type MapSpec } from './spec.js';

interface Element {
  region: Region;
}

/**
 * BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH. Each element's value is its own region
 * (so checked mode catches overruns between elements); the index is a JS Map keyed by the key bytes,
 * whose insertion order doubles as the LRU order (a hit moves the key to the back).
 */
export class HashMap extends BpfMap {
  override readonly perCpu: boolean;
  readonly lru: boolean;
  private readonly elements = new Map<number | string, Element>();
  private readonly slot: number;
  private readonly elemSize: number;

  constructor(spec: MapSpec, ctx: MapContext, options: { perCpu?: boolean; lru?: boolean } = {}) {
    super(spec, ctx);
    this.perCpu = options.perCpu ?? false;
    this.lru = options.lru ?? false;
    this.slot = round8(spec.valueSize);
    this.elemSize = this.perCpu ? this.slot * ctx.cpus : Math.max(1, spec.valueSize);
  }

  get size(): number {
    return this.elements.size;
  }

  private touch(key: number | string, element: Element): void {
    if (!this.lru) return;
    this.elements.delete(key);
    this.elements.set(key, element);
  }

  lookupElem(keyAddr: number, cpu: number): number {
    const key = keyAt(this.space.u8, keyAddr, this.spec.keySize);
    const element = this.elements.get(key);
    if (element === undefined) return 0;
    this.touch(key, element);
    return element.region.start + (this.perCpu ? cpu * this.slot : 0);
  }

  /** Insert or find the element for `key`; -errno on failure. */
  private upsert(key: number | string, flags: number): Element | number {
    if ((flags & ~(UpdateFlag.F_LOCK | 3)) !== 0 || (flags & 3) === 3) return -Errno.EINVAL;
    const existing = this.elements.get(key);
    if (existing !== undefined) {
      if ((flags & 3) === UpdateFlag.NOEXIST) return -Errno.EEXIST;
      this.touch(key, existing);
      return existing;
    }
    if ((flags & 3) === UpdateFlag.EXIST) return -Errno.ENOENT;
    if (this.elements.size >= this.spec.maxEntries) {
      if (!this.lru) return -Errno.E2BIG;
      const oldest = this.elements.keys().next();
      if (!oldest.done) this.remove(oldest.value);
    }
    const element = { region: this.space.allocate(this.elemSize, 'map', `map ${this.spec.name} element`) };
    this.elements.set(key, element);
    return element;
  }

  private remove(key: number | string): boolean {
    const element = this.elements.get(key);
    if (element === undefined) return false;
    this.elements.delete(key);
    this.space.release(element.region);
    return true;
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const key = keyAt(this.space.u8, keyAddr, this.spec.keySize);
    // Copy the value first: it may live inside an element this update evicts.
    const value = this.space.u8.slice(valueAddr, valueAddr + this.spec.valueSize);
    const element = this.upsert(key, flags);
    if (typeof element === 'number') return element;
    this.space.u8.set(value, element.region.start + (this.perCpu ? cpu * this.slot : 0));
    return 0;
  }

  override deleteElem(keyAddr: number): number {
    return this.remove(keyAt(this.space.u8, keyAddr, this.spec.keySize)) ? 0 : -Errno.ENOENT;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const element = this.elements.get(keyOfBytes(key));
    if (element === undefined) return undefined;
    const start = element.region.start;
    return this.space.u8.slice(start, start + (this.perCpu ? this.elemSize : this.spec.valueSize));
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    this.checkValue(value);
    const element = this.upsert(keyOfBytes(key), flags);
    if (typeof element === 'number') this.fail(-element, 'update failed');
    if (!this.perCpu) this.space.u8.set(value, element.region.start);
    else for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.space.u8.set(value.subarray(cpu * this.slot, cpu * this.slot + this.spec.valueSize), element.region.start + cpu * this.slot);
    }
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    if (!this.remove(keyOfBytes(key))) this.fail(Errno.ENOENT, 'no such key');
  }

  /** Direct iteration (the default walks nextKey, which is O(n) per step here). */
  override *keys(): IterableIterator<Uint8Array> {
    for (const key of [...this.elements.keys()]) yield bytesOfKey(key, this.spec.keySize);
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    // Kernel semantics: an unknown (or absent) key restarts from the first key.
    const keys = [...this.elements.keys()];
    if (keys.length === 0) return undefined;
    const at = key === undefined ? -1 : keys.indexOf(keyOfBytes(key));
    const next = keys[at + 1];
    return next === undefined ? undefined : bytesOfKey(next, this.spec.keySize);
  }

  override dispose(): void {
    for (const element of this.elements.values()) this.space.release(element.region);
    this.elements.clear();
    super.dispose();
  }
}

/** hash_of_maps / devmap_hash: hash-keyed kernel objects, user side speaks in u32 ids. */
export class ObjectHashMap<T> extends BpfMap {
  private readonly objects = new Map<number | string, { object: T; id: number }>();
  resolve: (id: number) => T | undefined;

  constructor(spec: MapSpec, ctx: MapContext, resolve: (id: number) => T | undefined) {
    super(spec, ctx);
    this.resolve = resolve;
  }

  getAt(keyAddr: number): T | undefined {
    return this.objects.get(keyAt(this.space.u8, keyAddr, this.spec.keySize))?.object;
  }

  lookupElem(): number {
    return 0;
  }

  override deleteElem(keyAddr: number): number {
    return this.objects.delete(keyAt(this.space.u8, keyAddr, this.spec.keySize)) ? 0 : -Errno.ENOENT;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const entry = this.objects.get(keyOfBytes(key));
    return entry === undefined ? undefined : new Uint8Array(new Uint32Array([entry.id]).buffer);
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    const k = keyOfBytes(key);
    if ((flags & 3) === UpdateFlag.NOEXIST && this.objects.has(k)) this.fail(Errno.EEXIST, 'key exists');
    if ((flags & 3) === UpdateFlag.EXIST && !this.objects.has(k)) this.fail(Errno.ENOENT, 'no such key');
    if (!this.objects.has(k) && this.objects.size >= this.spec.maxEntries) this.fail(Errno.E2BIG, 'map is full');
    const id = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, true);
    const object = this.resolve(id);
    if (object === undefined) this.fail(Errno.EBADF, `no object with id ${id}`);
    this.objects.set(k, { object, id });
  }

  set(key: Uint8Array, object: T, id = 0): void {
    this.objects.set(keyOfBytes(key), { object, id });
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    if (!this.objects.delete(keyOfBytes(key))) this.fail(Errno.ENOENT, 'no such key');
  }

  override *keys(): IterableIterator<Uint8Array> {
    for (const key of [...this.objects.keys()]) yield bytesOfKey(key, this.spec.keySize);
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const keys = [...this.objects.keys()];
    const at = key === undefined ? -1 : keys.indexOf(keyOfBytes(key));
    const next = keys[at + 1];
    return next === undefined ? undefined : bytesOfKey(next, this.spec.keySize);
  }
}
