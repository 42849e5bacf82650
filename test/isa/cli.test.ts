/** `tsbpf asm` and `tsbpf disasm` through the CLI dispatcher, with an in-memory IO. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { corpus, missingCorpus } from '../support/paths.js';

async function run(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: (t) => { out += t; },
    stderr: (t) => { err += t; },
    readStdin: async () => Buffer.from(stdin),
    isTTY: false,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

const SOURCE = 'mov %r0, 1\nr1 = 0x1234 ll\nif r1 > r2 goto out\nout:\nexit\n';
const HEX = 'b7 00 00 00 01 00 00 00\n18 01 00 00 34 12 00 00\n00 00 00 00 00 00 00 00\n2d 21 00 00 00 00 00 00\n95 00 00 00 00 00 00 00\n';

test('asm: hex to stdout, raw or hex with -o, stdin with -', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-asm-'));
  try {
    const src = join(dir, 'p.s');
    writeFileSync(src, SOURCE);
    assert.deepEqual(await run(['asm', src]), { code: 0, out: HEX, err: '' });
    assert.equal((await run(['asm', '-'], SOURCE)).out, HEX);
    const bin = join(dir, 'p.bin');
    assert.equal((await run(['asm', src, '-o', bin])).code, 0);
    assert.equal(readFileSync(bin).toString('hex'), HEX.replace(/\s/g, ''));
    assert.equal((await run(['asm', src, '-o', bin, '--hex'])).code, 0);
    assert.equal(readFileSync(bin, 'utf8'), HEX);
    const bad = await run(['asm', '-'], 'mov %r0, 1\nmov %r99, 1\n');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /<stdin>:2:5: invalid register '%r99'/);
    assert.equal((await run(['asm'])).code, 2);
    assert.equal((await run(['asm', src, '--bogus'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disasm: hex text, raw bytes, stdin, both syntaxes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-disasm-'));
  try {
    const hexFile = join(dir, 'p.hex');
    writeFileSync(hexFile, HEX);
    const llvm = '       0:\tr0 = 1\n       1:\tr1 = 4660 ll\n       3:\tif r1 > r2 goto +0\n       4:\texit\n';
    assert.deepEqual(await run(['disasm', hexFile]), { code: 0, out: llvm, err: '' });
    const binFile = join(dir, 'p.bin');
    writeFileSync(binFile, Buffer.from(HEX.replace(/\s/g, ''), 'hex'));
    assert.equal((await run(['disasm', binFile])).out, llvm);
    assert.equal((await run(['disasm', '-', '--no-addresses', '--syntax', 'ubpf'], HEX)).out,
      'mov %r0, 1\nlddw %r1, 0x1234\njgt %r1, %r2, +0\nexit\n');
    assert.equal((await run(['disasm', hexFile, '--syntax', 'x86'])).code, 2);
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, Buffer.from([0x95, 0, 0]));
    assert.equal((await run(['disasm', odd])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disasm: ELF objects list every executable section like llvm-objdump', async (t) => {
  const file = corpus('verifier', 'ebpf-samples', 'linux', 'sockex1_kern.o');
  if (!file) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const { code, out } = await run(['disasm', file]);
  assert.equal(code, 0);
  assert.match(out, /^\n.*sockex1_kern\.o:\tfile format elf64-bpf\n\nDisassembly of section socket1:\n\n0000000000000000 <bpf_prog1>:\n/);
  assert.match(out, /\tif r1 != 4 goto \+8 <LBB0_3>\n/);
});
