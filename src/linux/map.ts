import { TsbpfError } from '../errors.js';
import { MapBatchAttr, MapCreateAttr, MapElemAttr, MapFreezeAttr } from './attr.js';
import { openPinned, pinFd } from './bpffs.js';
import { MapType, nameOf, UpdateFlag, type MapTypeName, type UpdateFlagName } from './constants.js';
import { perCpuSlotSize, possibleCpuCount } from './cpus.js';
import { BpfSyscallError } from './errors.js';
import { Errno } from './errno.js';
import { FdObject } from './fd.js';
import { readNumber, readString } from './layout.js';
import { MapInfoLayout } from './info.js';
import { closeFd } from './libc.js';
import { fdFromId, objectIds, objectInfo } from './objects.js';
import { bpf, bpfTry } from './syscall.js';

export interface MapCreateOptions {
  type: MapTypeName | number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** BPF_F_* map flags (see MapFlag). */
  flags?: number;
  /** Up to 15 characters, [A-Za-z0-9_.]. */
  name?: string;
  /** The template map for ARRAY_OF_MAPS / HASH_OF_MAPS. */
  innerMap?: BpfMap;
  numaNode?: number;
  ifindex?: number;
  btf?: { fd: number; keyTypeId: number; valueTypeId: number; vmlinuxValueTypeId?: number };
  /** map_extra: bloom filter hash count, arena address hint ... */
  extra?: bigint | number;
}

/** What describes a map once created (from the create call or from BPF_OBJ_GET_INFO_BY_FD). */
export interface MapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

export interface MapInfo extends MapSpec {
  id: number;
  typeName: string;
  ifindex: number;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  mapExtra: number;
}

export interface BatchResult {
  keys: Uint8Array[];
  values: Uint8Array[];
  /** Token for the next call; undefined once the whole map has been walked. */
  nextBatch: Uint8Array | undefined;
}

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE,
]);

const updateFlagValue = (flag: UpdateFlagName | number): number => (typeof flag === 'number' ? flag : UpdateFlag[flag]);

export class BpfMap extends FdObject {
  readonly spec: Readonly<MapSpec>;
  #id: number | undefined;

  /** Takes ownership of `fd`. */
  constructor(fd: number, spec: MapSpec) {
    super(fd);
    this.spec = spec;
  }

  static create(options: MapCreateOptions): BpfMap {
    const type = typeof options.type === 'number' ? options.type : MapType[options.type];
    if (type === undefined) throw new TsbpfError('linux/unknown-map-type', `unknown map type ${String(options.type)}`);
    const { ret } = bpf('MAP_CREATE', MapCreateAttr, {
      map_type: type,
      key_size: options.keySize,
      value_size: options.valueSize,
      max_entries: options.maxEntries,
      map_flags: options.flags ?? 0,
      inner_map_fd: options.innerMap?.fd ?? 0,
      numa_node: options.numaNode ?? 0,
      map_name: options.name ?? '',
      map_ifindex: options.ifindex ?? 0,
      btf_fd: options.btf?.fd ?? 0,
      btf_key_type_id: options.btf?.keyTypeId ?? 0,
      btf_value_type_id: options.btf?.valueTypeId ?? 0,
      btf_vmlinux_value_type_id: options.btf?.vmlinuxValueTypeId ?? 0,
      map_extra: options.extra ?? 0,
    });
    return new BpfMap(ret, {
      type, keySize: options.keySize, valueSize: options.valueSize, maxEntries: options.maxEntries,
      flags: options.flags ?? 0, name: (options.name ?? '').slice(0, 15),
    });
  }

