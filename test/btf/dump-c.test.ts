import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../src/elf/index.js';
import { btfFromElf, dumpBtfC, parseBtf } from '../../src/btf/index.js';
import { corpus, fixturesDir, missingCorpus } from '../support/paths.js';
import { BtfBuilder } from './support/btf-builder.js';
import { filesUnder, findTool, hasVmlinux, isSampleObject, run, VMLINUX_BTF } from './support/tools.js';

const bpftool = findTool('bpftool');
const NO_BPFTOOL = 'bpftool not installed';

function bpftoolC(path: string): string | undefined {
  const r = run(bpftool!, ['btf', 'dump', 'file', path, 'format', 'c']);
  return r.status === 0 ? r.stdout : undefined;
}

test('format c of vmlinux is exactly bpftool\'s', (t) => {
  if (!hasVmlinux()) return t.skip(`${VMLINUX_BTF} not present`);
  if (!bpftool) return t.skip(NO_BPFTOOL);
  const btf = parseBtf(readFileSync(VMLINUX_BTF));
  const start = performance.now();
  const ours = dumpBtfC(btf);
  t.diagnostic(`vmlinux format c: ${ours.length} chars in ${(performance.now() - start).toFixed(0)} ms`);
  assert.ok(ours === bpftoolC(VMLINUX_BTF), 'C dump differs from bpftool');
});

test('format c of the fixture and of the ebpf-samples objects is exactly bpftool\'s', (t) => {
  if (!bpftool) return t.skip(NO_BPFTOOL);
  const fixture = join(fixturesDir, 'core', 'core_read.bpf.o');
  const fixtureC = dumpBtfC(btfFromElf(parseElf(readFileSync(fixture)))!);
  assert.equal(fixtureC, bpftoolC(fixture));
  assert.match(fixtureC, /\tunsigned int in_execve: 1;\n/);
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let same = 0;
  for (const f of filesUnder(dir, isSampleObject)) {
    let btf;
    try {
      btf = btfFromElf(parseElf(readFileSync(f)));
    } catch {
      continue;
    }
    if (!btf) continue;
    const expected = bpftoolC(f);
    if (expected === undefined) continue;
    assert.equal(dumpBtfC(btf), expected, f);
    same++;
  }
  t.diagnostic(`format c: ${same} ebpf-samples objects identical to bpftool`);
  assert.ok(same >= 80);
});

test('format c: cycles, anonymous members, function pointers, padding, packing', (t) => {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const char = b.int('char', 1, true, 8, 1);
  const long = b.int('long', 8, true);
  const fwdNode = b.fwd('node');
  const node = b.struct('node', 24, [
    { name: 'next', type: b.ptr(fwdNode), bitOffset: 0 },
    { name: 'val', type: int, bitOffset: 64 },
    { name: 'flag', type: int, bitOffset: 128 + 3, bitfieldSize: 2 },
  ]);
  const a = b.fwd('a');
  const bStruct = b.struct('b', 8, [{ name: 'pa', type: b.ptr(a), bitOffset: 0 }]);
  b.struct('a', 16, [
    { name: 'pb', type: b.ptr(bStruct), bitOffset: 0 },
    { name: 'self', type: b.ptr(node), bitOffset: 64 },
  ]);
  const anon = b.composite('UNION', '', 8, [
    { name: 'l', type: long, bitOffset: 0 },
    { name: 'c', type: b.array(char, int, 8), bitOffset: 0 },
  ]);
  const proto = b.funcProto(int, [['x', int], ['', b.ptr(b.modifier('CONST', char))]]);
  const cb = b.typedef('cb_t', b.ptr(proto));
  b.struct('holder', 40, [
    { name: 'c', type: char, bitOffset: 0 },
    { name: '', type: anon, bitOffset: 64 },
    { name: 'cb', type: cb, bitOffset: 128 },
    { name: 'fn', type: b.ptr(b.funcProto(0, [])), bitOffset: 192 },
    { name: 'grid', type: b.array(b.array(int, int, 2), int, 3), bitOffset: 256 },
  ]);
  b.struct('packed', 5, [
    { name: 'c', type: char, bitOffset: 0 },
    { name: 'i', type: int, bitOffset: 8 },
  ]);
  b.enum('', 4, [['ANON_A', 1]]);
  b.enum('dup', 4, [['ANON_A', 2]]);
  b.typedef('__builtin_va_list', b.ptr(char));
  const bytes = b.build();
  const ours = dumpBtfC(parseBtf(bytes));
  assert.ok(ours.includes('struct node {\n\tstruct node *next;\n\tint val;\n\tlong: 0;\n\tchar: 3;\n\tint flag: 2;\n};'));
  assert.ok(ours.includes('struct a;\n\nstruct b {\n\tstruct a *pa;\n};\n\nstruct a {'), 'forward declaration breaks the cycle');
  assert.ok(ours.includes('\tunion {\n\t\tlong l;\n\t\tchar c[8];\n\t};\n'), 'anonymous union inlined');
  assert.ok(ours.includes('\tint grid[3][2];\n'));
  assert.ok(!ours.includes('__builtin_va_list'), 'compiler built-in typedef left out');
  assert.match(ours, /typedef int \(\*cb_t\)\(int x, const char \*\);/);
  assert.match(ours, /void \(\*fn\)\(void\);/);
  assert.match(ours, /__attribute__\(\(packed\)\)/);
  assert.match(ours, /ANON_A___2 = 2,/);
  if (!bpftool) return t.skip(NO_BPFTOOL);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-c-'));
  try {
    writeFileSync(join(dir, 'blob'), bytes);
    assert.equal(ours, bpftoolC(join(dir, 'blob')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
