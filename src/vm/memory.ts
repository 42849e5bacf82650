import { TsbpfError } from '../errors.js';

/**
 * The one address space: a single WebAssembly.Memory holds everything a program can point at (stack
 * frames, context, packet, map values, ring buffers, globals). A pointer is a plain byte address into
 * it (upper 32 bits zero), so the interpreter and the WebAssembly JIT share the memory and the JIT can
 * use plain wasm loads and stores. The first 64 KiB are never handed out: address 0 is NULL, and a
 * small address is caught as a NULL dereference.
 *
 * Regions record bounds (and whether they may be written) so the checked mode can trap an access that
 * leaves its region with a clear error.
 */

export type RegionKind = 'stack' | 'ctx' | 'packet' | 'map' | 'ringbuf' | 'global' | 'heap' | 'scratch';

export interface Region {
  readonly start: number;
  readonly size: number;
  readonly kind: RegionKind;
  /** Human name for errors: `stack`, `map counters value`, `packet`, ... */
  readonly name: string;
  writable: boolean;
}

export const PAGE_SIZE = 65536;
/** Addresses below this are never valid (NULL guard). */
export const NULL_GUARD = PAGE_SIZE;
/** Allocation granularity: keeps every region 8-byte aligned, as the kernel's allocations are. */
const ALIGN = 8;

export class MemoryAccessError extends TsbpfError {
  override name = 'MemoryAccessError';
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  constructor(message: string, address: number, size: number, write: boolean, insn?: number) {
    super('vm/bad-access', message, insn === undefined ? {} : { insn });
    this.address = address;
    this.size = size;
    this.write = write;
  }
}

export class OutOfMemoryError extends TsbpfError {
  override name = 'OutOfMemoryError';
  constructor(requested: number) {
    super('vm/out-of-memory', `address space exhausted allocating ${requested} bytes`);
  }
}

export interface AddressSpaceOptions {
  /** Initial size in 64 KiB pages (default 16 = 1 MiB). */
  initialPages?: number;
  /** Maximum size in pages (default 16384 = 1 GiB). */
  maximumPages?: number;
  /** Share an existing memory (e.g. one a JIT module exports); default: a new one. */
  memory?: WebAssembly.Memory;
}

export class AddressSpace {
  readonly memory: WebAssembly.Memory;
  /** Views over the current buffer; replaced when the memory grows (read them after allocating). */
  u8!: Uint8Array;
  view!: DataView;
  private readonly maximumPages: number;
  /** Live regions sorted by start address. */
  private regions: Region[] = [];
  /** Free blocks (start, size), sorted by start; coalesced on free. */
  private free: { start: number; size: number }[] = [];
  private top = NULL_GUARD;
  private lastHit: Region | undefined;
  private readonly growListeners = new Set<() => void>();

  constructor(options: AddressSpaceOptions = {}) {
    this.maximumPages = options.maximumPages ?? 16384;
    this.memory = options.memory ?? new WebAssembly.Memory({ initial: options.initialPages ?? 16, maximum: this.maximumPages });
    this.refreshViews();
  }

