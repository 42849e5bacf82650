import { HASH_INDEX, HASH_INDEX_KIND } from '../vm/abi.js';
import type { Region } from '../vm/memory.js';
import { KeyTable } from './key-table.js';
import { BpfMap, type MapContext } from './map.js';
import { Errno, UpdateFlag, type MapSpec } from './spec.js';

interface Prefix {
  prefixLen: number;
  /** The key's data bytes, masked to prefixLen. */
  data: Uint8Array;
  region: Region;
}

/**
 * BPF_MAP_TYPE_LPM_TRIE: keys are `{ u32 prefixlen; u8 data[] }`; lookups return the longest stored
 * prefix that matches the first `prefixlen` bits of the lookup key. Lookups probe a hash index of the
 * prefixes (keys masked to their length, see HASH_INDEX in abi.ts) once per distinct length present,
 * longest first; the index is published at the handle, so the JIT probes it in place too. A map of
 * the prefixes by id keeps the user side's order.
 */
export class LpmTrieMap extends BpfMap {
  private readonly dataSize: number;
  private readonly byKey = new Map<string, Prefix>();
  /** Distinct prefix lengths present, longest first, with their entry counts. */
  private lengths: number[] = [];
  private readonly lengthCounts = new Map<number, number>();
  private readonly table: KeyTable;
  /** The lengths as the index publishes them: a u32 count, then the lengths. */
  private readonly lengthsRegion: Region;
  /** Where the JIT's lookups build the masked keys they probe (HASH_INDEX.scratch). */
  private readonly scratch: Region;
  /** Where JS lookups build them. */
  private readonly probe: Uint8Array;
  private readonly probeView: DataView;

  constructor(spec: MapSpec, ctx: MapContext) {
    super(spec, ctx);
    this.dataSize = spec.keySize - 4;
    this.table = new KeyTable(ctx.space, spec.keySize, spec.maxEntries, `map ${spec.name}`);
    this.lengthsRegion = ctx.space.allocate(4 * (this.dataSize * 8 + 2), 'map', `map ${spec.name} prefix lengths`, false);
    const scratch = ctx.space.allocate(spec.keySize, 'map', `map ${spec.name} lookup scratch`, false);
    this.probe = new Uint8Array(spec.keySize);
    this.probeView = new DataView(this.probe.buffer);
    const view = ctx.space.view;
    const descriptor = this.table.descriptor.start;
    view.setUint32(descriptor + HASH_INDEX.kind, HASH_INDEX_KIND.lpm, true);
    view.setUint32(descriptor + HASH_INDEX.lengths, this.lengthsRegion.start, true);
    view.setUint32(descriptor + HASH_INDEX.scratch, scratch.start, true);
    view.setUint32(this.handle, descriptor, true);
    this.scratch = scratch;
  }

  private static id(prefixLen: number, data: Uint8Array, from: number): string {
    let s = String.fromCharCode(prefixLen);
    const full = prefixLen >> 3;
    for (let i = 0; i < full; i++) s += String.fromCharCode(data[from + i]!);
    const rest = prefixLen & 7;
    if (rest) s += String.fromCharCode(data[from + full]! & (0xff << (8 - rest)) & 0xff);
    return s;
  }

  /** The value address of the longest prefix matching `limit` bits of the data at `at`, or 0. */
  private search(limit: number, source: DataView, at: number): number {
    const probe = this.probeView;
    for (const len of this.lengths) {
      if (len > limit) continue;
      probe.setUint32(0, len, true);
      const full = len >> 3;
      for (let i = 0; i < this.dataSize; i++) {
        const byte = i < full ? source.getUint8(at + i) : i === full && len & 7 ? source.getUint8(at + i) & (0xff << (8 - (len & 7))) : 0;
        probe.setUint8(4 + i, byte);
      }
      const entry = this.table.find(probe, 0);
      if (entry >= 0) return this.table.valueOf(entry);
    }
    return 0;
  }

  lookupElem(keyAddr: number): number {
    const view = this.space.view;
    return this.search(Math.min(view.getUint32(keyAddr, true), this.dataSize * 8), view, keyAddr + 4);
  }

  /** The index's key of a prefix: {prefixlen, data (already masked)}. */
  private indexKey(entry: Prefix): DataView {
    this.probeView.setUint32(0, entry.prefixLen, true);
    this.probe.set(entry.data, 4);
    return this.probeView;
  }