  /** Wraps an fd this object will own, reading the map's shape from the kernel. */
  static fromFd(fd: number): BpfMap {
    try {
      const info = readMapInfo(fd);
      const map = new BpfMap(fd, info);
      map.#id = info.id;
      return map;
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  static fromPin(path: string): BpfMap {
    return BpfMap.fromFd(openPinned(path));
  }

  /** The map with this id, or undefined if there is none. */
  static fromId(id: number): BpfMap | undefined {
    const fd = fdFromId('map', id);
    return fd === undefined ? undefined : BpfMap.fromFd(fd);
  }

  /** Ids of every map in the kernel. */
  static ids(): Generator<number> {
    return objectIds('map');
  }

  protected describe(): string {
    return `map ${this.spec.name || '(unnamed)'}`;
  }

  get type(): number { return this.spec.type; }
  get typeName(): string { return nameOf(MapType, this.spec.type); }
  get keySize(): number { return this.spec.keySize; }
  get valueSize(): number { return this.spec.valueSize; }
  get maxEntries(): number { return this.spec.maxEntries; }
  get name(): string { return this.spec.name; }
  get isPerCpu(): boolean { return PER_CPU_TYPES.has(this.spec.type); }

  /** The kernel's id for this map. */
  get id(): number {
    this.#id ??= this.info().id;
    return this.#id;
  }

  /** Bytes a lookup returns: the value, or for per-CPU maps one 8-byte aligned slot per possible CPU. */
  get valueBufferSize(): number {
    return this.isPerCpu ? perCpuSlotSize(this.spec.valueSize) * possibleCpuCount() : this.spec.valueSize;
  }

  info(): MapInfo {
    return readMapInfo(this.fd);
  }

  /** The value at `key`, or undefined if there is none (ENOENT). `key` is null for queue/stack peeks. */
  lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    return this.#fetch('MAP_LOOKUP_ELEM', key, flags);
  }

  /** One value per possible CPU (per-CPU maps). */
  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    this.#requirePerCpu();
    const raw = this.lookup(key);
    return raw === undefined ? undefined : splitPerCpu(raw, this.spec.valueSize);
  }

  update(key: Uint8Array | null, value: Uint8Array, flag: UpdateFlagName | number = 'any'): void {
    this.#checkKey(key);
    if (value.byteLength !== this.valueBufferSize) {
      throw new TsbpfError('linux/bad-value-size', `${this.describe()}: value is ${value.byteLength} bytes, expected ${this.valueBufferSize}`);
    }
    bpfElem('MAP_UPDATE_ELEM', this.fd, key, value, updateFlagValue(flag));
  }

  /** Per-CPU update: one value per possible CPU (each `valueSize` bytes). */
  updatePerCpu(key: Uint8Array, values: readonly Uint8Array[], flag: UpdateFlagName | number = 'any'): void {
    this.#requirePerCpu();
    this.update(key, joinPerCpu(values, this.spec.valueSize), flag);
  }

