import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ElfError,
  parseElf,
  R_BPF_64_64,
  SHT_PROGBITS,
  SHT_REL,
  STB_GLOBAL,
  STT_FUNC,
  STT_OBJECT,
} from '../../src/elf/index.js';
import { corpus, fixturesDir, missingCorpus } from '../support/paths.js';
import { filesUnder, findTool, isSampleObject, run } from '../btf/support/tools.js';

const LE_OBJECT = join(fixturesDir, 'core', 'core_read.bpf.o');
const BE_OBJECT = join(fixturesDir, 'core', 'core_read.bpfeb.o');
const PROG_SECTION = 'tracepoint/syscalls/sys_enter_getpid';

for (const [label, path, littleEndian] of [
  ['little-endian', LE_OBJECT, true],
  ['big-endian', BE_OBJECT, false],
] as const) {
  test(`reads the ${label} fixture: sections, symbols, relocations`, () => {
    const elf = parseElf(readFileSync(path), { fileName: path });
    assert.equal(elf.littleEndian, littleEndian);
    assert.equal(elf.header.machine, 247);
    const prog = elf.sectionByName(PROG_SECTION);
    assert.ok(prog);
    assert.equal(prog.type, SHT_PROGBITS);
    assert.equal(elf.sectionBytes(prog).length % 8, 0);
    assert.ok(elf.sectionByName('.BTF') && elf.sectionByName('.BTF.ext'));
    const readTask = elf.symbols.find((s) => s.name === 'read_task');
    assert.ok(readTask);
    assert.equal(readTask.type, STT_FUNC);
    assert.equal(readTask.bind, STB_GLOBAL);
    assert.equal(readTask.sectionIndex, prog.index);
    assert.equal(readTask.size, prog.size);
    const out = elf.symbols.find((s) => s.name === 'out');
    assert.ok(out);
    assert.equal(out.type, STT_OBJECT);
    assert.equal(out.size, 32 * 8);
    assert.equal(elf.sections[out.sectionIndex]!.name, '.bss');
    const relocs = elf.relocationsFor(prog);
    assert.ok(relocs.length >= 1);
    for (const r of relocs) {
      assert.equal(r.type, R_BPF_64_64);
      assert.equal(elf.symbols[r.symbolIndex]!.name, 'out');
      assert.equal(elf.sectionBytes(prog)[r.offset], 0x18, 'relocated instruction is LD_IMM64');
    }
    assert.equal(elf.relocationSections.find((s) => s.target === prog)!.section.type, SHT_REL);
  });
}

test('section headers and symbols agree with readelf', (t) => {
  const readelf = findTool('readelf', 'llvm-readelf-16', 'llvm-readelf');
  if (!readelf) return t.skip('readelf not installed');
  for (const path of [LE_OBJECT, BE_OBJECT]) {
    const elf = parseElf(readFileSync(path));
    // "  [ 3] name  TYPE  Address  Off  Size  ES Flg Lk Inf Al"
    const sectionLines: string[] = run(readelf, ['-W', '-S', path]).stdout.split('\n').filter((l) => /^\s*\[\s*\d+\]/.test(l));
    assert.equal(sectionLines.length, elf.sections.length);
    for (const line of sectionLines) {
      const m = /^\s*\[\s*(\d+)\]\s+(\S*)\s+\S+\s+[0-9a-f]{16}\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
      assert.ok(m, line);
      const s = elf.sections[Number(m[1])]!;
      if (s.index !== 0) assert.equal(s.name, m[2]);
      assert.equal(s.offset, parseInt(m[3]!, 16), line);
      assert.equal(s.size, parseInt(m[4]!, 16), line);
    }
    const symbolLines: string[] = run(readelf, ['-W', '-s', path]).stdout.split('\n').filter((l) => /^\s*\d+:/.test(l));
    assert.equal(symbolLines.length, elf.symbols.length);
    for (const line of symbolLines) {
      const f = line.trim().split(/\s+/);
      const sym = elf.symbols[parseInt(f[0]!, 10)]!;
      assert.equal(sym.value, parseInt(f[1]!, 16), line);
      assert.equal(sym.size, Number(f[2]), line);
      // readelf shows a section symbol by its section's name; the symbol itself is unnamed.
      if (f[7] !== undefined && f[3] !== 'SECTION') assert.equal(sym.name, f[7], line);
    }
  }
});

function expectElfError(bytes: Uint8Array, code: string): ElfError {
  let caught: unknown;
  try {
    parseElf(bytes, { fileName: 'bad.o' });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ElfError, `expected ElfError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.location.file, 'bad.o');
  assert.match(caught.message, /^bad\.o: /);
  return caught;
}

test('malformed input throws typed ElfErrors', () => {
  const good = new Uint8Array(readFileSync(LE_OBJECT));
  const view = new DataView(good.buffer, good.byteOffset, good.byteLength);
  expectElfError(good.subarray(0, 10), 'elf/truncated');
  expectElfError(good.subarray(0, 40), 'elf/truncated');
  const badMagic = good.slice();
  badMagic[1] = 0x46;
  expectElfError(badMagic, 'elf/bad-magic');
  const class32 = good.slice();
  class32[4] = 1;
  expectElfError(class32, 'elf/bad-class');
  const badOrder = good.slice();
  badOrder[5] = 7;
  expectElfError(badOrder, 'elf/bad-byte-order');
  const x86 = good.slice();
  new DataView(x86.buffer).setUint16(18, 62, true);
  assert.equal(expectElfError(x86, 'elf/wrong-machine').location.offset, 18);
  // Section headers beyond the end of the file.
  const shoff = Number(view.getBigUint64(40, true));
  expectElfError(good.subarray(0, shoff + 100), 'elf/truncated');
  // A section whose contents point past the end.
  const farSection = good.slice();
  const fv = new DataView(farSection.buffer);
  fv.setBigUint64(shoff + 3 * 64 + 24, BigInt(good.length), true);
  expectElfError(farSection, 'elf/truncated');
  // A section name offset outside .strtab.
  const badName = good.slice();
  new DataView(badName.buffer).setUint32(shoff + 2 * 64, 0xffffff, true);
  expectElfError(badName, 'elf/bad-string');
});

test('every ebpf-samples object parses or throws ElfError', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const files = filesUnder(dir, isSampleObject);
  let parsed = 0;
  const rejected: string[] = [];
  for (const f of files) {
    try {
      const elf = parseElf(readFileSync(f), { fileName: f });
      for (const s of elf.sections) elf.sectionBytes(s);
      parsed++;
    } catch (e) {
      assert.ok(e instanceof ElfError, `${f}: ${String(e)}`);
      rejected.push(`${e.code} ${f.slice(dir.length + 1)}`);
    }
  }
  t.diagnostic(`ELF: ${files.length} files, ${parsed} parsed, ${rejected.length} rejected with ElfError`);
  for (const r of rejected) t.diagnostic(`  ${r}`);
  // Every well-formed object (all but the fuzzed files in invalid/) must parse.
  for (const r of rejected) assert.match(r, / invalid\//);
  assert.ok(parsed >= 160);
});