  /** Publish the lengths present, longest first (see HASH_INDEX.lengths). */
  private publishLengths(): void {
    const view = this.space.view;
    const at = this.lengthsRegion.start;
    view.setUint32(at, this.lengths.length, true);
    this.lengths.forEach((length, i) => view.setUint32(at + 4 + 4 * i, length, true));
  }

  private insert(key: Uint8Array, value: Uint8Array, flags: number): number {
    const prefixLen = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
    if (prefixLen > this.dataSize * 8 || flags > UpdateFlag.EXIST) return -Errno.EINVAL;
    const id = LpmTrieMap.id(prefixLen, key, 4);
    const existing = this.byKey.get(id);
    if (existing) {
      if (flags === UpdateFlag.NOEXIST) return -Errno.EEXIST;
      this.space.u8.set(value, existing.region.start);
      return 0;
    }
    if (flags === UpdateFlag.EXIST) return -Errno.ENOENT;
    if (this.byKey.size >= this.spec.maxEntries) return -Errno.ENOSPC;
    const data = key.slice(4);
    if (prefixLen & 7) data[prefixLen >> 3]! &= 0xff << (8 - (prefixLen & 7));
    data.fill(0, Math.ceil(prefixLen / 8));
    const region = this.space.allocateWith(value, 'map', `map ${this.spec.name} element`, true, this.spec.valueSize);
    const prefix = { prefixLen, data, region };
    this.byKey.set(id, prefix);
    this.table.setValue(this.table.insert(this.indexKey(prefix), 0), region.start);
    const count = this.lengthCounts.get(prefixLen) ?? 0;
    this.lengthCounts.set(prefixLen, count + 1);
    if (count === 0) {
      this.lengths = [...this.lengthCounts.keys()].sort((a, b) => b - a);
      this.publishLengths();
    }
    return 0;
  }

  private remove(key: Uint8Array): number {
    const prefixLen = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
    if (prefixLen > this.dataSize * 8) return -Errno.EINVAL;
    const id = LpmTrieMap.id(prefixLen, key, 4);
    const entry = this.byKey.get(id);
    if (!entry) return -Errno.ENOENT;
    this.byKey.delete(id);
    this.table.remove(this.table.find(this.indexKey(entry), 0));
    this.space.release(entry.region);
    const count = this.lengthCounts.get(prefixLen)! - 1;
    if (count === 0) {
      this.lengthCounts.delete(prefixLen);
      this.lengths = this.lengths.filter((l) => l !== prefixLen);
      this.publishLengths();
    } else this.lengthCounts.set(prefixLen, count);
    return 0;
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number): number {
    const key = this.space.u8.slice(keyAddr, keyAddr + this.spec.keySize);
    return this.insert(key, this.space.u8.slice(valueAddr, valueAddr + this.spec.valueSize), flags);
  }

  override deleteElem(keyAddr: number): number {
    return this.remove(this.space.u8.slice(keyAddr, keyAddr + this.spec.keySize));
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const hit = this.search(Math.min(view.getUint32(0, true), this.dataSize * 8), view, 4);
    return hit ? this.space.u8.slice(hit, hit + this.spec.valueSize) : undefined;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    this.checkValue(value);
    const r = this.insert(key, value, flags);
    if (r < 0) this.fail(-r, 'update failed');
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    const r = this.remove(key);
    if (r < 0) this.fail(-r, 'delete failed');
  }

  private ordered(): [string, Prefix][] {
    return [...this.byKey.entries()].sort((a, b) => b[1].prefixLen - a[1].prefixLen || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  private keyOf(entry: Prefix): Uint8Array {
    const out = new Uint8Array(this.spec.keySize);
    new DataView(out.buffer).setUint32(0, entry.prefixLen, true);
    out.set(entry.data, 4);
    return out;
  }

  override *keys(): IterableIterator<Uint8Array> {
    for (const [, entry] of this.ordered()) yield this.keyOf(entry);
  }

  /** Most specific prefixes first (the kernel walks its trie post-order: children before parents). */
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const ordered = this.ordered();
    let at = -1;
    if (key !== undefined) {
      const prefixLen = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      at = prefixLen <= this.dataSize * 8 ? ordered.findIndex(([id]) => id === LpmTrieMap.id(prefixLen, key, 4)) : -1;
    }
    const next = ordered[at + 1];
    return next === undefined ? undefined : this.keyOf(next[1]);
  }

  override dispose(): void {
    for (const entry of this.byKey.values()) this.space.release(entry.region);
    this.byKey.clear();
    this.table.dispose();
    this.space.release(this.lengthsRegion);
    this.space.release(this.scratch);
    super.dispose();
  }
}