  /** Deletes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.#checkKey(key);
    const ret = bpfElemTry('MAP_DELETE_ELEM', this.fd, key, null, 0);
    if (ret === -Errno.ENOENT) return false;
    if (ret < 0) throw new BpfSyscallError('BPF_MAP_DELETE_ELEM', -ret, this.describe());
    return true;
  }

  /** The key after `key` (the first key when undefined); undefined at the end. */
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    if (key !== undefined) this.#checkKey(key);
    const next = new Uint8Array(this.spec.keySize);
    const ret = bpfElemTry('MAP_GET_NEXT_KEY', this.fd, key ?? null, next, 0);
    if (ret === -Errno.ENOENT) return undefined;
    if (ret < 0) throw new BpfSyscallError('BPF_MAP_GET_NEXT_KEY', -ret, this.describe());
    return next;
  }

  *keys(): Generator<Uint8Array> {
    for (let key = this.nextKey(); key !== undefined; key = this.nextKey(key)) yield key;
  }

  /** Key/value pairs; a key deleted while walking is skipped. */
  *entries(): Generator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Reads and removes `key` (null for queue/stack pops). */
  lookupAndDelete(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    return this.#fetch('MAP_LOOKUP_AND_DELETE_ELEM', key, flags);
  }

  /** Queue/stack: push a value. */
  push(value: Uint8Array, flag: UpdateFlagName | number = 'any'): void {
    this.update(null, value, flag);
  }

  /** Queue/stack: take the next value. */
  pop(): Uint8Array | undefined {
    return this.lookupAndDelete(null);
  }

  /** Queue/stack: the next value, left in place. */
  peek(): Uint8Array | undefined {
    return this.lookup(null);
  }

  /** Makes the map read-only for userspace (programs can still write unless the map is RDONLY_PROG). */
  freeze(): void {
    bpf('MAP_FREEZE', MapFreezeAttr, { map_fd: this.fd });
  }

  pin(path: string): void {
    pinFd(this.fd, path);
  }

  lookupBatch(count: number, inBatch?: Uint8Array): BatchResult {
    return this.#batchRead('MAP_LOOKUP_BATCH', count, inBatch);
  }

  lookupAndDeleteBatch(count: number, inBatch?: Uint8Array): BatchResult {
    return this.#batchRead('MAP_LOOKUP_AND_DELETE_BATCH', count, inBatch);
  }

  /** Every entry through batched lookups, `chunk` entries per call. */
  *entriesBatched(chunk = 256): Generator<[Uint8Array, Uint8Array]> {
    let token: Uint8Array | undefined;
    let first = true;
    while (first || token !== undefined) {
      first = false;
      const batch = this.lookupBatch(chunk, token);
      for (let i = 0; i < batch.keys.length; i++) yield [batch.keys[i]!, batch.values[i]!];
      token = batch.nextBatch;
    }
  }

  /** Updates many entries in one call; returns how many the kernel processed. */
  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flag: UpdateFlagName | number = 'any'): number {
    if (keys.length !== values.length) throw new TsbpfError('linux/batch-mismatch', `${keys.length} keys but ${values.length} values`);
    keys.forEach((k) => this.#checkKey(k));
    const { ret, attr } = bpfTry('MAP_UPDATE_BATCH', MapBatchAttr, {
      keys: concat(keys, this.spec.keySize), values: concat(values, this.valueBufferSize), count: keys.length,
      map_fd: this.fd, elem_flags: updateFlagValue(flag),
    });
    if (ret < 0) throw new BpfSyscallError('BPF_MAP_UPDATE_BATCH', -ret, `${this.describe()}: ${readNumber(attr, 'count')} of ${keys.length} done`);
    return readNumber(attr, 'count');
  }

  /** Deletes many keys in one call; returns how many were deleted (stops at the first missing key). */
  deleteBatch(keys: readonly Uint8Array[]): number {
    keys.forEach((k) => this.#checkKey(k));
    const { ret, attr } = bpfTry('MAP_DELETE_BATCH', MapBatchAttr, {
      keys: concat(keys, this.spec.keySize), count: keys.length, map_fd: this.fd,
    });
    if (ret < 0 && ret !== -Errno.ENOENT) throw new BpfSyscallError('BPF_MAP_DELETE_BATCH', -ret, this.describe());
    return readNumber(attr, 'count');
  }

  #batchRead(command: 'MAP_LOOKUP_BATCH' | 'MAP_LOOKUP_AND_DELETE_BATCH', count: number, inBatch?: Uint8Array): BatchResult {
    // Hash maps walk bucket by bucket: a bucket larger than `count` gives ENOSPC, so grow and retry.
    const tokenSize = Math.max(this.spec.keySize, 8);
    for (let want = Math.max(1, count); ; want *= 2) {
      const keys = new Uint8Array(want * this.spec.keySize);
      const values = new Uint8Array(want * this.valueBufferSize);
      const outBatch = new Uint8Array(tokenSize);
      const { ret, attr } = bpfTry(command, MapBatchAttr, {
        in_batch: inBatch ?? null, out_batch: outBatch, keys, values, count: want, map_fd: this.fd,
      });
      if (ret === -Errno.ENOSPC && want < this.spec.maxEntries * 2) continue;
      if (ret < 0 && ret !== -Errno.ENOENT) throw new BpfSyscallError(`BPF_${command}`, -ret, this.describe());
      const got = readNumber(attr, 'count');
      return {
        keys: split(keys, this.spec.keySize, got),
        values: split(values, this.valueBufferSize, got),
        nextBatch: ret === -Errno.ENOENT ? undefined : outBatch,
      };
    }
  }

  #fetch(command: 'MAP_LOOKUP_ELEM' | 'MAP_LOOKUP_AND_DELETE_ELEM', key: Uint8Array | null, flags: number): Uint8Array | undefined {
    this.#checkKey(key);
    const value = new Uint8Array(this.valueBufferSize);
    const ret = bpfElemTry(command, this.fd, key, value, flags);
    if (ret === -Errno.ENOENT) return undefined;
    if (ret < 0) throw new BpfSyscallError(`BPF_${command}`, -ret, this.describe());
    return value;
  }

  #checkKey(key: Uint8Array | null): void {
    const size = key === null ? 0 : key.byteLength;
    if (size !== this.spec.keySize) {
      throw new TsbpfError('linux/bad-key-size', `${this.describe()}: key is ${size} bytes, expected ${this.spec.keySize}`);
    }
  }

  #requirePerCpu(): void {
    if (!this.isPerCpu) throw new TsbpfError('linux/not-per-cpu', `${this.describe()} (${this.typeName}) is not a per-CPU map`);
  }
}

