import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/vm/memory.js';
import { MapType } from '../../src/uapi/map-types.js';
import { Errno, UpdateFlag, createMap, type BpfMap, type MapSpec } from '../../src/maps/index.js';
import { random } from '../support/random.js';

/**
 * The hash maps' index (raw key bytes, open addressing, insertion-order list) against a plain model:
 * random inserts, updates and deletes over many keys of awkward sizes, through both faces (user side
 * and program side), checking contents, iteration order, nextKey and value addresses.
 */

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function make(spec: Partial<MapSpec> & { type: number }): { space: AddressSpace; map: BpfMap; scratch: number } {
  const space = new AddressSpace();
  const map = createMap({ name: 'm', keySize: 4, valueSize: 8, maxEntries: 64, ...spec }, { space, cpus: 1 });
  return { space, map, scratch: space.allocate(512, 'scratch', 'scratch').start };
}

for (const keySize of [1, 3, 4, 6, 16, 17, 40]) {
  test(`hash index: ${keySize}-byte keys, random operations agree with a model`, () => {
    const maxEntries = 300;
    const { space, map, scratch } = make({ type: MapType.hash, keySize, valueSize: 12, maxEntries });
    const next = random(0x5eed + keySize);
    // Few distinct keys for 1-byte keys (256 at most), so some inserts hit existing ones.
    const keyCount = keySize === 1 ? 200 : 500;
    const keys = Array.from({ length: keyCount }, (_, i) => {
      const k = new Uint8Array(keySize).map(() => Math.floor(next() * 256));
      k[0] = i & 0xff;
      if (keySize > 1) k[1] = i >> 8;
      return k;
    });
    const model = new Map<string, Uint8Array>();
    const addressOf = new Map<string, number>();
    for (let step = 0; step < 4000; step++) {
      const key = keys[Math.floor(next() * keys.length)]!;
      const id = hex(key);
      const roll = next();
      if (roll < 0.5) {
        const value = new Uint8Array(12).map(() => Math.floor(next() * 256));
        space.u8.set(key, scratch);
        space.u8.set(value, scratch + 64);
        const rc = map.updateElem(scratch, scratch + 64, UpdateFlag.ANY, 0);
        if (!model.has(id) && model.size >= maxEntries) assert.equal(rc, -Errno.E2BIG);
        else {
          assert.equal(rc, 0);
          model.set(id, value);
        }
      } else if (roll < 0.8) {
        space.u8.set(key, scratch);
        const rc = map.deleteElem(scratch);
        assert.equal(rc, model.delete(id) ? 0 : -Errno.ENOENT);
        addressOf.delete(id);
      } else {
        space.u8.set(key, scratch);
        const at = map.lookupElem(scratch, 0);
        const want = model.get(id);
        if (want === undefined) assert.equal(at, 0);
        else {
          assert.deepEqual(space.u8.slice(at, at + 12), want);
          // A value stays where it is while its element lives.
          assert.equal(at, addressOf.get(id) ?? at);
          addressOf.set(id, at);
        }
      }
    }
    // Iteration follows insertion order (an update of a live key keeps its place).
    assert.deepEqual([...map.keys()].map(hex).sort(), [...model.keys()].sort());
    assert.equal([...map.keys()].length, model.size);
    for (const [id, value] of model) assert.deepEqual(map.lookup(Buffer.from(id, 'hex')), value);
    // nextKey walks the same order; an unknown key restarts from the first.
    const order = [...map.keys()].map(hex);
    let cursor = map.nextKey();
    for (const id of order) {
      assert.equal(hex(cursor!), id);
      cursor = map.nextKey(cursor);
    }
    assert.equal(cursor, undefined);
    const unknown = keys.find((k) => !model.has(hex(k)));
    if (unknown && order.length) assert.equal(hex(map.nextKey(unknown)!), order[0]);
  });
}

test('hash index: insertion order, and LRU order moved by use and evicting the oldest', () => {
  const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
  const plain = make({ type: MapType.hash, maxEntries: 8 }).map;
  for (const k of [5, 1, 9, 3]) plain.update(u32(k), new Uint8Array(8));
  plain.delete(u32(1));
  plain.update(u32(1), new Uint8Array(8));
  plain.update(u32(9), new Uint8Array(8).fill(1));
  assert.deepEqual([...plain.keys()].map((k) => k[0]), [5, 9, 3, 1]);

  const { space, map: lru, scratch } = make({ type: MapType.lru_hash, maxEntries: 3 });
  for (const k of [1, 2, 3]) lru.update(u32(k), new Uint8Array(8).fill(k));
  space.u8.set(u32(1), scratch);
  assert.notEqual(lru.lookupElem(scratch, 0), 0);
  lru.update(u32(4), new Uint8Array(8).fill(4));
  assert.deepEqual([...lru.keys()].map((k) => k[0]), [3, 1, 4]);
  // The value to insert lives in the element the update evicts: it is copied first.
  const at = (k: number): number => {
    space.u8.set(u32(k), scratch);
    return lru.lookupElem(scratch, 0);
  };
  const oldest = at(3);
  at(1);
  at(4);
  assert.deepEqual([...lru.keys()].map((k) => k[0]), [3, 1, 4]);
  space.u8.set(u32(7), scratch);
  assert.equal(lru.updateElem(scratch, oldest, UpdateFlag.ANY, 0), 0);
  assert.deepEqual([...lru.keys()].map((k) => k[0]), [1, 4, 7]);
  assert.deepEqual(lru.lookup(u32(7)), new Uint8Array(8).fill(3));
});
