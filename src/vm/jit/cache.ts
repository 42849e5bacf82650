import type { Instruction } from '../../isa/index.js';

/**
 * Compiled modules by program content, so loading the same bytecode again skips code generation and
 * WebAssembly compilation. Keyed by a 32-bit hash of the instruction words; entries keep the words and
 * are compared in full, so a hash collision costs a compile, never a wrong program.
 */

interface Entry<T> { bytecode: Int32Array; value: T }

const MAX_ENTRIES = 256;

export class ModuleCache<T> {
  private readonly entries = new Map<string, Entry<T>[]>();
  private count = 0;
  hits = 0;
  misses = 0;

  get(insns: readonly Instruction[], variant: string, build: () => T): T {
    const bytecode = programWords(insns);
    const key = variant + ':' + contentHash(bytecode);
    const bucket = this.entries.get(key);
    const found = bucket?.find((e) => sameBytes(e.bytecode, bytecode));
    if (found !== undefined) {
      this.hits++;
      // Refresh recency: Map iteration order is insertion order.
      this.entries.delete(key);
      this.entries.set(key, bucket!);
      return found.value;
    }
    this.misses++;
    const value = build();
    if (this.count >= MAX_ENTRIES) this.evictOldest();
    const list = bucket ?? [];
    list.push({ bytecode, value });
    this.entries.set(key, list);
    this.count++;
    return value;
  }

  clear(): void {
    this.entries.clear();
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.count -= this.entries.get(oldest.value)!.length;
    this.entries.delete(oldest.value);
  }
}

/** Two words per slot: code | dst << 8 | src << 12 | off << 16, then imm. */
export function programWords(insns: readonly Instruction[]): Int32Array {
  const words = new Int32Array(insns.length * 2);
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    words[2 * i] = (insn.code & 0xff) | ((insn.dst & 0xf) << 8) | ((insn.src & 0xf) << 12) | (insn.off << 16);
    words[2 * i + 1] = insn.imm;
  }
  return words;
}

/** A 32-bit multiplicative hash (murmur3-style mixing) of the words, as 8 hex digits. */
export function contentHash(words: Int32Array): string {
  let h = 0x9747b28c ^ words.length;
  for (let i = 0; i < words.length; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0).toString(16).padStart(8, '0');
}

function sameBytes(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
