import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { corpus, missingCorpus } from '../support/paths.js';

/** `tsbpf exec`, `conformance` and `demo` through main() with a fake terminal. */

interface Captured { code: number; stdout: string; stderr: string }

async function tsbpf(argv: string[], stdin = ''): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    readStdin: async () => Buffer.from(stdin),
    isTTY: false,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'tsbpf-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('exec: hex bytecode on stdin (the bpf_conformance plugin convention) prints r0 in hex', async () => {
  const r = await tsbpf(['exec'], 'b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n');
  assert.deepEqual(r, { code: 0, stdout: '0x2a\n', stderr: '' });
  const mem = await tsbpf(['exec', '--mem', '01 02 03'], 'bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00');
  assert.equal(mem.stdout, '0x3\n');
  const plugin = await tsbpf(['exec', '0102030405'], 'bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00');
  assert.equal(plugin.stdout, '0x5\n');
});

test('exec: FILE as raw bytecode, hex text or assembly; --mem-file; --checked traps', async () => {
  const raw = join(dir, 'p.bin');
  writeFileSync(raw, Uint8Array.from([0x71, 0x10, 0x01, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]));
  const memFile = join(dir, 'm.bin');
  writeFileSync(memFile, Uint8Array.from([9, 8, 7]));
  assert.equal((await tsbpf(['exec', raw, '--mem-file', memFile])).stdout, '0x8\n');
  const asm = join(dir, 'p.s');
  writeFileSync(asm, 'r0 = 7\nr0 *= 6\nexit\n');
  assert.equal((await tsbpf(['exec', asm])).stdout, '0x2a\n');
  const ubpf = join(dir, 'u.s');
  writeFileSync(ubpf, 'mov %r0, -1\nexit\n');
  assert.equal((await tsbpf(['exec', ubpf])).stdout, '0xffffffffffffffff\n');
  const hex = join(dir, 'p.hex');
  writeFileSync(hex, '0xb7, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,\n0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 # exit\n');
  assert.equal((await tsbpf(['exec', hex])).stdout, '0x5\n');
  const trap = await tsbpf(['exec', raw, '--mem', '01', '--checked']);
  assert.equal(trap.code, 2);
  assert.match(trap.stderr, /insn 0: 1-byte read at 0x[0-9a-f]+ .*mem/);
});

test('exec: usage errors exit 2', async () => {
  assert.equal((await tsbpf(['exec', '--engine', 'fast'], '95 00 00 00 00 00 00 00')).code, 2);
  assert.equal((await tsbpf(['exec', '--mem', '00', '--mem-file', 'x'], '')).code, 2);
  const budget = await tsbpf(['exec', '--budget', '10'], '05 00 ff ff 00 00 00 00 95 00 00 00 00 00 00 00');
  assert.equal(budget.code, 2);
  assert.match(budget.stderr, /budget of 10 exhausted/);
});

test('conformance: table, exact summary line, exit status', async (t) => {
  const suite = corpus('isa', 'bpf_conformance');
  if (!suite) return t.skip(missingCorpus('isa/bpf_conformance'));
  const r = await tsbpf(['conformance', suite, '--filter', 'lock_']);
  assert.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^test\s+result\s+expected\s+verdict$/);
  assert.equal(lines.at(-1), '34 passed, 0 failed');
  const json = JSON.parse((await tsbpf(['conformance', suite, '--filter', 'add', '--json'])).stdout) as { passed: number; tests: unknown[] };
  assert.equal(json.passed, json.tests.length);
  const bad = join(dir, 'suite');
  rmSync(bad, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(bad);
  writeFileSync(join(bad, 'wrong.data'), '-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n');
  writeFileSync(join(bad, 'elf.data'), '-- pyelf\nx\n-- error\ny\n');
  const failed = await tsbpf(['conformance', bad]);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout.trimEnd().split('\n').at(-1), '0 passed, 1 failed, 1 skipped');
});

test('conformance --engine jit: the JIT when built, else a clear error', async (t) => {
  const suite = corpus('isa', 'bpf_conformance');
  if (!suite) return t.skip(missingCorpus('isa/bpf_conformance'));
  const r = await tsbpf(['conformance', suite, '--engine', 'jit', '--filter', 'add64']);
  if (r.code === 2) assert.match(r.stderr, /JIT/);
  else assert.match(r.stdout, /passed/);
});

test('demo: assembles, runs and reports', async () => {
  const r = await tsbpf(['demo', '--limit', '1000']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /r0 \(result\)\s+168 \(0xa8\)/);
  assert.match(r.stdout, /instructions executed\s+[\d,]+/);
  assert.match(r.stdout, /time per instruction\s+[\d.]+ ns/);
  assert.match(r.stdout, /if r1 >= r6 goto/);
});
