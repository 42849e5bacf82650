import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, ensureBpffs } from '../../src/linux/index.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { possibleCpuCount } from '../../src/linux/cpus.js';
import { fixturesDir } from '../support/paths.js';
import { runTag, skipReason } from '../linux/support.js';
import { cli, cliJson } from './kernel-support.js';

const pinPath = (tag: string): string => `${ensureBpffs()}/tsbpf-cli-map-${tag}-${runTag}`;

test('map create, update, lookup, getnext, delete, freeze on a pinned hash map (text and JSON)', { skip: skipReason }, async () => {
  const pin = pinPath('hash');
  rmSync(pin, { force: true });
  try {
    const created = await cli('map', 'create', pin, 'type', 'hash', 'key', '4', 'value', '8', 'entries', '4', 'name', 'cli_hash');
    assert.equal(created.code, 0, created.err);
    using map = BpfMap.fromPin(pin);
    const info = map.info();
    assert.deepEqual([info.typeName, info.keySize, info.valueSize, info.maxEntries, info.name], ['HASH', 4, 8, 4, 'cli_hash']);
    assert.equal(created.out, `map ${info.id} created and pinned at ${pin}\n`);

    const updated = await cli('map', 'update', String(info.id), 'key', '01', '00', '00', '00', 'value', 'hex', '0x2a00000000000000', 'noexist');
    assert.deepEqual([updated.code, updated.out], [0, `map ${info.id} (cli_hash): updated\n`]);
    assert.equal((await cli('map', 'update', String(info.id), 'key', '01000000', 'value', '00', '00', '00', '00', '00', '00', '00', '00', 'noexist')).code, 1);
    const lookup = await cli('map', 'lookup', 'pinned', pin, 'key', '0x01', '0', '0', '0');
    assert.equal(lookup.out, 'key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\n');
    assert.deepEqual(await cliJson('map', 'lookup', pin, 'key', '01000000'), {
      key: ['0x01', '0x00', '0x00', '0x00'], value: ['0x2a', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00'],
    });
    assert.deepEqual(await cliJson('map', 'getnext', pin), { next_key: ['0x01', '0x00', '0x00', '0x00'] });
    const last = await cli('map', 'getnext', pin, 'key', '01000000');
    assert.deepEqual([last.code, last.err], [1, `tsbpf map: map ${info.id} (cli_hash): no key after this one\n`]);
    assert.equal((await cli('map', 'show', pin)).out, `${info.id}: hash  name cli_hash  flags 0x0\n\tkey 4B  value 8B  max_entries 4\n`);

    assert.equal((await cli('map', 'delete', pin, 'key', '01000000')).code, 0);
    const gone = await cli('map', 'delete', pin, 'key', '01000000');
    assert.deepEqual([gone.code, gone.err], [1, `tsbpf map: map ${info.id} (cli_hash): key not found\n`]);
    assert.equal((await cli('map', 'lookup', pin, 'key', '01000000')).code, 1);

    assert.equal((await cli('map', 'freeze', pin)).out, `map ${info.id} (cli_hash) frozen\n`);
    const refused = await cli('map', 'update', pin, 'key', '02000000', 'value', '0000000000000000');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /BPF_MAP_UPDATE_ELEM failed: EPERM/);

    const short = await cli('map', 'lookup', pin, 'key', '01', '00');
    assert.equal(short.code, 2);
    assert.match(short.err, /key is 2 bytes; the map's key size is 4/);
    assert.equal((await cli('map', 'lookup', pin, 'key', 'zz')).code, 2);
    assert.equal((await cli('map', 'create', pin + '-x', 'type', 'no_such_type', 'key', '4', 'value', '4', 'entries', '1')).code, 2);
    const missing = await cli('map', 'lookup', '4294967295', 'key', '00');
    assert.deepEqual([missing.code, missing.err], [1, 'tsbpf map: no map with id 4294967295\n']);
  } finally {
    rmSync(pin, { force: true });
  }
});

test('map update of a per-CPU array: one value for every CPU, lookup shows each; map pin', { skip: skipReason }, async () => {
  const pin = pinPath('percpu');
  rmSync(pin, { force: true });
  try {
    using map = BpfMap.create({ type: 'PERCPU_ARRAY', keySize: 4, valueSize: 4, maxEntries: 2, name: 'cli_percpu' });
    const pinned = await cli('map', 'pin', String(map.id), pin);
    assert.deepEqual([pinned.code, pinned.out], [0, `map ${map.id} (cli_percpu) pinned at ${pin}\n`]);
    assert.equal((await cli('map', 'update', pin, 'key', '01000000', 'value', '07000000')).code, 0);
    const cpus = possibleCpuCount();
    const looked = await cliJson<{ value: string[][] }>('map', 'lookup', pin, 'key', '01000000');
    assert.deepEqual(looked.value, Array.from({ length: cpus }, () => ['0x07', '0x00', '0x00', '0x00']));
    assert.deepEqual(map.lookupPerCpu(new Uint8Array([1, 0, 0, 0]))?.map((v) => v[0]), Array.from({ length: cpus }, () => 7));
  } finally {
    rmSync(pin, { force: true });
  }
});

test('map lookup and getnext decode through BTF: a global data map of an object', { skip: skipReason }, async () => {
  const path = join(fixturesDir, 'progs', 'calls_globals.bpf.o');
  using kernel = loadObjectIntoKernel(openObjectForKernel(new Uint8Array(readFileSync(path)), { fileName: path }));
  const rodata = [...kernel.maps.values()].find((m) => m.name.endsWith('.rodata'));
  assert.ok(rodata, 'the fixture has a .rodata map');
  const looked = await cliJson<{ formatted: { key: number; value: Record<string, unknown> } }>('map', 'lookup', String(rodata.id), 'key', '00000000');
  assert.deepEqual(looked.formatted, { key: 0, value: { multiplier: 3 } });
  const text = await cli('map', 'lookup', String(rodata.id), 'key', '00000000');
  assert.match(text.out, /^key: 00 00 00 00  value: 03 00 00 00\n {2}0 => \{"multiplier":3\}\n$/);
  assert.deepEqual((await cliJson<{ formatted: unknown }>('map', 'getnext', String(rodata.id))).formatted, { key: 0 });
});
