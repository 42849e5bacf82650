import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { BpfMap, BpfSyscallError, MapType, possibleCpuCount, ClosedObjectError } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { runTag, skipReason, u32, u64, readU64 } from './support.js';

const opts = { skip: skipReason };

test('hash map CRUD with update flags and errno values', opts, () => {
  using map = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 4, name: 'crud' });
  assert.equal(map.lookup(u32(1)), undefined);
  map.update(u32(1), u64(10));
  assert.equal(readU64(map.lookup(u32(1))!), 10);
  // NOEXIST on an existing key: EEXIST; EXIST on a missing key: ENOENT.
  assert.throws(() => map.update(u32(1), u64(11), 'noexist'), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EEXIST' && e.command === 'BPF_MAP_UPDATE_ELEM');
  assert.throws(() => map.update(u32(2), u64(11), 'exist'), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'ENOENT');
  map.update(u32(1), u64(12), 'exist');
  assert.equal(readU64(map.lookup(u32(1))!), 12);
  for (let k = 2; k <= 4; k++) map.update(u32(k), u64(k * 100), 'noexist');
  // Full: a fifth key gives E2BIG.
  assert.throws(() => map.update(u32(5), u64(1)), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'E2BIG');
  const keys = [...map.keys()].map((k) => new DataView(k.buffer).getUint32(0, true)).sort();
  assert.deepEqual(keys, [1, 2, 3, 4]);
  assert.equal(map.delete(u32(3)), true);
  assert.equal(map.delete(u32(3)), false);
  assert.equal(readU64(map.lookupAndDelete(u32(4))!), 400);
  assert.equal(map.lookup(u32(4)), undefined);
  assert.equal([...map.entries()].length, 2);
});

test('key and value sizes are checked before the kernel sees them', opts, () => {
  using map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 2 });
  assert.throws(() => map.lookup(new Uint8Array(8)), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/bad-key-size');
  assert.throws(() => map.update(u32(0), new Uint8Array(3)), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/bad-value-size');
  // Arrays cannot delete: EINVAL from the kernel.
  assert.throws(() => map.delete(u32(0)), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EINVAL');
  // Out of range index: E2BIG on update, undefined on lookup.
  assert.throws(() => map.update(u32(5), u32(1)), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'E2BIG');
  assert.equal(map.lookup(u32(5)), undefined);
});

test('bad create arguments fail with EINVAL and a hint', opts, () => {
  assert.throws(() => BpfMap.create({ type: 'HASH', keySize: 0, valueSize: 4, maxEntries: 1 }), (e: unknown) =>
    e instanceof BpfSyscallError && e.errnoName === 'EINVAL' && e.command === 'BPF_MAP_CREATE' && /invalid argument/.test(e.message));
  assert.throws(() => BpfMap.create({ type: 'NOPE' as 'HASH', keySize: 4, valueSize: 4, maxEntries: 1 }), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/unknown-map-type');
});

test('per-CPU values: one 8-byte aligned slot per possible CPU', opts, () => {
  const cpus = possibleCpuCount();
  using map = BpfMap.create({ type: 'PERCPU_ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.equal(map.valueBufferSize, 8 * cpus);
  const values = Array.from({ length: cpus }, (_, i) => u32(1000 + i));
  map.updatePerCpu(u32(0), values);
  const back = map.lookupPerCpu(u32(0))!;
  assert.equal(back.length, cpus);
  back.forEach((v, i) => assert.equal(new DataView(v.buffer, v.byteOffset).getUint32(0, true), 1000 + i));
  using plain = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => plain.lookupPerCpu(u32(0)), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/not-per-cpu');
});

test('batch update, lookup, lookup-and-delete, delete', opts, () => {
  using map = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 64 });
  const keys = Array.from({ length: 40 }, (_, i) => u32(i));
  assert.equal(map.updateBatch(keys, keys.map((_, i) => u64(i * 3))), 40);
  const all = [...map.entriesBatched(7)];
  assert.equal(all.length, 40);
  for (const [k, v] of all) assert.equal(readU64(v), new DataView(k.buffer).getUint32(0, true) * 3);
  assert.equal(map.deleteBatch(keys.slice(0, 10)), 10);
  const first = map.lookupAndDeleteBatch(64);
  assert.equal(first.keys.length, 30);
  assert.equal(map.nextKey(), undefined);
});

test('queue: push, peek, pop', opts, () => {
  using queue = BpfMap.create({ type: 'QUEUE', keySize: 0, valueSize: 4, maxEntries: 4 });
  queue.push(u32(7));
  queue.push(u32(8));
  assert.deepEqual(queue.peek(), u32(7));
  assert.deepEqual(queue.pop(), u32(7));
  assert.deepEqual(queue.pop(), u32(8));
  assert.equal(queue.pop(), undefined);
});

test('freeze makes the map read-only for userspace (EPERM)', opts, () => {
  using map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 });
  map.update(u32(0), u32(5));
  map.freeze();
  assert.throws(() => map.update(u32(0), u32(6)), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EPERM');
  assert.deepEqual(map.lookup(u32(0)), u32(5));
});

test('map-in-map, info, ids, fd by id, pin and get on bpffs', opts, () => {
  using inner = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1, name: 'inner' });
  using outer = BpfMap.create({ type: 'ARRAY_OF_MAPS', keySize: 4, valueSize: 4, maxEntries: 2, innerMap: inner, name: 'outer' });
  outer.update(u32(0), u32(inner.fd));
  // Lookups of map-in-map return the inner map's id.
  assert.equal(new DataView(outer.lookup(u32(0))!.buffer).getUint32(0, true), inner.id);
  const info = outer.info();
  assert.equal(info.type, MapType.ARRAY_OF_MAPS);
  assert.equal(info.name, 'outer');
  assert.equal(info.maxEntries, 2);
  assert.ok([...BpfMap.ids()].includes(outer.id));
  using again = BpfMap.fromId(inner.id)!;
  assert.equal(again.name, 'inner');
  assert.equal(again.keySize, 4);
  const path = `/sys/fs/bpf/tsbpf-test-${runTag}/counts`;
  try {
    inner.pin(path);
    using pinned = BpfMap.fromPin(path);
    assert.equal(pinned.id, inner.id);
  } finally {
    rmSync(`/sys/fs/bpf/tsbpf-test-${runTag}`, { recursive: true, force: true });
  }
});

test('closed maps refuse use; close is idempotent', opts, () => {
  const map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1, name: 'gone' });
  map.close();
  map.close();
  assert.equal(map.closed, true);
  assert.throws(() => map.lookup(u32(0)), ClosedObjectError);
});
