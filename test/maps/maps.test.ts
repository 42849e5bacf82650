import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/vm/memory.js';
import { MapType } from '../../src/uapi/map-types.js';
import {
  ArrayMap, BloomFilterMap, Errno, HashMap, LpmTrieMap, MapError, MapFlag, ObjectArrayMap, ObjectHashMap, QueueStackMap, RingBufMap,
  UpdateFlag, createMap, type BpfMap, type MapSpec,
} from '../../src/maps/index.js';

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const readU64 = (b: Uint8Array | undefined, at = 0): number => Number(new DataView(b!.buffer, b!.byteOffset).getBigUint64(at, true));

function setup(cpus = 1) {
  const space = new AddressSpace();
  const make = (spec: Partial<MapSpec> & { type: number }) =>
    createMap({ name: 'm', keySize: 4, valueSize: 8, maxEntries: 4, ...spec }, { space, cpus });
  /** Put bytes in scratch memory and return the address (for program-side calls). */
  const scratch = space.allocate(256, 'scratch', 'scratch');
  const put = (bytes: Uint8Array, at = 0): number => {
    space.u8.set(bytes, scratch.start + at);
    return scratch.start + at;
  };
  return { space, make, put };
}

const errnoOf = (fn: () => unknown): number => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof MapError, String(e));
    return e.errno;
  }
  assert.fail('expected a MapError');
};

