/** The disassembler's text in both syntaxes, objdump-style columns and invalid encodings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { disassemble, formatInstruction } from '../../src/isa/disasm.js';
import { decode, parseHexBytes, type Instruction } from '../../src/isa/instruction.js';

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

test('LLVM syntax prints what llvm-objdump prints', () => {
  const text = `r0 = *(u32 *)(r1 + 4)
*(u64 *)(r10 - 8) = r1
*(u32 *)(r10 - 8) = 5
r1 = *(s8 *)(r2 + 0)
if r1 > r2 goto +3
if w1 s< 5 goto -2
goto +5
gotol +5
may_goto +2
r1 += r2
w0 = w1
r0 = -r0
w1 s/= 3
r1 s%= r2
r1 = (s8)r2
r0 = be16 r0
r0 = le32 r0
r0 = bswap64 r0
r1 = 0 ll
r1 = 4660 ll
r1 = -1 ll
call 1
callx r2
exit
lock *(u64 *)(r0 + 0) += r1
lock *(u32 *)(r0 + 0) |= r1
r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)
w1 = atomic_fetch_xor((u32 *)(r10 - 8), w1)
r0 = cmpxchg_64(r10 - 8, r0, r1)
w0 = cmpxchg32_32(r10 - 8, w0, w1)
r1 = xchg_64(r10 - 8, r1)
r0 = *(u8 *)skb[12]
r0 = *(u16 *)skb[r1]
r0 = load_acquire((u64 *)(r1 + 0))
store_release((u32 *)(r1 + 0), w2)
r1 = addr_space_cast(r2, 0, 1)
`;
  assert.equal(disassemble(assemble(text)), text);
});

test('hex immediates like llvm-objdump-16 by default', () => {
  const insns = assemble('r2 += -48\nif w3 == 56710 goto +11\n*(u32 *)(r10 - 48) = r1\ncall 1\nr1 = 0 ll');
  assert.equal(disassemble(insns, { hex: true }),
    'r2 += -0x30\nif w3 == 0xdd86 goto +0xb\n*(u32 *)(r10 - 0x30) = r1\ncall 0x1\nr1 = 0x0 ll\n');
});

test('calls and pseudo loads: reassemblable by default, objdump-exact on request', () => {
  const insns = [insn(0x85, 0, 1, 0, 3), insn(0x85, 0, 2, 0, 77), insn(0x18, 1, 1, 0, 5), insn(0), insn(0x18, 2, 2, 0, 5), insn(0, 0, 0, 0, 8)];
  assert.equal(disassemble(insns), 'call pc+3\ncall kfunc 77\nr1 = map_fd[5] ll\nr2 = map_value[5]+8 ll\n');
  assert.equal(disassemble(insns, { objdump: true }), 'call 3\ncall 77\nld_pseudo\tr1, 1, 5\nld_pseudo\tr2, 2, 5\n');
  assert.deepEqual(assemble(disassemble(insns)), insns);
  assert.equal(disassemble(insns, { syntax: 'ubpf' }), 'call local +3\ncall kfunc 77\nlddw %r1, map_fd[5]\nlddw %r2, map_value[5]+8\n');
});

test('uBPF syntax reads back as the bpf_conformance assembler writes it', () => {
  const text = `mov %r0, 1
mov32 %r1, -1
lddw %r0, 0x123456789abcdef0
ldxw %r0, [%r1+4]
ldxsh %r0, [%r10-2]
stxdw [%r10-8], %r1
stdw [%r10-8], 4660
jeq %r1, 0, +2
jne32 %r1, %r2, -1
ja +1
ja32 -3
call 5
call local +1
callx %r2
neg %r1
neg32 %r1
be16 %r0
le64 %r0
bswap32 %r0
sdiv %r1, 3
smod32 %r1, %r2
movsx832 %r0, %r1
movsx3264 %r0, %r1
lock add [%r10-8], %r1
lock fetch or32 [%r10-4], %r1
lock xchg [%r10-8], %r1
lock cmpxchg32 [%r10-8], %r1
lock load_acq16 %r0, [%r1+0]
lock store_rel [%r1+8], %r2
ldabsb 12
ldindw %r1, 4
may_goto +0
exit
`;
  assert.equal(disassemble(assemble(text), { syntax: 'ubpf' }), text);
});

test('addresses and raw bytes columns match objdump layout', () => {
  const insns = decode(parseHexBytes('b7 00 00 00 02 00 00 00 18 01 00 00 34 12 00 00 00 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00'));
  assert.equal(disassemble(insns, { addresses: true, bytes: true }),
    '       0:\tb7 00 00 00 02 00 00 00\tr0 = 2\n' +
    '       1:\t18 01 00 00 34 12 00 00 00 00 00 00 00 00 00 00\tr1 = 4660 ll\n' +
    '       3:\t95 00 00 00 00 00 00 00\texit\n');
});

test('invalid encodings print <unknown> and never throw', () => {
  const bad = [insn(0x07, 11), insn(0xff), insn(0x0f, 0, 0, 0, 1), insn(0x18, 1), insn(0x95, 0, 0, 0, 1)];
  assert.equal(disassemble(bad), '<unknown>\n<unknown>\n<unknown>\n<unknown>\n<unknown>\n');
  assert.equal(formatInstruction([insn(0x18, 1)], 0, 'ubpf'), '<unknown>', 'lddw without its second slot');
  assert.equal(formatInstruction([insn(0x18, 1), insn(0x07)], 0), '<unknown>', 'lddw with a bad second slot');
});
