import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/vm/memory.js';
import { MapType } from '../../src/uapi/map-types.js';
import { createMap, MapError, type BpfMap, type MapSpec } from '../../src/maps/index.js';
import { MAP_HANDLE } from '../../src/maps/handle.js';
import { BPF_MAP_MEMBERS } from '../../src/verifier/map-btf.js';

/**
 * The userspace maps on values with special fields (`struct counter { u32 hits; struct bpf_spin_lock
 * lock; u64 total; }`): copies step around the lock as the kernel's copy_map_value does, lookups read
 * it as zeros, BPF_F_LOCK needs a lock; and each map's handle is laid out as struct bpf_map.
 * test/runtime/map-value-fields.test.ts holds the same behaviour to the kernel's.
 */

const counter = (type: number, extra: Partial<MapSpec> = {}): MapSpec => ({
  name: 'counters', type, keySize: 4, valueSize: 16, maxEntries: 4, valueFields: [{ kind: 'spin_lock', offset: 4, size: 4 }], ...extra,
});
const key = new Uint8Array(4);
/** hits 5, lock word 1 (held), total 7. */
const heldValue = new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'none' : Buffer.from(b).toString('hex'));
const errnoOf = (op: () => unknown): number => {
  try {
    op();
    return 0;
  } catch (e) {
    if (e instanceof MapError) return e.errno;
    throw e;
  }
};

/** The lock word of key 0's value as it lies in memory (what a program's bpf_spin_lock sees). */
function lockWord(map: BpfMap, space: AddressSpace): number {
  const keyAt = space.allocateWith(key, 'scratch', 'key');
  try {
    return space.view.getUint32(map.lookupElem(keyAt.start, 0) + 4, true);
  } finally {
    space.release(keyAt);
  }
}

// The kernel allows a bpf_spin_lock in array and hash values only (map_check_btf); timers in LRU hashes too.
for (const [name, type] of [['array', MapType.array], ['hash', MapType.hash]] as const) {
  test(`${name}: a user update leaves the lock word alone, a lookup reads it as zero`, () => {
    const space = new AddressSpace();
    const map = createMap(counter(type), { space, cpus: 1 });
    map.update(key, heldValue);
    assert.equal(lockWord(map, space), 0);
    assert.equal(hex(map.lookup(key)), '05000000000000000700000000000000');
    // A program holding the lock while user space updates: the word stays held; the copy out says 0.
    const keyAt = space.allocateWith(key, 'scratch', 'key');
    space.view.setUint32(map.lookupElem(keyAt.start, 0) + 4, 1, true);
    map.update(key, new Uint8Array(16).fill(9));
    assert.equal(lockWord(map, space), 1);
    assert.equal(hex(map.lookup(key)), '09090909000000000909090909090909');
    assert.equal(hex([...map.entries()][0]![1]), '09090909000000000909090909090909');
  });

  test(`${name}: a program-side update copies around the lock word`, () => {
    const space = new AddressSpace();
    const map = createMap(counter(type), { space, cpus: 1 });
    const keyAt = space.allocateWith(key, 'scratch', 'key');
    const valueAt = space.allocateWith(new Uint8Array(16).fill(0xff), 'scratch', 'value');
    assert.equal(map.updateElem(keyAt.start, valueAt.start, 0, 0), 0);
    assert.equal(hex(space.u8.slice(map.lookupElem(keyAt.start, 0), map.lookupElem(keyAt.start, 0) + 16)), 'ffffffff00000000ffffffffffffffff');
    assert.equal(map.updateElem(keyAt.start, valueAt.start, 4, 0), 0, 'BPF_F_LOCK on a value with a lock');
  });

  test(`${name}: BPF_F_LOCK without a bpf_spin_lock in the value is EINVAL`, () => {
    const space = new AddressSpace();
    const plain = createMap(counter(type, { valueFields: [] }), { space, cpus: 1 });
    assert.equal(errnoOf(() => plain.update(key, heldValue, 4)), 22);
    const keyAt = space.allocateWith(key, 'scratch', 'key');
    const valueAt = space.allocateWith(heldValue, 'scratch', 'value');
    assert.equal(plain.updateElem(keyAt.start, valueAt.start, 4, 0), -22);
    const locked = createMap(counter(type), { space, cpus: 1 });
    assert.equal(errnoOf(() => locked.update(key, heldValue, 4)), 0);
  });
}

