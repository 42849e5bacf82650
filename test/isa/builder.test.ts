/** The instruction builder: each class checked against the assembler's reading of the same text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as b from '../../src/isa/builder.js';
import { R0, R1, R2, R3, R6, R10, Program, label, link } from '../../src/isa/builder.js';
import { assemble } from '../../src/isa/asm.js';
import { validate } from '../../src/isa/instruction.js';
import { TsbpfError } from '../../src/errors.js';

function same(built: b.Item[], text: string): void {
  const linked = link(built);
  assert.deepEqual(linked, assemble(text), text);
  validate(linked); // every builder output is a valid instruction
}

test('builder: ALU in both widths, immediate and register, signed div/mod', () => {
  same([b.mov64Imm(R0, 1), b.mov32Imm(R1, -1), b.mov64Reg(R2, R1), b.mov32Reg(R2, R1)], 'r0 = 1\nw1 = -1\nr2 = r1\nw2 = w1');
  same([b.add64Imm(R1, 0x7fffffff), b.sub32Reg(R1, R2), b.mul64Imm(R1, -0x80000000)], 'r1 += 2147483647\nw1 -= w2\nr1 *= -2147483648');
  same([b.div64Reg(R1, R2), b.sdiv64Imm(R1, 3), b.sdiv32Reg(R1, R2), b.mod32Imm(R1, 7), b.smod64Reg(R1, R2)], 'r1 /= r2\nr1 s/= 3\nw1 s/= w2\nw1 %= 7\nr1 s%= r2');
  same([b.or64Imm(R1, 1), b.and32Imm(R1, 0xff), b.xor64Reg(R1, R1), b.lsh64Imm(R1, 63), b.rsh32Reg(R1, R2), b.arsh64Imm(R1, 1), b.arsh32Reg(R1, R2)],
    'r1 |= 1\nw1 &= 255\nr1 ^= r1\nr1 <<= 63\nw1 >>= w2\nr1 s>>= 1\nw1 s>>= w2');
  // A uint32 bit pattern is accepted and stored as int32.
  assert.equal(link([b.mov32Imm(R0, 0xffffffff)])[0]!.imm, -1);
  same([b.neg64(R1), b.neg32(R2)], 'r1 = -r1\nw2 = -w2');
});

test('builder: movsx, byte swaps', () => {
  same([b.movsx64(R1, R2, 8), b.movsx64(R1, R2, 16), b.movsx64(R1, R2, 32), b.movsx32(R1, R2, 8), b.movsx32(R1, R2, 16)],
    'r1 = (s8)r2\nr1 = (s16)r2\nr1 = (s32)r2\nw1 = (s8)w2\nw1 = (s16)w2');
  same([b.le(R0, 16), b.be(R0, 32), b.bswap(R0, 64)], 'r0 = le16 r0\nr0 = be32 r0\nr0 = bswap64 r0');
  assert.throws(() => b.movsx32(R1, R2, 32 as 8), TsbpfError);
  assert.throws(() => b.bswap(R0, 8 as 16), TsbpfError);
});

test('builder: loads, stores, edge offsets', () => {
  same([b.ldxB(R0, R1, 0), b.ldxH(R0, R1, -32768), b.ldxW(R0, R1, 32767), b.ldxDW(R0, R10, -8)],
    'r0 = *(u8 *)(r1 + 0)\nr0 = *(u16 *)(r1 - 32768)\nr0 = *(u32 *)(r1 + 32767)\nr0 = *(u64 *)(r10 - 8)');
  same([b.ldxSB(R0, R1, 1), b.ldxSH(R0, R1, 2), b.ldxSW(R0, R1, 4)], 'r0 = *(s8 *)(r1 + 1)\nr0 = *(s16 *)(r1 + 2)\nr0 = *(s32 *)(r1 + 4)');
  same([b.stB(R10, -1, 0xff), b.stH(R10, -2, -1), b.stW(R10, -4, 5), b.stDW(R10, -8, 0x12345678)],
    '*(u8 *)(r10 - 1) = 255\n*(u16 *)(r10 - 2) = -1\n*(u32 *)(r10 - 4) = 5\n*(u64 *)(r10 - 8) = 305419896');
  same([b.stxB(R10, -1, R1), b.stxH(R10, -2, R1), b.stxW(R10, -4, R1), b.stxDW(R10, -8, R1)],
    '*(u8 *)(r10 - 1) = r1\n*(u16 *)(r10 - 2) = r1\n*(u32 *)(r10 - 4) = r1\n*(u64 *)(r10 - 8) = r1');
  assert.throws(() => b.ldxW(R0, R1, 32768), /16 bits/);
  assert.throws(() => b.stW(R10, -4, 2 ** 32), /32 bits/);
  assert.throws(() => b.ldxW(11 as b.Reg, R1, 0), /r11/);
});

test('builder: 64-bit immediates and pseudo loads', () => {
  same([b.ldImm64(R1, 0x1234n), b.ldImm64(R2, -1n), b.ldImm64(R0, 0xffffffffffffffffn), b.ldImm64(R0, 2 ** 40)],
    'r1 = 0x1234 ll\nr2 = -1 ll\nr0 = -1 ll\nr0 = 1099511627776 ll');
  same([b.ldMapFd(R1, 5), b.ldMapValue(R1, 5, 8), b.ldMapIdx(R2, 0), b.ldBtfId(R3, 42)],
    'r1 = map_fd[5] ll\nr1 = map_value[5]+8 ll\nr2 = map_idx[0] ll\nr3 = btf_id[42] ll');
  assert.throws(() => b.ldImm64(R1, 2n ** 64n), /64 bits/);
  assert.throws(() => b.ldImm64(R1, 2 ** 60), /bigint/);
});

test('builder: LD_ABS / LD_IND', () => {
  same([b.mov64Reg(R6, R1), b.ldAbsB(12), b.ldAbsH(12), b.ldAbsW(26), b.ldIndB(R2, 0), b.ldIndH(R2, 2), b.ldIndW(R2, -4)],
    'r6 = r1\nr0 = *(u8 *)skb[12]\nr0 = *(u16 *)skb[12]\nr0 = *(u32 *)skb[26]\nr0 = *(u8 *)skb[r2]\nr0 = *(u16 *)skb[r2 + 2]\nr0 = *(u32 *)skb[r2 - 4]');
});

test('builder: atomics', () => {
  same([b.atomicAdd64(R10, -8, R1), b.atomicAdd32(R10, -4, R1), b.atomicOr64(R10, -8, R1, { fetch: true }), b.atomicAnd32(R10, -4, R1, { fetch: true }), b.atomicXor64(R10, -8, R2)],
    'lock *(u64 *)(r10 - 8) += r1\nlock *(u32 *)(r10 - 4) += r1\nr1 = atomic_fetch_or((u64 *)(r10 - 8), r1)\nw1 = atomic_fetch_and((u32 *)(r10 - 4), w1)\nlock *(u64 *)(r10 - 8) ^= r2');
  same([b.atomicXchg64(R10, -8, R1), b.atomicXchg32(R10, -8, R1), b.atomicCmpXchg64(R10, -8, R1), b.atomicCmpXchg32(R10, -8, R1)],
    'r1 = xchg_64(r10 - 8, r1)\nw1 = xchg32_32(r10 - 8, w1)\nr0 = cmpxchg_64(r10 - 8, r0, r1)\nw0 = cmpxchg32_32(r10 - 8, w0, w1)');
  same([b.loadAcquire(8, R0, R1, 0), b.loadAcquire(1, R0, R1, 3), b.storeRelease(4, R1, 0, R2)],
    'r0 = load_acquire((u64 *)(r1 + 0))\nw0 = load_acquire((u8 *)(r1 + 3))\nstore_release((u32 *)(r1 + 0), w2)');
});

test('builder: jumps, labels, calls, link', () => {
  const prog = new Program()
    .add(b.mov64Imm(R0, 0), b.jeqImm(R1, 0, 'out'), b.jne32Reg(R1, R2, 'out'), b.jsltImm(R1, -5, -2))
    .add([b.jsetImm(R1, 0x80, 'out'), [b.ja('out')]])
    .add(b.gotol('out'), b.mayGoto('out'), b.callLocal('fn'), b.call(1), b.callKfunc(7), b.callx(R2))
    .label('out')
    .add(b.exit(), label('fn'), b.mov64Imm(R0, 1), b.exit())
    .link();
  assert.deepEqual(prog, assemble(`
    r0 = 0
    if r1 == 0 goto out
    if w1 != w2 goto out
    if r1 s< -5 goto -2
    if r1 & 0x80 goto out
    goto out
    gotol out
    may_goto out
    call fn
    call 1
    call kfunc 7
    callx r2
  out:
    exit
  fn:
    r0 = 1
    exit`));
  validate(prog);
  assert.equal(prog[1]!.off, 10);
  assert.equal(prog[8]!.imm, 4);
  assert.throws(() => link([b.ja('nowhere')]), (e: unknown) => e instanceof TsbpfError && e.code === 'isa/builder-unknown-label');
  assert.throws(() => link([label('a'), label('a')]), (e: unknown) => e instanceof TsbpfError && e.code === 'isa/builder-duplicate-label');
  const far = [b.ja('end'), ...Array.from({ length: 40000 }, () => b.mov64Imm(R0, 0)), label('end'), b.exit()];
  assert.throws(() => link(far), /too far/);
  assert.equal(link([b.gotol('end'), ...far.slice(1)])[0]!.imm, 40000);
});