  /** Called after the memory grows (views must be re-read). */
  onGrow(listener: () => void): () => void {
    this.growListeners.add(listener);
    return () => this.growListeners.delete(listener);
  }

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  /** Allocate a zeroed region of `size` bytes. */
  allocate(size: number, kind: RegionKind, name: string, writable = true): Region {
    if (!Number.isInteger(size) || size < 0) throw new TsbpfError('vm/bad-size', `cannot allocate ${size} bytes for ${name}`);
    const rounded = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
    let start = -1;
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.size >= rounded) {
        start = block.start;
        if (block.size === rounded) this.free.splice(i, 1);
        else { block.start += rounded; block.size -= rounded; }
        break;
      }
    }
    if (start < 0) {
      start = this.top;
      this.ensureCapacity(start + rounded);
      this.top = start + rounded;
    }
    this.u8.fill(0, start, start + rounded);
    const region: Region = { start, size, kind, name, writable };
    this.insertRegion(region);
    return region;
  }

  /** Allocate a region and copy `bytes` into it. */
  allocateWith(bytes: Uint8Array, kind: RegionKind, name: string, writable = true, size = bytes.length): Region {
    const region = this.allocate(size, kind, name, writable);
    this.u8.set(bytes.subarray(0, size), region.start);
    return region;
  }

  release(region: Region): void {
    const i = this.indexOf(region.start);
    if (i < 0 || this.regions[i] !== region) return;
    this.regions.splice(i, 1);
    if (this.lastHit === region) this.lastHit = undefined;
    const rounded = Math.max(ALIGN, Math.ceil(region.size / ALIGN) * ALIGN);
    this.addFree(region.start, rounded);
  }

  private addFree(start: number, size: number): void {
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    this.free.splice(lo, 0, { start, size });
    // Coalesce with neighbours.
    const next = this.free[lo + 1];
    const cur = this.free[lo]!;
    if (next && cur.start + cur.size === next.start) { cur.size += next.size; this.free.splice(lo + 1, 1); }
    const prev = this.free[lo - 1];
    if (prev && prev.start + prev.size === cur.start) { prev.size += cur.size; this.free.splice(lo, 1); }
    // Give the tail back to the bump pointer.
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.top) { this.top = last.start; this.free.pop(); }
  }

  private ensureCapacity(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE_SIZE);
    const current = have / PAGE_SIZE;
    if (current + pages > this.maximumPages) throw new OutOfMemoryError(end - have);
    // Grow geometrically so many small allocations do not grow one page at a time.
    const grow = Math.min(this.maximumPages - current, Math.max(pages, current));
    this.memory.grow(grow);
    this.refreshViews();
    for (const listener of this.growListeners) listener();
  }

  private insertRegion(region: Region): void {
    let lo = 0;
    let hi = this.regions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.regions[mid]!.start < region.start) lo = mid + 1;
      else hi = mid;
    }
    this.regions.splice(lo, 0, region);
  }

  private indexOf(start: number): number {
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.regions[mid]!.start;
      if (s === start) return mid;
      if (s < start) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The region containing `address`, if any. */
  regionAt(address: number): Region | undefined {
    const hit = this.lastHit;
    if (hit !== undefined && address >= hit.start && address < hit.start + hit.size) return hit;
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid]!;
      if (address < r.start) hi = mid - 1;
      else if (address >= r.start + r.size) lo = mid + 1;
      else { this.lastHit = r; return r; }
    }
    return undefined;
  }

  /**
   * Checked mode: throw unless [address, address+size) lies inside one region (writable when
   * `write`). `address` is the full 64-bit pointer split in halves, so a pointer with upper bits set is
   * caught too.
   */
  check(addressLo: number, addressHi: number, size: number, write: boolean, insn?: number): void {
    const address = addressLo >>> 0;
    const region = addressHi === 0 ? this.regionAt(address) : undefined;
    if (region !== undefined && address + size <= region.start + region.size) {
      if (write && !region.writable) {
        throw new MemoryAccessError(`${size}-byte write to read-only ${region.name} at ${hex(address)}`, address, size, true, insn);
      }
      return;
    }
    throw new MemoryAccessError(this.describeBadAccess(address, addressHi, size, write), address, size, write, insn);
  }

  private describeBadAccess(address: number, hi: number, size: number, write: boolean): string {
    const what = `${size}-byte ${write ? 'write' : 'read'} at ${hi !== 0 ? hex(hi) + hex(address).slice(2).padStart(8, '0') : hex(address)}`;
    if (hi === 0 && address < NULL_GUARD) return `${what}: NULL pointer dereference`;
    const region = hi === 0 ? this.regionAt(address) : undefined;
    if (region) {
      return `${what} runs past the end of ${region.name} [${hex(region.start)}, ${hex(region.start + region.size)}) by ${address + size - region.start - region.size} bytes`;
    }
    const near = hi === 0 ? this.nearest(address) : undefined;
    return near
      ? `${what} is outside every region (nearest: ${near.name} [${hex(near.start)}, ${hex(near.start + near.size)}))`
      : `${what} is outside every region`;
  }

  private nearest(address: number): Region | undefined {
    let best: Region | undefined;
    let bestDistance = Infinity;
    for (const r of this.regions) {
      const d = address < r.start ? r.start - address : address - (r.start + r.size) + 1;
      if (d < bestDistance) { bestDistance = d; best = r; }
    }
    return best;
  }

  /** All live regions (for diagnostics and tests). */
  listRegions(): readonly Region[] {
    return this.regions;
  }

  /** Bytes currently handed out (excluding the NULL guard). */
  get used(): number {
    return this.regions.reduce((n, r) => n + r.size, 0);
  }
}

const hex = (n: number): string => '0x' + n.toString(16);
