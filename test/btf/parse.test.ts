import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../src/elf/index.js';
import { BtfError, btfFromElf, dumpBtfRaw, parseBtf, type BtfType } from '../../src/btf/index.js';
import { corpus, fixturesDir, missingCorpus } from '../support/paths.js';
import { BtfBuilder } from './support/btf-builder.js';
import { filesUnder, findTool, hasVmlinux, isSampleObject, run, VMLINUX_BTF } from './support/tools.js';

const bpftool = findTool('bpftool');
const NO_BPFTOOL = 'bpftool not installed';

function bpftoolDump(path: string, base?: string): string {
  const r = run(bpftool!, [...(base ? ['-B', base] : []), 'btf', 'dump', 'file', path]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function withTempFile<T>(bytes: Uint8Array, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-'));
  try {
    const p = join(dir, 'blob.btf');
    writeFileSync(p, bytes);
    return f(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One of every kind, with the awkward cases (bitfields, signed enums, 64-bit enums, tags). */
function allKinds(littleEndian = true): Uint8Array {
  const b = new BtfBuilder({ littleEndian });
  const int = b.int('int', 4, true);
  const uchar = b.int('unsigned char', 1, false, 8, 2);
  b.int('_Bool', 1, false, 8, 4);
  const ptr = b.ptr(int);
  const arr = b.array(uchar, int, 16);
  b.struct('s', 24, [
    { name: 'a', type: int, bitOffset: 0 },
    { name: 'p', type: ptr, bitOffset: 64 },
    { name: 'bits', type: int, bitOffset: 128, bitfieldSize: 3 },
    { name: '', type: int, bitOffset: 131, bitfieldSize: 5 },
  ]);
  b.composite('UNION', 'u', 16, [
    { name: 'x', type: int, bitOffset: 0 },
    { name: 'buf', type: arr, bitOffset: 0 },
  ]);
  b.enum('e', 4, [['A', 0], ['B', -1]], true);
  b.enum('ue', 4, [['C', 0xffffffff]]);
  b.enum64('e64', [['BIG', -5n]], true);
  b.enum64('ue64', [['HUGE', 0xfedcba9876543210n]]);
  b.fwd('fs');
  b.fwd('fu', true);
  b.typedef('int_t', int);
  b.modifier('VOLATILE', int);
  b.modifier('CONST', ptr);
  b.modifier('RESTRICT', ptr);
  const proto = b.funcProto(int, [['x', int], ['', ptr]]);
  b.func('f', proto, 1);
  b.func('g', proto, 0);
  const v = b.variable('v', int, 1);
  b.variable('sv', int, 0);
  b.datasec('.data', 4, [[v, 0, 4]]);
  b.float('double', 8);
  b.declTag('tag', v, -1);
  b.declTag('ptag', proto, 1);
  b.typeTag('user', int);
  b.int('__int128', 16, true, 128);
  return b.build();
}

test('parses /sys/kernel/btf/vmlinux fast and dumps it exactly like bpftool', (t) => {
  if (!hasVmlinux()) return t.skip(`${VMLINUX_BTF} not present`);
  const bytes = readFileSync(VMLINUX_BTF);
  const times: number[] = [];
  let btf = parseBtf(bytes);
  // CPU time: a busy machine stretches the wall-clock time, not the work.
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    btf = parseBtf(bytes);
    const cpu = process.cpuUsage(start);
    times.push((cpu.user + cpu.system) / 1000);
  }
  times.sort((a, b) => a - b);
  t.diagnostic(`vmlinux: ${bytes.length} bytes, ${btf.typeCount - 1} types, parse median ${times[1]!.toFixed(1)} ms of CPU`);
  assert.ok(times[1]! < 1500, 'parse within budget');
  const task = btf.findByName('task_struct', 'STRUCT');
  assert.ok(task && task.kind === 'STRUCT');
  assert.equal(btf.resolveSize(task.id), task.size);
  if (!bpftool) return t.skip(NO_BPFTOOL);
  const expected = bpftoolDump(VMLINUX_BTF);
  const ours = dumpBtfRaw(btf);
  assert.ok(ours === expected, 'dump differs from bpftool');
});

test('every kind dumps exactly like bpftool, in both byte orders', (t) => {
  const le = parseBtf(allKinds(true));
  const be = parseBtf(allKinds(false));
  assert.equal(le.littleEndian, true);
  assert.equal(be.littleEndian, false);
  const text = dumpBtfRaw(le);
  assert.equal(dumpBtfRaw(be), text);
  assert.match(text, /\[1\] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n/);
  assert.match(text, /'bits' type_id=1 bits_offset=128 bitfield_size=3\n/);
  assert.match(text, /'BIG' val=-5LL\n/);
  const kinds = new Set(le.types.map((x: BtfType) => x.kind));
  assert.equal(kinds.size, 19);
  if (!bpftool) return t.skip(NO_BPFTOOL);
  withTempFile(allKinds(true), (p) => assert.equal(text, bpftoolDump(p)));
  withTempFile(allKinds(false), (p) => assert.equal(text, bpftoolDump(p)));
});

test('the CO-RE fixtures (bpfel and bpfeb) dump like bpftool', (t) => {
  const dumps = ['core_read.bpf.o', 'core_read.bpfeb.o'].map((name) => {
    const path = join(fixturesDir, 'core', name);
    const btf = btfFromElf(parseElf(readFileSync(path), { fileName: path }));
    assert.ok(btf);
    const text = dumpBtfRaw(btf);
    if (bpftool) assert.equal(text, bpftoolDump(path), name);
    return text;
  });
  assert.equal(dumps[0], dumps[1]);
  if (!bpftool) t.skip(NO_BPFTOOL);
});

test('ebpf-samples: every .BTF parses (or throws BtfError) and dumps like bpftool', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let objects = 0;
  let withBtf = 0;
  let same = 0;
  const rejected: string[] = [];
  for (const f of filesUnder(dir, isSampleObject)) {
    let elf;
    try {
      elf = parseElf(readFileSync(f), { fileName: f });
    } catch {
      continue; // the ELF test counts these
    }
    objects++;
    let btf;
    try {
      btf = btfFromElf(elf);
    } catch (e) {
      assert.ok(e instanceof BtfError, `${f}: ${String(e)}`);
      assert.equal(e.location.file, f);
      rejected.push(`${e.code} ${f.slice(dir.length + 1)}: ${e.detail}`);
      continue;
    }
    if (!btf) continue;
    withBtf++;
    if (bpftool) {
      assert.equal(dumpBtfRaw(btf), bpftoolDump(f), f);
      same++;
    }
  }
  t.diagnostic(`BTF: ${objects} ELF objects, ${withBtf} with .BTF parsed, ${rejected.length} rejected with BtfError, ${same} dumps identical to bpftool`);
  for (const r of rejected) t.diagnostic(`  ${r}`);
  for (const r of rejected) assert.match(r, / invalid\//);
  assert.ok(withBtf >= 80);
});

test('lookups by id and name, sizes and alignments through typedefs and modifiers', () => {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const long = b.int('long', 8, true);
  const char = b.int('char', 1, true, 8, 1);
  const cint = b.modifier('CONST', int);
  const td = b.typedef('myint', cint);
  const arr = b.array(td, int, 5);
  const s = b.struct('pair', 16, [
    { name: 'a', type: td, bitOffset: 0 },
    { name: 'b', type: long, bitOffset: 64 },
  ]);
  const packed = b.struct('packed', 9, [
    { name: 'c', type: char, bitOffset: 0 },
    { name: 'l', type: long, bitOffset: 8 },
  ]);
  const sArr = b.array(s, int, 3);
  const vtd = b.typedef('pair_t', b.modifier('VOLATILE', s));
  const btf = parseBtf(b.build());
  assert.equal(btf.type(0).kind, 'VOID');
  assert.equal(btf.type(td).name, 'myint');
  assert.equal(btf.findByName('pair', 'STRUCT')?.id, s);
  assert.equal(btf.findByName('pair', 'UNION'), undefined);
  assert.deepEqual(btf.idsByName('int'), [int]);
  assert.equal(btf.resolveSize(td), 4);
  assert.equal(btf.resolveSize(arr), 20);
  assert.equal(btf.resolveSize(sArr), 48);
  assert.equal(btf.resolveSize(vtd), 16);
  assert.equal(btf.skipModifiers(vtd, true), s);
  assert.equal(btf.skipModifiers(cint), int);
  assert.equal(btf.resolveAlignment(arr), 4);
  assert.equal(btf.resolveAlignment(s), 8);
  assert.equal(btf.resolveAlignment(packed), 1);
  assert.throws(() => btf.type(99), (e: unknown) => e instanceof BtfError && e.code === 'btf/bad-type-id');
});

test('split BTF resolves ids and strings through its base, and dumps like bpftool -B', (t) => {
  const base = new BtfBuilder();
  const int = base.int('int', 4, true);
  base.struct('base_s', 4, [{ name: 'x', type: int, bitOffset: 0 }]);
  const baseBytes = base.build();
  const baseBtf = parseBtf(baseBytes);
  const strLen = new DataView(baseBytes.buffer).getUint32(20, true);
  const split = new BtfBuilder({ firstId: baseBtf.typeCount, firstStringOffset: strLen });
  const p = split.ptr(int);
  split.struct('mod_s', 16, [
    { name: 'x', type: int, bitOffset: 0 },
    { name: 'next', type: p, bitOffset: 64 },
  ]);
  split.typedef('int', int); // reuses the base's string "int"
  const splitBytes = split.build();
  const btf = parseBtf(splitBytes, { base: baseBtf });
  assert.equal(btf.startId, 3);
  assert.equal(btf.typeCount, 6);
  assert.equal(btf.type(1).name, 'int');
  assert.equal(btf.type(5).name, 'int');
  assert.equal(btf.findByName('base_s')?.id, 2);
  assert.equal(btf.findByName('mod_s')?.id, 4);
  assert.equal(btf.resolveSize(4), 16);
  assert.throws(() => parseBtf(splitBytes), (e: unknown) => e instanceof BtfError);
  if (!bpftool) return t.skip(NO_BPFTOOL);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-split-'));
  try {
    writeFileSync(join(dir, 'base'), baseBytes);
    writeFileSync(join(dir, 'split'), splitBytes);
    assert.equal(dumpBtfRaw(btf), bpftoolDump(join(dir, 'split'), join(dir, 'base')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function expectBtfError(bytes: Uint8Array, code: string, typeId?: number): BtfError {
  let caught: unknown;
  try {
    parseBtf(bytes);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BtfError, `expected BtfError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeId !== undefined) {
    assert.equal(caught.typeId, typeId, caught.message);
    assert.match(caught.message, new RegExp(`type \\[${typeId}\\]`));
  }
  return caught;
}

test('malformed BTF throws BtfError naming the type id or offset', () => {
  const good = allKinds();
  expectBtfError(good.subarray(0, 10), 'btf/truncated');
  const magic = good.slice();
  magic[0] = 0;
  expectBtfError(magic, 'btf/bad-magic');
  const version = good.slice();
  version[2] = 2;
  expectBtfError(version, 'btf/bad-version');
  const short = good.slice();
  new DataView(short.buffer).setUint32(12, good.length, true);
  expectBtfError(short, 'btf/truncated');

  const unknownKind = new BtfBuilder();
  unknownKind.int('int', 4, true);
  unknownKind.raw('x', 25, 0, false, 0);
  expectBtfError(unknownKind.build(), 'btf/bad-kind', 2);

  const badName = new BtfBuilder();
  badName.int('int', 4, true);
  badName.raw(9999, 2, 0, false, 1);
  expectBtfError(badName.build(), 'btf/bad-string', 2);

  const badRef = new BtfBuilder();
  badRef.int('int', 4, true);
  badRef.struct('s', 4, [{ name: 'x', type: 7, bitOffset: 0 }]);
  const e = expectBtfError(badRef.build(), 'btf/bad-type-id', 2);
  assert.match(e.message, /member 'x'/);

  const truncatedMembers = new BtfBuilder();
  truncatedMembers.int('int', 4, true);
  truncatedMembers.raw('s', 4, 3, false, 4, [0, 1, 0]);
  expectBtfError(truncatedMembers.build(), 'btf/truncated', 2);

  const badInt = new BtfBuilder();
  badInt.int('int', 4, true, 40);
  expectBtfError(badInt.build(), 'btf/bad-type', 1);
});
