import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { editMap, openObject, type BpfObject } from '../../src/object/index.js';
import { fixturesDir } from '../support/paths.js';

/**
 * BTF-defined maps carry the special fields of their value type (test/fixtures/maps/locks.bpf.c):
 * where the bpf_spin_lock and bpf_timer lie, read from the object's BTF; an empty list for a value
 * without any, and none at all once an edit resizes the value away from its BTF type.
 */

const open = (): BpfObject => openObject(new Uint8Array(readFileSync(join(fixturesDir, 'maps', 'locks.bpf.o'))), { fileName: 'locks.bpf.o' });

test('BTF-defined maps carry their value fields', () => {
  const fields = Object.fromEntries(open().maps.map((m) => [m.name, m.valueFields]));
  assert.deepEqual(fields, {
    counters: [{ kind: 'spin_lock', offset: 4, size: 4 }],
    counters_by_flow: [{ kind: 'spin_lock', offset: 4, size: 4 }],
    timers: [{ kind: 'timer', offset: 8, size: 16 }],
    map_facts_out: [],
  });
});

test('a value resized by editMap loses its BTF type and its fields with it', () => {
  const object = open();
  const map = editMap(object, 'counters', { valueSize: 32 });
  assert.equal(map.btfValueTypeId, undefined);
  assert.equal(map.valueFields, undefined);
  assert.deepEqual(editMap(object, 'timers', { maxEntries: 8 }).valueFields, [{ kind: 'timer', offset: 8, size: 16 }]);
});
