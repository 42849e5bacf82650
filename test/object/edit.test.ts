import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { editMap, objectMap, openObject } from '../../src/object/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';
import { corpus, missingCorpus } from '../support/paths.js';

const samples = corpus('verifier', 'ebpf-samples');
const open = (name: string) => openObject(new Uint8Array(readFileSync(join(samples!, name))), { fileName: name });

test('editMap sets max_entries, sizes, flags, an inner map and a pin path before load', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = open('falco/probe.o');
  assert.equal(objectMap(object, 'frame_scratch_map').maxEntries, 0, 'falco leaves its scratch maps for the loader to size');
  const map = editMap(object, 'frame_scratch_map', { maxEntries: 4, flags: 0 });
  assert.equal(map, objectMap(object, 'frame_scratch_map'), 'edited in place');
  assert.equal(map.maxEntries, 4);
  editMap(object, 'settings_map', { valueSize: 40, keySize: 4, pinPath: '/sys/fs/bpf/x/settings' });
  assert.equal(objectMap(object, 'settings_map').valueSize, 40);
  assert.equal(objectMap(object, 'settings_map').pinPath, '/sys/fs/bpf/x/settings');

  // Resizing drops the declared BTF type, which no longer fits; keeping the size keeps it.
  const btfDefined = open('build/prog_array.o');
  assert.equal(editMap(btfDefined, 'prog_array_map', { keySize: 4 }).btfKeyTypeId, 7);
  assert.equal(editMap(btfDefined, 'prog_array_map', { keySize: 8 }).btfKeyTypeId, undefined);

  const legacy = open('build/map_in_map_legacy.o');
  editMap(legacy, 'array_of_maps', { innerMap: { name: 'tpl', type: MapType.array, keySize: 4, valueSize: 16, maxEntries: 2 } });
  assert.equal(objectMap(legacy, 'array_of_maps').innerMap?.valueSize, 16);
});

test('editMap refuses what cannot be edited, with typed errors that name the map', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = open('falco/probe.o');
  const refused = (f: () => unknown, code: string, text: RegExp): void => {
    assert.throws(f, (e: unknown) => e instanceof TsbpfError && e.code === code && text.test(e.message) && e.message.includes('falco/probe.o'));
  };
  refused(() => editMap(object, 'no_such_map', { maxEntries: 1 }), 'object/no-map', /no map no_such_map \(maps: perf_map, /);
  refused(() => editMap(object, 'frame_scratch_map', { maxEntries: -1 }), 'object/bad-map-edit', /maxEntries -1 is not a u32/);
  refused(() => editMap(object, 'frame_scratch_map', { valueSize: 1.5 }), 'object/bad-map-edit', /valueSize 1.5/);
  refused(() => editMap(object, 'frame_scratch_map', { innerMap: { name: 'x', type: MapType.array, keySize: 4, valueSize: 4, maxEntries: 1 } }), 'object/bad-map-edit', /only array_of_maps and hash_of_maps/);
  refused(() => editMap(object, '.rodata.str1.1', { valueSize: 64 }), 'object/bad-map-edit', /the shape of a global data map follows its section/);
  refused(() => editMap(object, 'perf_map', { pinPath: '' }), 'object/bad-map-edit', /pin path is empty/);
  assert.equal(objectMap(object, 'frame_scratch_map').maxEntries, 0, 'a refused edit changes nothing');
});

test('the userspace runtime creates maps as edited', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = open('build/map_in_map_legacy.o');
  editMap(object, 'inner_map', { maxEntries: 8 });
  using runtime = new Runtime();
  const loaded = runtime.loadObject(object, { type: 'socket_filter' });
  assert.equal(loaded.map('inner_map').spec.maxEntries, 8);
});
