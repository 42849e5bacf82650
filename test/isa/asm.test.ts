/** The assembler: both syntaxes, pasted listings, labels, comments and located errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, AsmError } from '../../src/isa/asm.js';
import { encode, validate } from '../../src/isa/instruction.js';

const hex = (text: string): string => Buffer.from(encode(assemble(text))).toString('hex');
/** Same bytes from every spelling. */
function sameBytes(...texts: string[]): void {
  const first = hex(texts[0]!);
  for (const t of texts.slice(1)) assert.equal(hex(t), first, `${t} vs ${texts[0]}`);
}

test('LLVM syntax: every form the brief lists assembles to the expected bytes', () => {
  const cases: [string, string][] = [
    ['r0 = *(u32 *)(r1 + 4)', '6110040000000000'],
    ['*(u64 *)(r10 - 8) = r1', '7b1af8ff00000000'],
    ['*(u32 *)(r10 - 8) = 5', '620af8ff05000000'],
    ['r1 = *(s8 *)(r2 + 0)', '9121000000000000'],
    ['if r1 > r2 goto +3', '2d21030000000000'],
    ['if w1 s< 5 goto -2', 'c601feff05000000'],
    ['goto +5', '0500050000000000'],
    ['gotol +5', '0600000005000000'],
    ['may_goto +2', 'e500020000000000'],
    ['r1 += r2', '0f21000000000000'],
    ['w0 = w1', 'bc10000000000000'],
    ['r0 = -r0', '8700000000000000'],
    ['r1 s/= 3', '3701010003000000'],
    ['r1 s%= r2', '9f21010000000000'],
    ['r1 = (s8)r2', 'bf21080000000000'],
    ['r0 = be16 r0', 'dc00000010000000'],
    ['r0 = le32 r0', 'd400000020000000'],
    ['r0 = bswap64 r0', 'd700000040000000'],
    ['r1 = 0 ll', '18010000000000000000000000000000'],
    ['r1 = 0x1234 ll', '18010000341200000000000000000000'],
    ['r1 = map_fd[3] ll', '18110000030000000000000000000000'],
    ['call 1', '8500000001000000'],
    ['callx r2', '8d02000000000000'],
    ['exit', '9500000000000000'],
    ['lock *(u64 *)(r0 + 0) += r1', 'db10000000000000'],
    ['r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)', 'db1af8ff01000000'],
    ['r0 = cmpxchg_64(r10 - 8, r0, r1)', 'db1af8fff1000000'],
    ['r1 = xchg_64(r10 - 8, r1)', 'db1af8ffe1000000'],
    ['w0 = atomic_fetch_or((u32 *)(r1 + 4), w0)', 'c301040041000000'],
    ['r0 = *(u8 *)skb[12]', '300000000c000000'],
    ['r0 = *(u16 *)skb[r1 + 2]', '4810000002000000'],
    ['r0 = *(u32 *)skb[r1]', '4010000000000000'],
  ];
  for (const [text, bytes] of cases) assert.equal(hex(text), bytes, text);
});

test('uBPF syntax: the bpf_conformance mnemonics', () => {
  const cases: [string, string][] = [
    ['mov %r0, 1', 'b700000001000000'],
    ['mov32 %r0, 1', 'b400000001000000'],
    ['add64 r1, r2', '0f21000000000000'],
    ['ldxw %r0, [%r1+4]', '6110040000000000'],
    ['stxdw [%r10-8], %r1', '7b1af8ff00000000'],
    ['stdw [%r10-8], 0x1234', '7a0af8ff34120000'],
    ['lddw %r0, 0x123456789abcdef0', '18000000f0debc9a0000000078563412'],
    ['jeq r1, 0, +2', '1501020000000000'],
    ['ja +1', '0500010000000000'],
    ['ja32 +1', '0600000001000000'],
    ['jal -1', '06000000ffffffff'],
    ['call 1', '8500000001000000'],
    ['call local +3', '8510000003000000'],
    ['call %r2', '8d02000000000000'],
    ['callx %r2', '8d02000000000000'],
    ['neg %r1', '8701000000000000'],
    ['neg32 %r1', '8401000000000000'],
    ['be16 %r0', 'dc00000010000000'],
    ['le32 %r0', 'd400000020000000'],
    ['bswap16 %r0', 'd700000010000000'],
    ['swap64 %r0', 'd700000040000000'],
    ['sdiv %r1, 3', '3701010003000000'],
    ['smod32 %r1, %r2', '9c21010000000000'],
    ['movsx832 %r0, %r1', 'bc10080000000000'],
    ['movsx1664 %r0, %r1', 'bf10100000000000'],
    ['movsx3264 %r0, %r1', 'bf10200000000000'],
    ['ldxsb %r0, [%r1+2]', '9110020000000000'],
    ['ldxsw %r0, [%r10-4]', '81a0fcff00000000'],
    ['lock add [%r10-8], %r1', 'db1af8ff00000000'],
    ['lock fetch add [%r10-8], %r1', 'db1af8ff01000000'],
    ['lock add32 [%r10-4], %r1', 'c31afcff00000000'],
    ['lock fetch xor32 [%r10-4], %r3', 'c33afcffa1000000'],
    ['lock xchg [%r10-8], %r1', 'db1af8ffe1000000'],
    ['lock cmpxchg32 [%r10-8], %r1', 'c31af8fff1000000'],
    ['ldabsh 12', '2800000000000000'.slice(0, 8) + '0c000000'],
    ['ldindb %r1, 2', '5010000002000000'],
    ['ld_pseudo r1, 1, 5', '18110000050000000000000000000000'],
  ];
  for (const [text, bytes] of cases) assert.equal(hex(text), bytes, text);
});

