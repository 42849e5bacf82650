import { HASH_INDEX, HASH_INDEX_EMPTY, HASH_INDEX_ENTRY_BYTES, HASH_INDEX_KIND } from '../abi.js';
import { ByteWriter, ModuleBuilder, Op, ValType, VOID_BLOCK, encodeLocals } from './wasm.js';
import { IMPORT_MODULE } from './layout.js';

/**
 * map_lookup_elem on hash maps and LPM tries without leaving WebAssembly: a small module that is a
 * program's `lookup_map` import (slot, key address) -> value address or 0. A map that publishes its
 * index (see HASH_INDEX in abi.ts: the u32 at its handle is the descriptor's address) is searched
 * here, in place; any other (LRU and per-CPU hashes, whose lookups change state or need the CPU) goes
 * to the JS lookup. The per-program table of handles by slot is a region the program's loader fills.
 */

/** The lookup_map import: (slot, key address) -> value address or 0. */
export type LookupMap = (slot: number, key: number) => number;
/** (hash index descriptor, key address) -> value address or 0: a hash map's search alone. */
export type FindInIndex = (descriptor: number, key: number) => number;

let compiled: WebAssembly.Module | undefined;

/**
 * lookup_map searching published indexes in wasm (`jsLookup` for the rest), and `find`, the hash
 * search other modules import (wasm-helpers.ts's map_update_elem).
 */
export function wasmLookup(memory: WebAssembly.Memory, handles: number, jsLookup: LookupMap): { lookupMap: LookupMap; find: FindInIndex } {
  compiled ??= new WebAssembly.Module(encodeModule());
  const instance = new WebAssembly.Instance(compiled, { [IMPORT_MODULE]: { memory, handles, js_lookup: jsLookup } });
  return { lookupMap: instance.exports.lookup_map as LookupMap, find: instance.exports.find as FindInIndex };
}

// Functions: the import, then the module's own.
const JS_LOOKUP = 0;
const HASH = 1;
const EQUAL = 2;
const FIND = 3;
const LPM = 4;
const LOOKUP_MAP = 5;
const HANDLES = 0;
/** i32.load8_u and i32.store8 (not in wasm.ts's table). */
const I32_LOAD8_U = 0x2d;
const I32_STORE8 = 0x3a;

function encodeModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  const { i32 } = ValType;
  const pair = m.type([i32, i32], [i32]);
  m.importMemory(IMPORT_MODULE, 'memory');
  m.importFunction(IMPORT_MODULE, 'js_lookup', pair);
  m.importGlobal(IMPORT_MODULE, 'handles', i32);
  m.defineFunction(m.declareFunction(pair), hashBody());
  m.defineFunction(m.declareFunction(m.type([i32, i32, i32], [i32])), equalBody());
  m.defineFunction(m.declareFunction(pair), findBody());
  m.defineFunction(m.declareFunction(pair), lpmBody());
  m.defineFunction(m.declareFunction(pair), lookupMapBody());
  m.exportFunction('lookup_map', LOOKUP_MAP);
  m.exportFunction('find', FIND);
  return m.encode();
}

/** Function bodies: locals by number, i32 arithmetic, loads with a static offset. */
class Body {
  readonly w = new ByteWriter();
  constructor(i32Locals: number) {
    encodeLocals(this.w, [[i32Locals, ValType.i32]]);
  }
  get(local: number): void { this.w.byte2(Op.local_get, local); }
  set(local: number): void { this.w.byte2(Op.local_set, local); }
  tee(local: number): void { this.w.byte2(Op.local_tee, local); }
  op(op: number): void { this.w.byte(op); }
  const(value: number): void { this.w.byte(Op.i32_const); this.w.s32(value | 0); }
  load(op: number, offset = 0): void { this.w.byte(op); this.w.u32(0); this.w.u32(offset); }
  /** local += by. */
  bump(local: number, by: number): void { this.get(local); this.const(by); this.op(Op.i32_add); this.set(local); }
  block(): void { this.w.byte2(Op.block, VOID_BLOCK); }
  loop(): void { this.w.byte2(Op.loop, VOID_BLOCK); }
  if(): void { this.w.byte2(Op.if, VOID_BLOCK); }
  brIf(depth: number): void { this.w.byte2(Op.br_if, depth); }
  br(depth: number): void { this.w.byte2(Op.br, depth); }
  end(): void { this.op(Op.end); }
  finish(): Uint8Array { this.end(); return this.w.finish(); }
}

