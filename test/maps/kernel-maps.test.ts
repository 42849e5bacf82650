import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/vm/memory.js';
import { MapType } from '../../src/uapi/map-types.js';
import { MapError, MapFlag, createMap, type BpfMap as UserMap, type MapSpec } from '../../src/maps/index.js';
import { ObjectArrayMap } from '../../src/maps/array.js';
import { QueueStackMap } from '../../src/maps/queue.js';
import { skipReason } from '../linux/support.js';

/**
 * Map semantics against the kernel: the same user-side operations on a userspace map and a kernel
 * map (bpf() through tsbpf's Linux backend) give the same results and errno values.
 */

type Linux = typeof import('../../src/linux/index.js');
const linux: Linux | undefined = skipReason === undefined ? await import('../../src/linux/index.js') : undefined;
const options = { skip: skipReason };

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'none' : Buffer.from(b).toString('hex'));

/** Run `op`; the errno it failed with, or 0. Both backends' errors carry `errno`. */
function errnoOf(op: () => unknown): number {
  try {
    op();
    return 0;
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (typeof errno !== 'number') throw e;
    return errno;
  }
}

interface Both {
  user: UserMap;
  kern: InstanceType<Linux['BpfMap']>;
  close(): void;
}

function both(spec: Omit<MapSpec, 'name'>, cpus = 1): Both {
  const user = createMap({ name: 'm', ...spec }, { space: new AddressSpace(), cpus });
  const kern = linux!.BpfMap.create({ type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, flags: spec.flags ?? 0 });
  return { user, kern, close: () => kern.close() };
}

/** The same sequence of operations on both; returns their outcome lists for comparison. */
function script(m: Both, steps: ((map: { update: (k: Uint8Array, v: Uint8Array, f?: number) => number; lookup: (k: Uint8Array) => string; del: (k: Uint8Array) => number }) => string | number)[]) {
  const wrap = (side: 'user' | 'kern') => ({
    update: (k: Uint8Array, v: Uint8Array, f = 0) => errnoOf(() => (side === 'user' ? m.user.update(k, v, f) : m.kern.update(k, v, f))),
    lookup: (k: Uint8Array) => hex(side === 'user' ? m.user.lookup(k) : m.kern.lookup(k)),
    del: (k: Uint8Array) => errnoOf(() => {
      if (side === 'user') m.user.delete(k);
      else if (!m.kern.delete(k)) throw new MapError(2, 'ENOENT');
    }),
  });
  const user = steps.map((s) => s(wrap('user')));
  const kern = steps.map((s) => s(wrap('kern')));
  return { user, kern };
}

const sortedKeys = (keys: Iterable<Uint8Array>) => [...keys].map(hex).sort();

test('kernel vs userspace: array map (flags, range, delete)', options, () => {
  const m = both({ type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 4 });
  try {
    const r = script(m, [
      (x) => x.update(u32(1), u64(7)),
      (x) => x.update(u32(4), u64(7)),
      (x) => x.update(u32(1), u64(8), 1),
      (x) => x.update(u32(1), u64(9), 2),
      (x) => x.update(u32(1), u64(9), 3),
      (x) => x.lookup(u32(1)),
      (x) => x.lookup(u32(3)),
      (x) => x.lookup(u32(9)),
      (x) => x.del(u32(1)),
    ]);
    assert.deepEqual(r.user, r.kern);
    assert.deepEqual(sortedKeys(m.user.keys()), sortedKeys(m.kern.keys()));
  } finally {
    m.close();
  }
});

test('kernel vs userspace: hash map (NOEXIST/EXIST, full, delete, iteration)', options, () => {
  const m = both({ type: MapType.hash, keySize: 4, valueSize: 8, maxEntries: 3 });
  try {
    const r = script(m, [
      (x) => x.update(u32(1), u64(1), 2),
      (x) => x.update(u32(1), u64(1)),
      (x) => x.update(u32(1), u64(2), 1),
      (x) => x.update(u32(1), u64(3), 2),
      (x) => x.update(u32(2), u64(2)),
      (x) => x.update(u32(3), u64(3)),
      (x) => x.update(u32(4), u64(4)),
      (x) => x.update(u32(3), u64(33)),
      (x) => x.lookup(u32(1)),
      (x) => x.lookup(u32(3)),
      (x) => x.lookup(u32(4)),
      (x) => x.del(u32(2)),
      (x) => x.del(u32(2)),
      (x) => x.update(u32(4), u64(4)),
    ]);
    assert.deepEqual(r.user, r.kern);
    assert.deepEqual(sortedKeys(m.user.keys()), sortedKeys(m.kern.keys()));
  } finally {
    m.close();
  }
});