function readMapInfo(fd: number): MapInfo {
  const info = objectInfo(fd, MapInfoLayout);
  const type = readNumber(info, 'type');
  return {
    id: readNumber(info, 'id'),
    type,
    typeName: nameOf(MapType, type),
    keySize: readNumber(info, 'key_size'),
    valueSize: readNumber(info, 'value_size'),
    maxEntries: readNumber(info, 'max_entries'),
    flags: readNumber(info, 'map_flags'),
    name: readString(info, 'name'),
    ifindex: readNumber(info, 'ifindex'),
    btfId: readNumber(info, 'btf_id'),
    btfKeyTypeId: readNumber(info, 'btf_key_type_id'),
    btfValueTypeId: readNumber(info, 'btf_value_type_id'),
    mapExtra: readNumber(info, 'map_extra'),
  };
}

type ElemCommand = 'MAP_LOOKUP_ELEM' | 'MAP_UPDATE_ELEM' | 'MAP_DELETE_ELEM' | 'MAP_GET_NEXT_KEY' | 'MAP_LOOKUP_AND_DELETE_ELEM';

function bpfElemTry(command: ElemCommand, fd: number, key: Uint8Array | null, value: Uint8Array | null, flags: number): number {
  return bpfTry(command, MapElemAttr, { map_fd: fd, key: key && key.byteLength ? key : null, value, flags }).ret;
}

function bpfElem(command: ElemCommand, fd: number, key: Uint8Array | null, value: Uint8Array | null, flags: number): void {
  const ret = bpfElemTry(command, fd, key, value, flags);
  if (ret < 0) throw new BpfSyscallError(`BPF_${command}`, -ret);
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(Math.max(1, parts.length * size));
  parts.forEach((p, i) => {
    if (p.byteLength !== size) throw new TsbpfError('linux/bad-value-size', `batch element ${i} is ${p.byteLength} bytes, expected ${size}`);
    out.set(p, i * size);
  });
  return out;
}

function split(bytes: Uint8Array, size: number, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(bytes.slice(i * size, (i + 1) * size));
  return out;
}

export function splitPerCpu(raw: Uint8Array, valueSize: number): Uint8Array[] {
  const slot = perCpuSlotSize(valueSize);
  return split(raw, slot, raw.byteLength / slot).map((s) => s.subarray(0, valueSize));
}

export function joinPerCpu(values: readonly Uint8Array[], valueSize: number): Uint8Array {
  const cpus = possibleCpuCount();
  if (values.length !== cpus) throw new TsbpfError('linux/bad-value-size', `per-CPU value needs ${cpus} entries (possible CPUs), got ${values.length}`);
  const slot = perCpuSlotSize(valueSize);
  const out = new Uint8Array(slot * cpus);
  values.forEach((v, i) => {
    if (v.byteLength !== valueSize) throw new TsbpfError('linux/bad-value-size', `per-CPU value ${i} is ${v.byteLength} bytes, expected ${valueSize}`);
    out.set(v, i * slot);
  });
  return out;
}
