import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../src/elf/index.js';
import {
  BtfError,
  btfExtFromElf,
  btfFromElf,
  CoreReloKind,
  dumpBtfRaw,
  parseBtf,
  parseBtfExt,
  type BtfExt,
} from '../../src/btf/index.js';
import { corpus, fixturesDir, missingCorpus } from '../support/paths.js';
import { BtfBuilder } from './support/btf-builder.js';
import { filesUnder, findTool, isSampleObject, run } from './support/tools.js';

const SOURCE = join(fixturesDir, 'core', 'core_read.bpf.c');

function loadExt(name: string): { ext: BtfExt; funcNames: Map<number, string> } {
  const path = join(fixturesDir, 'core', name);
  const elf = parseElf(readFileSync(path), { fileName: path });
  const btf = btfFromElf(elf)!;
  const ext = btfExtFromElf(elf, btf)!;
  const funcNames = new Map<number, string>();
  for (const t of btf.types) if (t.kind === 'FUNC') funcNames.set(t.id, t.name);
  return { ext, funcNames };
}

test('func_info and line_info of the fixture match its source', () => {
  const sourceLines = readFileSync(SOURCE, 'utf8').split('\n');
  for (const name of ['core_read.bpf.o', 'core_read.bpfeb.o']) {
    const { ext, funcNames } = loadExt(name);
    const funcs = ext.funcInfo.map((s) => [s.sectionName, s.records.map((r) => [r.insnOff, funcNames.get(r.typeId)])]);
    assert.deepEqual(funcs, [
      ['tracepoint/syscalls/sys_enter_getpid', [[0, 'read_task']]],
      ['tracepoint/raw_syscalls/sys_enter', [[0, 'read_ctx']]],
    ]);
    assert.deepEqual(
      ext.lineInfo.map((s) => s.sectionName),
      ext.funcInfo.map((s) => s.sectionName),
    );
    let checked = 0;
    for (const section of ext.lineInfo) {
      let previous = -1;
      for (const li of section.records) {
        assert.ok(li.insnOff > previous, 'line info sorted by instruction');
        previous = li.insnOff;
        assert.ok(li.insnOff % 8 === 0);
        assert.match(li.fileName, /core_read\.bpf\.c$/);
        if (li.lineNumber === 0) {
          assert.equal(li.line, ''); // compiler-generated code has no source line
          continue;
        }
        assert.equal(li.line, sourceLines[li.lineNumber - 1], `${name} line ${li.lineNumber}`);
        assert.ok(li.column >= 1 && li.column <= li.line.length + 1);
        checked++;
      }
    }
    assert.ok(checked > 20);
  }
});

test('CO-RE records of the fixture: sections, kinds, access strings', () => {
  const le = loadExt('core_read.bpf.o').ext;
  const be = loadExt('core_read.bpfeb.o').ext;
  const summary = (ext: BtfExt) => ext.coreRelos.map((s) => [s.sectionName, s.records.map((r) => `${r.kind}@${r.accessString}`)]);
  assert.deepEqual(summary(be), summary(le));
  const [task, ctx] = le.coreRelos;
  assert.equal(task!.sectionName, 'tracepoint/syscalls/sys_enter_getpid');
  assert.equal(task!.records.length, 34);
  assert.equal(ctx!.records.length, 6);
  const kinds = new Set(le.coreRelos.flatMap((s) => s.records.map((r) => r.kind)));
  assert.equal(kinds.size, 13, 'every relocation kind appears');
  assert.deepEqual(
    { kind: task!.records[0]!.kind, access: task!.records[0]!.accessString },
    { kind: CoreReloKind.FIELD_BYTE_OFFSET, access: '0:4' },
  );
});

test('malformed .BTF.ext throws BtfError', () => {
  const b = new BtfBuilder();
  b.int('int', 4, true);
  const name = b.str('sec');
  const btf = parseBtf(b.build());
  const ext = (words: number[], hdrLen = 32): Uint8Array => {
    const out = new Uint8Array(Math.max(hdrLen, 24) + words.length * 4);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint32(4, hdrLen, true);
    // func_info: the whole data area; line_info and core_relo empty.
    v.setUint32(8, 0, true);
    v.setUint32(12, words.length * 4, true);
    words.forEach((w, i) => v.setUint32(Math.max(hdrLen, 24) + i * 4, w, true));
    return out;
  };
  assert.deepEqual(parseBtfExt(ext([8, name, 1, 0, 1]), btf).funcInfo, [{ sectionName: 'sec', records: [{ insnOff: 0, typeId: 1 }] }]);
  const code = (bytes: Uint8Array): string => {
    try {
      parseBtfExt(bytes, btf);
    } catch (e) {
      assert.ok(e instanceof BtfError, String(e));
      return e.code;
    }
    return 'none';
  };
  assert.equal(code(ext([8, name, 3, 0, 1])), 'btf-ext/truncated');
  assert.equal(code(ext([4, name, 1, 0])), 'btf-ext/bad-header');
  assert.equal(code(ext([8, 999, 1, 0, 1])), 'btf-ext/bad-record');
  assert.equal(code(ext([8, name, 0])), 'btf-ext/bad-record');
  assert.equal(code(new Uint8Array(4)), 'btf-ext/truncated');
  assert.equal(code(ext([], 8)), 'btf-ext/bad-header');
});

test('ebpf-samples: every .BTF.ext parses or throws BtfError', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let parsed = 0;
  let lines = 0;
  let relos = 0;
  const rejected: string[] = [];
  for (const f of filesUnder(dir, isSampleObject)) {
    try {
      const elf = parseElf(readFileSync(f), { fileName: f });
      const btf = btfFromElf(elf);
      if (!btf) continue;
      const ext = btfExtFromElf(elf, btf);
      if (!ext) continue;
      parsed++;
      lines += ext.lineInfo.reduce((n, s) => n + s.records.length, 0);
      relos += ext.coreRelos.reduce((n, s) => n + s.records.length, 0);
    } catch (e) {
      assert.ok(e instanceof BtfError || (e as Error).name === 'ElfError', `${f}: ${String(e)}`);
      rejected.push(f);
    }
  }
  t.diagnostic(`BTF.ext: ${parsed} parsed (${lines} line_info, ${relos} CO-RE records), ${rejected.length} objects rejected (ELF or BTF errors)`);
  assert.ok(parsed >= 70);
});

test('the committed fixture objects are up to date with their C source (clang-16)', (t) => {
  const clang = findTool('clang-16');
  if (!clang) return t.skip('clang-16 not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-fixture-'));
  try {
    for (const [target, committed] of [['bpfel', 'core_read.bpf.o'], ['bpfeb', 'core_read.bpfeb.o']] as const) {
      const out = join(dir, committed);
      const r = run(clang, ['-O2', '-g', '-Wall', '-Werror', '-target', target, '-c', SOURCE, '-o', out]);
      assert.equal(r.status, 0, r.stderr);
      const fresh = parseElf(readFileSync(out));
      const old = parseElf(readFileSync(join(fixturesDir, 'core', committed)));
      const stale = `${committed} is stale: run make in test/fixtures/core`;
      for (const name of ['tracepoint/syscalls/sys_enter_getpid', 'tracepoint/raw_syscalls/sys_enter']) {
        assert.deepEqual(fresh.sectionBytes(fresh.sectionByName(name)!), old.sectionBytes(old.sectionByName(name)!), stale);
      }
      // .BTF also holds the source path, which depends on where it was built: compare the types only.
      assert.equal(dumpBtfRaw(btfFromElf(fresh)!), dumpBtfRaw(btfFromElf(old)!), stale);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