/** (key, size) -> hashKey (abi.ts): the same murmur3 steps on i32s, whole words then the tail. */
function hashBody(): Uint8Array {
  const [key, size, h, i, word, words] = [0, 1, 2, 3, 4, 5];
  const b = new Body(4);
  // word = rotl(word * c1, 15); h = rotl(h ^ word * c2, 13) * 5 + c3
  const mix = (): void => {
    b.const(0xcc9e2d51); b.op(Op.i32_mul); b.const(15); b.op(Op.i32_rotl); b.const(0x1b873593); b.op(Op.i32_mul);
    b.get(h); b.op(Op.i32_xor); b.const(13); b.op(Op.i32_rotl); b.const(5); b.op(Op.i32_mul); b.const(0xe6546b64); b.op(Op.i32_add); b.set(h);
  };
  b.get(size); b.set(h);
  b.get(size); b.const(-4); b.op(Op.i32_and); b.set(words);
  b.block(); b.loop();
  b.get(i); b.get(words); b.op(Op.i32_ge_u); b.brIf(1);
  b.get(key); b.get(i); b.op(Op.i32_add); b.load(Op.i32_load);
  mix();
  b.bump(i, 4);
  b.br(0);
  b.end(); b.end();
  // A tail of 1..3 bytes, as one little-endian word.
  b.get(size); b.const(3); b.op(Op.i32_and);
  b.if();
  b.const(0); b.set(word);
  b.block(); b.loop();
  b.get(i); b.get(size); b.op(Op.i32_ge_u); b.brIf(1);
  b.get(word); b.get(key); b.get(i); b.op(Op.i32_add); b.load(I32_LOAD8_U);
  b.get(i); b.get(words); b.op(Op.i32_sub); b.const(3); b.op(Op.i32_shl); b.op(Op.i32_shl); b.op(Op.i32_or); b.set(word);
  b.bump(i, 1);
  b.br(0);
  b.end(); b.end();
  b.get(word);
  mix();
  b.end();
  // fmix32, masked to 31 bits
  const xorShift = (n: number): void => { b.get(h); b.get(h); b.const(n); b.op(Op.i32_shr_u); b.op(Op.i32_xor); b.set(h); };
  xorShift(16);
  b.get(h); b.const(0x85ebca6b); b.op(Op.i32_mul); b.set(h);
  xorShift(13);
  b.get(h); b.const(0xc2b2ae35); b.op(Op.i32_mul); b.set(h);
  xorShift(16);
  b.get(h); b.const(0x7fffffff); b.op(Op.i32_and);
  return b.finish();
}

/** (a, b, size) -> 1 when the size bytes at a and b are equal. */
function equalBody(): Uint8Array {
  const [a, bytes, size, i] = [0, 1, 2, 3];
  const b = new Body(1);
  for (const [step, load] of [[4, Op.i32_load], [1, I32_LOAD8_U]] as const) {
    b.block(); b.loop();
    b.get(i); b.const(step); b.op(Op.i32_add); b.get(size); b.op(Op.i32_gt_u); b.brIf(1);
    b.get(a); b.get(i); b.op(Op.i32_add); b.load(load);
    b.get(bytes); b.get(i); b.op(Op.i32_add); b.load(load);
    b.op(Op.i32_ne);
    b.if(); b.const(0); b.op(Op.return); b.end();
    b.bump(i, step);
    b.br(0);
    b.end(); b.end();
  }
  b.const(1);
  return b.finish();
}

/** (descriptor, key) -> the value address of the key's entry, or 0 (linear probing from hash & mask). */
function findBody(): Uint8Array {
  const [descriptor, key, size, hash, mask, slot, entry, entries] = [0, 1, 2, 3, 4, 5, 6, 7];
  const b = new Body(6);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.keySize); b.set(size);
  b.get(key); b.get(size); b.w.byte2(Op.call, HASH); b.set(hash);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.mask); b.set(mask);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.entries); b.set(entries);
  b.get(hash); b.get(mask); b.op(Op.i32_and); b.set(slot);
  b.loop();
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.slots); b.get(slot); b.const(2); b.op(Op.i32_shl); b.op(Op.i32_add);
  b.load(Op.i32_load); b.tee(entry);
  b.const(HASH_INDEX_EMPTY); b.op(Op.i32_eq);
  b.if(); b.const(0); b.op(Op.return); b.end();
  // A live entry (not DELETED) with the same hash and the same key bytes.
  b.get(entry); b.const(0); b.op(Op.i32_ge_s);
  b.if();
  b.get(entries); b.get(entry); b.const(HASH_INDEX_ENTRY_BYTES); b.op(Op.i32_mul); b.op(Op.i32_add); b.load(Op.i32_load);
  b.get(hash); b.op(Op.i32_eq);
  b.if();
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.keys); b.get(entry); b.get(size); b.op(Op.i32_mul); b.op(Op.i32_add);
  b.get(key); b.get(size); b.w.byte2(Op.call, EQUAL);
  b.if();
  b.get(entries); b.get(entry); b.const(HASH_INDEX_ENTRY_BYTES); b.op(Op.i32_mul); b.op(Op.i32_add); b.load(Op.i32_load, 4);
  b.op(Op.return);
  b.end(); b.end(); b.end();
  b.get(slot); b.const(1); b.op(Op.i32_add); b.get(mask); b.op(Op.i32_and); b.set(slot);
  b.br(0);
  b.end();
  b.const(0);
  return b.finish();
}