test('timer fields are skipped and zeroed like locks; values without fields are copied whole', () => {
  const space = new AddressSpace();
  const timed = createMap({ name: 't', type: MapType.array, keySize: 4, valueSize: 24, maxEntries: 1, valueFields: [{ kind: 'timer', offset: 8, size: 16 }] }, { space, cpus: 1 });
  const keyAt = space.allocateWith(key, 'scratch', 'key');
  const value = timed.lookupElem(keyAt.start, 0);
  // What bpf_timer_init leaves in the kernel: a pointer in the timer's first word.
  space.view.setUint32(value + 8, 0xdeadbeef, true);
  timed.update(key, new Uint8Array(24).fill(0xab));
  assert.equal(space.view.getUint32(value + 8, true), 0xdeadbeef);
  assert.equal(hex(timed.lookup(key)), 'abababababababab' + '00'.repeat(16));
  const plain = createMap({ name: 'p', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1 }, { space, cpus: 1 });
  plain.update(key, new Uint8Array(8).fill(1));
  assert.equal(hex(plain.lookup(key)), '0101010101010101');
});

test('lru_hash: an update that evicts copies around the timer too', () => {
  const space = new AddressSpace();
  const spec: MapSpec = { name: 'l', type: MapType.lru_hash, keySize: 4, valueSize: 24, maxEntries: 1, valueFields: [{ kind: 'timer', offset: 8, size: 16 }] };
  const map = createMap(spec, { space, cpus: 1 });
  const keyAt = space.allocateWith(new Uint8Array([1, 0, 0, 0]), 'scratch', 'key');
  const valueAt = space.allocateWith(new Uint8Array(24).fill(0xcd), 'scratch', 'value');
  map.update(key, new Uint8Array(24).fill(0xab));
  assert.equal(map.updateElem(keyAt.start, valueAt.start, 0, 0), 0);
  const value = map.lookupElem(keyAt.start, 0);
  assert.equal(hex(space.u8.slice(value, value + 24)), 'cdcdcdcdcdcdcdcd' + '00'.repeat(16));
  assert.equal(map.lookup(key), undefined);
});

test('a hash map with special fields keeps its index to itself (the JIT copies whole values in place)', () => {
  const space = new AddressSpace();
  const locked = createMap(counter(MapType.hash), { space, cpus: 1 });
  const plain = createMap(counter(MapType.hash, { valueFields: [] }), { space, cpus: 1 });
  assert.equal(space.view.getUint32(locked.handle, true), 0);
  assert.notEqual(space.view.getUint32(plain.handle, true), 0);
});

test("the handle region is struct bpf_map: the offsets are the verifier's table's", () => {
  const member = (name: string) => BPF_MAP_MEMBERS.find((m) => m.name === name)!;
  const ours: [string, number][] = [
    ['map_type', MAP_HANDLE.mapType], ['key_size', MAP_HANDLE.keySize], ['value_size', MAP_HANDLE.valueSize],
    ['max_entries', MAP_HANDLE.maxEntries], ['map_extra', MAP_HANDLE.mapExtra], ['map_flags', MAP_HANDLE.mapFlags],
    ['id', MAP_HANDLE.id], ['numa_node', MAP_HANDLE.numaNode], ['btf_key_type_id', MAP_HANDLE.btfKeyTypeId],
    ['btf_value_type_id', MAP_HANDLE.btfValueTypeId], ['name', MAP_HANDLE.name],
  ];
  for (const [name, offset] of ours) assert.equal(offset, member(name).offset, name);
  const last = BPF_MAP_MEMBERS[BPF_MAP_MEMBERS.length - 1]!;
  assert.equal(MAP_HANDLE.bytes, last.offset + last.size);
});

test('the handle holds the map the spec describes, its id once given, and a name cut to 15 bytes', () => {
  const space = new AddressSpace();
  const map = createMap({
    name: 'a_name_longer_than_fifteen', type: MapType.bloom_filter, keySize: 0, valueSize: 8, maxEntries: 100, flags: 0x80,
    mapExtra: 3, btfKeyTypeId: 0, btfValueTypeId: 7,
  }, { space, cpus: 1 });
  map.id = 42;
  const h = map.handle;
  const u32 = (off: number): number => space.view.getUint32(h + off, true);
  assert.deepEqual(
    [u32(64), u32(68), u32(72), u32(76), Number(space.view.getBigUint64(h + 80, true)), u32(88), u32(92), space.view.getInt32(h + 104, true), u32(108), u32(112)],
    [MapType.bloom_filter, 0, 8, 100, 3, 0x80, 42, -1, 0, 7],
  );
  assert.equal(Buffer.from(space.u8.subarray(h + 136, h + 152)).toString('latin1'), 'a_name_longer_t\0');
  assert.equal(space.regionAt(h)?.size, 152);
});