test('map creation checks attributes like BPF_MAP_CREATE', () => {
  const { make } = setup();
  assert.equal(errnoOf(() => make({ type: MapType.array, keySize: 8 })), Errno.EINVAL);
  assert.equal(errnoOf(() => make({ type: MapType.hash, maxEntries: 0 })), Errno.EINVAL);
  assert.equal(errnoOf(() => make({ type: MapType.lpm_trie, keySize: 8 })), Errno.EINVAL, 'LPM without NO_PREALLOC');
  assert.equal(errnoOf(() => make({ type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 5000 })), Errno.EINVAL);
  assert.equal(errnoOf(() => make({ type: MapType.queue, keySize: 4 })), Errno.EINVAL);
  assert.ok(make({ type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) instanceof RingBufMap);
});

test('array: zero-filled, fixed, no delete, NOEXIST fails, out of range', () => {
  const { make, put } = setup();
  const map = make({ type: MapType.array }) as ArrayMap;
  assert.equal(readU64(map.lookup(u32(3))), 0);
  map.update(u32(1), u64(42));
  assert.equal(readU64(map.lookup(u32(1))), 42);
  assert.equal(map.lookup(u32(4)), undefined);
  assert.equal(errnoOf(() => map.update(u32(4), u64(1))), Errno.E2BIG);
  assert.equal(errnoOf(() => map.update(u32(0), u64(1), UpdateFlag.NOEXIST)), Errno.EEXIST);
  assert.equal(errnoOf(() => map.delete(u32(0))), Errno.EINVAL);
  // Program side: the value address is stable and writes through it are visible.
  const addr = map.lookupElem(put(u32(2)), 0);
  assert.ok(addr > 0);
  map.space.view.setUint32(addr, 7, true);
  assert.equal(readU64(map.lookup(u32(2))), 7);
  assert.equal(map.lookupElem(put(u32(9)), 0), 0);
  assert.deepEqual([...map.keys()].map((k) => k[0]), [0, 1, 2, 3]);
});

test('hash: flags, ENOENT, E2BIG when full, iteration, program side', () => {
  const { make, put } = setup();
  const map = make({ type: MapType.hash }) as HashMap;
  assert.equal(errnoOf(() => map.update(u32(1), u64(1), UpdateFlag.EXIST)), Errno.ENOENT);
  for (let i = 0; i < 4; i++) map.update(u32(i), u64(i * 10));
  assert.equal(errnoOf(() => map.update(u32(9), u64(1))), Errno.E2BIG);
  map.update(u32(2), u64(99), UpdateFlag.EXIST);
  assert.equal(errnoOf(() => map.update(u32(2), u64(1), UpdateFlag.NOEXIST)), Errno.EEXIST);
  assert.equal(readU64(map.lookup(u32(2))), 99);
  map.delete(u32(2));
  assert.equal(errnoOf(() => map.delete(u32(2))), Errno.ENOENT);
  assert.equal([...map.keys()].length, 3);
  assert.equal(map.updateElem(put(u32(7)), put(u64(5), 8), UpdateFlag.ANY, 0), 0);
  assert.equal(readU64(map.lookup(u32(7))), 5);
  assert.equal(map.deleteElem(put(u32(8))), -Errno.ENOENT);
  assert.equal(map.updateElem(put(u32(8)), put(u64(5), 8), 3, 0), -Errno.EINVAL);
});

test('lru_hash evicts the least recently used entry', () => {
  const { make, put } = setup();
  const map = make({ type: MapType.lru_hash, maxEntries: 3 }) as HashMap;
  for (const k of [1, 2, 3]) map.update(u32(k), u64(k));
  map.lookupElem(put(u32(1)), 0); // 1 is now the most recent
  map.update(u32(4), u64(4)); // evicts 2
  assert.equal(map.lookup(u32(2)), undefined);
  assert.deepEqual([1, 3, 4].map((k) => readU64(map.lookup(u32(k)))), [1, 3, 4]);
});

test('per-CPU values: one 8-byte-rounded slot per CPU', () => {
  const { make, put } = setup(3);
  const map = make({ type: MapType.percpu_array, valueSize: 4 }) as ArrayMap;
  const key = put(u32(0));
  for (let cpu = 0; cpu < 3; cpu++) map.space.view.setUint32(map.lookupElem(key, cpu), 100 + cpu, true);
  const all = map.lookup(u32(0))!;
  assert.equal(all.length, 24);
  assert.deepEqual([0, 8, 16].map((o) => new DataView(all.buffer).getUint32(o, true)), [100, 101, 102]);
  const hash = make({ type: MapType.percpu_hash, valueSize: 4 }) as HashMap;
  hash.update(u32(5), new Uint8Array(24).fill(1));
  assert.equal(hash.lookup(u32(5))!.length, 24);
});

test('lpm_trie: longest prefix wins, lookup prefixlen limits the match', () => {
  const { make } = setup();
  const map = make({ type: MapType.lpm_trie, keySize: 8, valueSize: 4, maxEntries: 8, flags: MapFlag.NO_PREALLOC }) as LpmTrieMap;
  const key = (len: number, a: number, b: number, c: number, d: number) => new Uint8Array([...u32(len), a, b, c, d]);
  map.update(key(8, 10, 0, 0, 0), u32(8));
  map.update(key(16, 10, 1, 0, 0), u32(16));
  map.update(key(24, 10, 1, 2, 0), u32(24));
  map.update(key(0, 0, 0, 0, 0), u32(0));
  const hit = (len: number, ...ip: [number, number, number, number]) => new DataView(map.lookup(key(len, ...ip))!.buffer).getUint32(0, true);
  assert.equal(hit(32, 10, 1, 2, 3), 24);
  assert.equal(hit(32, 10, 1, 9, 9), 16);
  assert.equal(hit(32, 10, 9, 9, 9), 8);
  assert.equal(hit(32, 11, 0, 0, 0), 0);
  assert.equal(hit(20, 10, 1, 2, 3), 16, 'prefixlen 20 in the lookup key excludes the /24');
  // Host bits beyond the prefix are ignored on insert.
  map.update(key(16, 10, 1, 77, 77), u32(161));
  assert.equal(hit(32, 10, 1, 9, 9), 161);
  assert.equal(errnoOf(() => map.update(key(33, 0, 0, 0, 0), u32(0))), Errno.EINVAL);
  map.delete(key(24, 10, 1, 2, 0));
  assert.equal(hit(32, 10, 1, 2, 3), 161);
  assert.equal(errnoOf(() => map.delete(key(24, 10, 1, 2, 0))), Errno.ENOENT);
  assert.equal([...map.keys()].length, 3);
});

test('ringbuf: reserve/submit/discard ordering and busy records block the consumer', () => {
  const { make, space } = setup();
  const rb = make({ type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
  const a = rb.reserve(5);
  const b = rb.reserve(16);
  const c = rb.reserve(3);
  assert.ok(a && b && c);
  space.u8.set([1, 2, 3, 4, 5], a);
  space.u8.set([9, 9, 9], c);
  rb.commit(c, false);
  assert.deepEqual(rb.drain(), [], 'record a is still busy: nothing is readable');
  rb.commit(a, false);
  assert.deepEqual(rb.drain().map((r) => [...r]), [[1, 2, 3, 4, 5]]);
  rb.commit(b, true);
  assert.deepEqual(rb.drain().map((r) => [...r]), [[9, 9, 9]], 'discarded b is skipped');
  assert.equal(rb.query(0), 0);
  assert.equal(rb.commit(a, false), false, 'double submit is refused');
  // Fill: records wrap around the end and stay contiguous.
  let n = 0;
  while (rb.reserve(1000)) n++;
  assert.equal(n, 4, '4 x 1008 bytes fit in 4096');
});

test('ringbuf: wrapping records read back intact', () => {
  const { make, space } = setup();
  const rb = make({ type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }) as RingBufMap;
  for (let round = 0; round < 10; round++) {
    const p = rb.reserve(1500)!;
    space.u8.fill(round, p, p + 1500);
    rb.commit(p, false);
    const [record] = rb.drain();
    assert.equal(record!.length, 1500);
    assert.ok(record!.every((x) => x === round));
  }
});

test('queue is FIFO, stack is LIFO, BPF_EXIST overwrites the oldest', () => {
  const { make, put, space } = setup();
  const queue = make({ type: MapType.queue, keySize: 0, valueSize: 4, maxEntries: 2 }) as QueueStackMap;
  const stack = make({ type: MapType.stack, keySize: 0, valueSize: 4, maxEntries: 2 }) as QueueStackMap;
  for (const m of [queue, stack]) {
    assert.equal(m.pushElem(put(u32(1)), 0), 0);
    assert.equal(m.pushElem(put(u32(2)), 0), 0);
    assert.equal(m.pushElem(put(u32(3)), 0), -Errno.E2BIG);
    assert.equal(m.pushElem(put(u32(3)), UpdateFlag.EXIST), 0);
  }
  const out = put(u32(0), 16);
  const pop = (m: QueueStackMap) => (m.popElem(out) === 0 ? space.view.getUint32(out, true) : -1);
  assert.deepEqual([pop(queue), pop(queue), pop(queue)], [2, 3, -1]);
  assert.deepEqual([pop(stack), pop(stack), pop(stack)], [3, 2, -1]);
});

test('bloom filter: no false negatives', () => {
  const { make, put } = setup();
  const bloom = make({ type: MapType.bloom_filter, keySize: 0, valueSize: 4, maxEntries: 100 }) as BloomFilterMap;
  for (let i = 0; i < 100; i++) assert.equal(bloom.pushElem(put(u32(i * 7919)), 0), 0);
  for (let i = 0; i < 100; i++) assert.equal(bloom.peekElem(put(u32(i * 7919))), 0);
  let falsePositives = 0;
  for (let i = 0; i < 1000; i++) if (bloom.peekElem(put(u32(1e6 + i))) === 0) falsePositives++;
  assert.ok(falsePositives < 100, `false positives ${falsePositives}`);
});

test('map-in-map: a program-side lookup gives the inner map as programs hold maps (its handle)', () => {
  const space = new AddressSpace();
  const inner = createMap({ name: 'inner', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 }, { space, cpus: 1 });
  const ctx = { space, cpus: 1 };
  const resolve = (id: number): BpfMap | undefined => (id === 7 ? inner : undefined);
  const key = space.allocate(4, 'scratch', 'key').start;
  const byIndex = new ObjectArrayMap<BpfMap>({ name: 'outer', type: MapType.array_of_maps, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0 }, ctx, resolve);
  byIndex.set(1, inner, 7);
  const byKey = new ObjectHashMap<BpfMap>({ name: 'outer_hash', type: MapType.hash_of_maps, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0 }, ctx, resolve);
  byKey.set(new Uint8Array([1, 0, 0, 0]), inner, 7);
  for (const outer of [byIndex, byKey]) {
    space.view.setUint32(key, 1, true);
    assert.equal(outer.lookupElem(key, 0), inner.handle);
    space.view.setUint32(key, 0, true);
    assert.equal(outer.lookupElem(key, 0), 0);
  }
});