test('kernel vs userspace: LPM trie longest-prefix match', options, () => {
  const m = both({ type: MapType.lpm_trie, keySize: 8, valueSize: 4, maxEntries: 8, flags: MapFlag.NO_PREALLOC });
  const key = (len: number, ...ip: number[]) => new Uint8Array([...u32(len), ...ip]);
  try {
    const r = script(m, [
      (x) => x.update(key(8, 10, 0, 0, 0), u32(8)),
      (x) => x.update(key(16, 10, 1, 0, 0), u32(16)),
      (x) => x.update(key(24, 10, 1, 2, 0), u32(24)),
      (x) => x.update(key(0, 0, 0, 0, 0), u32(0)),
      (x) => x.update(key(33, 0, 0, 0, 0), u32(0)),
      (x) => x.update(key(16, 10, 1, 0, 0), u32(160), 1),
      (x) => x.lookup(key(32, 10, 1, 2, 3)),
      (x) => x.lookup(key(32, 10, 1, 9, 9)),
      (x) => x.lookup(key(32, 10, 9, 9, 9)),
      (x) => x.lookup(key(32, 11, 0, 0, 0)),
      (x) => x.lookup(key(20, 10, 1, 2, 3)),
      (x) => x.del(key(24, 10, 1, 2, 0)),
      (x) => x.del(key(24, 10, 1, 2, 0)),
      (x) => x.lookup(key(32, 10, 1, 2, 3)),
    ]);
    assert.deepEqual(r.user, r.kern);
    assert.deepEqual(sortedKeys(m.user.keys()), sortedKeys(m.kern.keys()));
  } finally {
    m.close();
  }
});

test('kernel vs userspace: per-CPU array and hash values (8-byte slots per possible CPU)', options, () => {
  const cpus = linux!.possibleCpuCount();
  for (const type of [MapType.percpu_array, MapType.percpu_hash]) {
    const m = both({ type, keySize: 4, valueSize: 4, maxEntries: 4 }, cpus);
    try {
      const value = new Uint8Array(8 * cpus);
      for (let c = 0; c < cpus; c++) value.set(u32(100 + c), 8 * c);
      m.user.update(u32(2), value);
      m.kern.update(u32(2), value);
      assert.equal(hex(m.user.lookup(u32(2))), hex(m.kern.lookup(u32(2))));
      assert.equal(m.user.lookup(u32(2))!.length, 8 * cpus);
    } finally {
      m.close();
    }
  }
});

test('kernel vs userspace: queue and stack (order, full, BPF_EXIST overwrite, empty)', options, () => {
  for (const type of [MapType.queue, MapType.stack]) {
    const m = both({ type, keySize: 0, valueSize: 4, maxEntries: 2 });
    try {
      const user = m.user as QueueStackMap;
      const ops = (push: (v: number, f?: number) => number, pop: () => string) => [
        push(1), push(2), push(3), push(3, 2), pop(), pop(), pop(),
      ];
      const u = ops(
        (v, f = 0) => errnoOf(() => user.update(new Uint8Array(0), u32(v), f)),
        () => hex(user.lookupAndDelete()),
      );
      const k = ops(
        (v, f = 0) => errnoOf(() => m.kern.push(u32(v), f)),
        () => hex(m.kern.pop()),
      );
      assert.deepEqual(u, k, `map type ${type}`);
    } finally {
      m.close();
    }
  }
});

test('kernel vs userspace: LRU hash never exceeds max_entries and keeps the newest key', options, () => {
  const m = both({ type: MapType.lru_hash, keySize: 4, valueSize: 8, maxEntries: 256 });
  try {
    for (let i = 0; i < 2000; i++) {
      m.user.update(u32(i), u64(i));
      m.kern.update(u32(i), u64(i));
    }
    const userCount = [...m.user.keys()].length;
    const kernCount = [...m.kern.keys()].length;
    assert.ok(userCount <= 256 && kernCount <= 256, `user ${userCount}, kernel ${kernCount}`);
    assert.equal(hex(m.user.lookup(u32(1999))), hex(m.kern.lookup(u32(1999))));
    // The kernel's LRU is approximate: nodes parked on another CPU's local free list when the
    // process migrates can keep an old key alive, so only the userspace map promises key 0 is gone.
    assert.equal(m.user.lookup(u32(0)), undefined);
  } finally {
    m.close();
  }
});

test('kernel vs userspace: map-in-map holds inner maps by fd/id', options, () => {
  const innerSpec = { type: MapType.array, keySize: 4, valueSize: 4, maxEntries: 1 };
  const space = new AddressSpace();
  const userInner = createMap({ name: 'inner', ...innerSpec }, { space, cpus: 1 });
  userInner.id = 7;
  const userOuter = createMap({ name: 'outer', type: MapType.array_of_maps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { name: 'i', ...innerSpec } }, { space, cpus: 1 }, (id) => (id === 7 ? userInner : undefined)) as ObjectArrayMap<UserMap>;
  const kernInner = linux!.BpfMap.create(innerSpec);
  const kernOuter = linux!.BpfMap.create({ type: MapType.array_of_maps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: kernInner });
  try {
    userOuter.update(u32(0), u32(7));
    kernOuter.update(u32(0), u32(kernInner.fd));
    assert.equal(userOuter.lookup(u32(0)) !== undefined, kernOuter.lookup(u32(0)) !== undefined);
    assert.equal(userOuter.lookup(u32(1)), undefined);
    assert.equal(kernOuter.lookup(u32(1)), undefined);
    assert.equal(errnoOf(() => userOuter.update(u32(1), u32(99))), errnoOf(() => kernOuter.update(u32(1), u32(99999))));
    assert.equal(userOuter.get(0), userInner);
  } finally {
    kernOuter.close();
    kernInner.close();
  }
});
