import type { Region } from '../vm/memory.js';
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
 * prefix that matches the first `prefixlen` bits of the lookup key. Stored as one hash per prefix
 * length, probed from the longest present length down, which costs a probe per distinct length.
 */
export class LpmTrieMap extends BpfMap {
  private readonly dataSize: number;
  private readonly byKey = new Map<string, Prefix>();
  /** Distinct prefix lengths present, longest first, with their entry counts. */
  private lengths: number[] = [];
  private readonly lengthCounts = new Map<number, number>();

  constructor(spec: MapSpec, ctx: MapContext) {
    super(spec, ctx);
    this.dataSize = spec.keySize - 4;
  }

  private static id(prefixLen: number, data: Uint8Array, from: number): string {
    let s = String.fromCharCode(prefixLen);
    const full = prefixLen >> 3;
    for (let i = 0; i < full; i++) s += String.fromCharCode(data[from + i]!);
    const rest = prefixLen & 7;
    if (rest) s += String.fromCharCode(data[from + full]! & (0xff << (8 - rest)) & 0xff);
    return s;
  }

  private find(prefixLimit: number, data: Uint8Array, from: number): Prefix | undefined {
    for (const len of this.lengths) {
      if (len > prefixLimit) continue;
      const hit = this.byKey.get(LpmTrieMap.id(len, data, from));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookupElem(keyAddr: number): number {
    const limit = Math.min(this.space.view.getUint32(keyAddr, true), this.dataSize * 8);
    return this.find(limit, this.space.u8, keyAddr + 4)?.region.start ?? 0;
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
    this.byKey.set(id, { prefixLen, data, region });
    const count = this.lengthCounts.get(prefixLen) ?? 0;
    this.lengthCounts.set(prefixLen, count + 1);
    if (count === 0) this.lengths = [...this.lengthCounts.keys()].sort((a, b) => b - a);
    return 0;
  }

  private remove(key: Uint8Array): number {
    const prefixLen = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
    if (prefixLen > this.dataSize * 8) return -Errno.EINVAL;
    const id = LpmTrieMap.id(prefixLen, key, 4);
    const entry = this.byKey.get(id);
    if (!entry) return -Errno.ENOENT;
    this.byKey.delete(id);
    this.space.release(entry.region);
    const count = this.lengthCounts.get(prefixLen)! - 1;
    if (count === 0) {
      this.lengthCounts.delete(prefixLen);
      this.lengths = this.lengths.filter((l) => l !== prefixLen);
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
    const limit = Math.min(new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true), this.dataSize * 8);
    const hit = this.find(limit, key, 4);
    return hit ? this.space.u8.slice(hit.region.start, hit.region.start + this.spec.valueSize) : undefined;
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
    super.dispose();
  }
}