test('mixed syntaxes, labels, comments, directives and implicit exit label', () => {
  const insns = assemble(`
    .section xdp
    .globl prog
  prog:                      ; LLVM-style comment
    mov %r0, 0               # uBPF comment
    if r1 == 0 goto out      // C++ comment
    jne %r1, 1, exit
    call local fn
  out: r0 = 1
    exit
  fn:
    exit`);
  validate(insns);
  assert.equal(insns[1]!.off, 2);
  assert.equal(insns[2]!.off, 2, 'exit names the first exit instruction');
  assert.equal(insns[3]!.imm, 2);
});

test('pasted llvm-objdump -d output (with and without raw bytes, hex immediates) assembles back', () => {
  const listing = `
/tmp/x.o:\tfile format elf64-bpf

Disassembly of section xdp:

0000000000000000 <prog>:
       0:\tb7 00 00 00 02 00 00 00\tr0 = 0x2
       1:\t18 01 00 00 34 12 00 00 00 00 00 00 00 00 00 00\tr1 = 0x1234 ll
       3:\t15 01 01 00 00 00 00 00\tif r1 == 0x0 goto +0x1 <prog+0x28>
       4:\t07 0a 00 00 f8 ff ff ff\tr10 += -0x8
       5:\t95 00 00 00 00 00 00 00\texit
       6:\tr0 = *(u32 *)(r10 - 8)
       7:\tgoto -3 <prog>`;
  assert.equal(hex(listing), 'b7000000020000001801000034120000000000000000000015010100000000000' + '70a0000f8ffffff' + '9500000000000000' + '61a0f8ff00000000' + '0500fdff00000000');
});

test('pasted verifier log lines: opcode column tells lddw from mov, helper names keep the number', () => {
  const insns = assemble(`
0: (b7) r0 = 0
1: (18) r1 = 0xffff8881234 ; R1_w=map_ptr(ks=4,vs=8)
3: (85) call bpf_map_lookup_elem#1
4: (95) exit`);
  assert.equal(insns.length, 5);
  assert.equal(insns[1]!.code, 0x18);
  assert.equal(insns[3]!.imm, 1);
  // The kernel's own spellings (print_bpf_insn): `(r6 +0)`, `pc+1`, atomic64_*.
  sameBytes(`
5: (61) r1 = *(u32 *)(r6 +0)
6: (15) if r0 == 0x0 goto pc+1
7: (db) r1 = atomic64_fetch_add((u64 *)(r0 +8), r1)
8: (c3) r2 = atomic_xchg((u32 *)(r10 -4), r2)
9: (db) r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r3)
10: (85) call pc+2`, `
r1 = *(u32 *)(r6 + 0)
if r0 == 0 goto +1
r1 = atomic_fetch_add((u64 *)(r0 + 8), r1)
w2 = xchg32_32(r10 - 4, w2)
r0 = cmpxchg_64(r10 - 8, r0, r3)
call local +2`);
});

function expectError(text: string, code: string, line: number, column: number): void {
  assert.throws(() => assemble(text, { file: 'x.s' }), (err: unknown) => {
    assert.ok(err instanceof AsmError, String(err));
    assert.equal(err.code, code, err.message);
    assert.deepEqual([err.location.file, err.location.line, err.location.column], ['x.s', line, column], err.message);
    return true;
  });
}

test('errors carry a stable code, line and column', () => {
  expectError('exit\nfoo %r1, 2', 'asm/unknown-mnemonic', 2, 1);
  expectError('mov %r11, 1', 'asm/bad-register', 1, 5);
  expectError('  r1 = r12', 'asm/bad-register', 1, 8);
  expectError('lock or [%r10-8]', 'asm/operand-count', 1, 1);
  expectError('mov %r0', 'asm/operand-count', 1, 1);
  expectError('mov32 %r0, 0x100000000', 'asm/imm-range', 1, 12);
  expectError('r0 = 2147483648', 'asm/imm-range', 1, 6);
  expectError('r0 = *(u32 *)(r1 + 32768)', 'asm/offset-range', 1, 20);
  expectError('ldxb %r0, [%r1+0x10000]', 'asm/offset-range', 1, 15);
  expectError('ja nowhere\nexit', 'asm/unknown-label', 1, 4);
  expectError('a:\na:\nexit', 'asm/duplicate-label', 2, 1);
  expectError('r1 = w2', 'asm/bad-operand', 1, 6);
  expectError('r1 = 0x10000000000000000 ll', 'asm/imm-range', 1, 6);
  expectError('<unknown>', 'asm/unknown-mnemonic', 1, 1);
  // The largest legal values are fine.
  sameBytes('r0 = -2147483648', 'mov %r0, 0x80000000');
  sameBytes('goto +32767', 'ja +32767');
  sameBytes('r1 = 0xffffffffffffffff ll', 'lddw %r1, -1');
});