/**
 * (descriptor, key) -> an LPM trie's longest match: for each length present (longest first) up to the
 * key's prefixlen and the data's bits, the key masked to it is built in the scratch area and found.
 */
function lpmBody(): Uint8Array {
  const [descriptor, key, size, limit, lengths, k, length, scratch, i, full, found] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const b = new Body(9);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.keySize); b.set(size);
  // limit = min(prefixlen, data bits)
  b.get(key); b.load(Op.i32_load); b.tee(limit);
  b.get(size); b.const(4); b.op(Op.i32_sub); b.const(3); b.op(Op.i32_shl); b.tee(full);
  b.get(limit); b.get(full); b.op(Op.i32_lt_u); b.op(Op.select); b.set(limit);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.lengths); b.set(lengths);
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.scratch); b.set(scratch);
  b.block(); b.loop();
  b.get(k); b.get(lengths); b.load(Op.i32_load); b.op(Op.i32_ge_u); b.brIf(1);
  b.get(lengths); b.get(k); b.const(2); b.op(Op.i32_shl); b.op(Op.i32_add); b.load(Op.i32_load, 4); b.tee(length);
  b.get(limit); b.op(Op.i32_le_u);
  b.if();
  b.get(scratch); b.get(length); b.load(Op.i32_store);
  b.get(length); b.const(3); b.op(Op.i32_shr_u); b.set(full);
  b.const(0); b.set(i);
  b.block(); b.loop();
  b.get(i); b.get(size); b.const(4); b.op(Op.i32_sub); b.op(Op.i32_ge_u); b.brIf(1);
  // byte i: whole below `full`, the top (length & 7) bits at `full`, zero past it
  b.get(scratch); b.get(i); b.op(Op.i32_add);
  b.get(key); b.get(i); b.op(Op.i32_add); b.load(I32_LOAD8_U, 4);
  b.const(0xff);
  b.const(0xff); b.const(8); b.get(length); b.const(7); b.op(Op.i32_and); b.op(Op.i32_sub); b.op(Op.i32_shl); b.const(0xff); b.op(Op.i32_and);
  b.const(0);
  b.get(i); b.get(full); b.op(Op.i32_eq); b.op(Op.select);
  b.get(i); b.get(full); b.op(Op.i32_lt_u); b.op(Op.select);
  b.op(Op.i32_and);
  b.load(I32_STORE8, 4);
  b.bump(i, 1);
  b.br(0);
  b.end(); b.end();
  b.get(descriptor); b.get(scratch); b.w.byte2(Op.call, FIND); b.tee(found);
  b.if(); b.get(found); b.op(Op.return); b.end();
  b.end();
  b.bump(k, 1);
  b.br(0);
  b.end(); b.end();
  b.const(0);
  return b.finish();
}

/** (slot, key) -> find over the slot's map's published index, or the JS lookup when it has none. */
function lookupMapBody(): Uint8Array {
  const [slot, key, descriptor] = [0, 1, 2];
  const b = new Body(1);
  b.w.byte2(Op.global_get, HANDLES); b.get(slot); b.const(2); b.op(Op.i32_shl); b.op(Op.i32_add); b.load(Op.i32_load);
  b.load(Op.i32_load); b.tee(descriptor);
  b.op(Op.i32_eqz);
  b.if(); b.get(slot); b.get(key); b.w.byte2(Op.call, JS_LOOKUP); b.op(Op.return); b.end();
  b.get(descriptor); b.load(Op.i32_load, HASH_INDEX.kind); b.const(HASH_INDEX_KIND.lpm); b.op(Op.i32_eq);
  b.w.byte2(Op.if, ValType.i32);
  b.get(descriptor); b.get(key); b.w.byte2(Op.call, LPM);
  b.op(Op.else);
  b.get(descriptor); b.get(key); b.w.byte2(Op.call, FIND);
  b.end();
  return b.finish();
}
