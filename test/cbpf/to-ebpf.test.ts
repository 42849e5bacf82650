import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classicToEbpf, SkBuffField } from '../../src/cbpf/to-ebpf.js';
import { runCbpf } from '../../src/cbpf/interpret.js';
import { runSeccomp, buildSeccompData, AuditArch, SeccompRet } from '../../src/cbpf/seccomp.js';
import { CbpfError } from '../../src/cbpf/cbpf-error.js';
import { insn, SKF_AD_OFF, SkfAd, type CbpfInstruction } from '../../src/cbpf/opcodes.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { AddressSpace, interpreter } from '../../src/vm/index.js';
import { EtherType, ethernet, ipv4, tcp, udp } from '../../src/net/index.js';

const e = (code: number, dst: number, src: number, off: number, imm: number): Instruction => ({ code, dst, src, off, imm });
const PROLOGUE = [e(0xac, 0, 0, 0, 0), e(0xac, 7, 7, 0, 0), e(0xbf, 6, 1, 0, 0)];

test('register mapping, prologue, RET K, M[] on the stack', () => {
  const { insns, stackDepth } = classicToEbpf([insn(0x00, 0, 0, 5), insn(0x02, 0, 0, 3), insn(0x61, 0, 0, 3), insn(0x06, 0, 0, 7)]);
  assert.deepEqual(insns, [...PROLOGUE,
    e(0xb4, 0, 0, 0, 5), // mov32 r0, 5
    e(0x63, 10, 0, -16, 0), // *(u32 *)(r10 - 16) = r0
    e(0x61, 7, 10, -16, 0), // r7 = *(u32 *)(r10 - 16)
    e(0xb4, 0, 0, 0, 7), e(0x95, 0, 0, 0, 0)]);
  assert.equal(stackDepth, 16);
});

test('jump expansion: jf = 0 one jump, jt = 0 the inverse, otherwise jump plus ja', () => {
  const ret = insn(0x06, 0, 0, 0);
  const one = classicToEbpf([insn(0x15, 1, 0, 9), ret, ret]).insns;
  assert.deepEqual(one[3], e(0x15, 0, 0, 2, 9)); // jeq r0, 9, +2 (over the mov/exit of RET)
  const inverse = classicToEbpf([insn(0x25, 0, 1, 9), ret, ret]).insns;
  assert.deepEqual(inverse[3], e(0xb5, 0, 0, 2, 9)); // jle
  const jset = classicToEbpf([insn(0x45, 0, 1, 9), ret, ret]).insns;
  assert.deepEqual(jset.slice(3, 5), [e(0x45, 0, 0, 1, 9), e(0x05, 0, 0, 2, 0)]);
  const both = classicToEbpf([insn(0x1d, 1, 2, 0), ret, ret, ret]).insns;
  assert.deepEqual(both.slice(3, 5), [e(0x1d, 0, 7, 3, 0), e(0x05, 0, 0, 4, 0)]);
  // A negative constant goes through r2 so the comparison stays unsigned 32-bit.
  const big = classicToEbpf([insn(0x15, 1, 0, 0x80000000), ret, ret]).insns;
  assert.deepEqual(big.slice(3, 5), [e(0xb4, 2, 0, 0, -0x80000000), e(0x1d, 0, 2, 2, 0)]);
});

test('division by X gets a zero check; MSH keeps A; loads map to LD_ABS/LD_IND', () => {
  const div = classicToEbpf([insn(0x3c, 0, 0, 0), insn(0x16, 0, 0, 0)]).insns;
  assert.deepEqual(div.slice(3), [e(0xbc, 7, 7, 0, 0), e(0x55, 7, 0, 2, 0), e(0xac, 0, 0, 0, 0), e(0x95, 0, 0, 0, 0), e(0x3c, 0, 7, 0, 0), e(0x95, 0, 0, 0, 0)]);
  const msh = classicToEbpf([insn(0xb1, 0, 0, 14), insn(0x16, 0, 0, 0)]).insns;
  assert.equal(msh.length, 3 + 7 + 1);
  assert.deepEqual(msh[4], e(0x30, 0, 0, 0, 14));
  const ind = classicToEbpf([insn(0x48, 0, 0, 2), insn(0x80, 0, 0, 0), insn(0x16, 0, 0, 0)]).insns;
  assert.deepEqual(ind.slice(3, 5), [e(0x48, 0, 7, 0, 2), e(0x61, 0, 6, SkBuffField.len, 0)]);
});

test('ancillary loads read __sk_buff; unknown ones are refused', () => {
  const proto = classicToEbpf([insn(0x28, 0, 0, (SKF_AD_OFF + SkfAd.PROTOCOL) >>> 0), insn(0x16, 0, 0, 0)]).insns;
  assert.deepEqual(proto.slice(3, 5), [e(0x61, 0, 6, SkBuffField.protocol, 0), e(0xdc, 0, 0, 0, 16)]);
  assert.throws(() => classicToEbpf([insn(0x20, 0, 0, (SKF_AD_OFF + SkfAd.NLATTR) >>> 0), insn(0x16, 0, 0, 0)]), (err: unknown) => err instanceof CbpfError && err.location.insn === 0);
});

/** Runs translated code in our eBPF interpreter: r1 = a __sk_buff with len, LD_ABS reads the packet. */
function runTranslated(insns: Instruction[], packet: Uint8Array, wirelen: number, ctxBytes?: Uint8Array): number {
  const space = new AddressSpace();
  const ctx = new Uint8Array(192);
  new DataView(ctx.buffer).setUint32(SkBuffField.len, wirelen, true);
  const ctxRegion = space.allocateWith(ctxBytes ?? ctx, 'ctx', 'ctx', false);
  const pkt = space.allocateWith(packet, 'packet', 'packet', false, Math.max(packet.length, 1));
  const program = interpreter.load(insns, { space, checked: true });
  const result = program.run({ args: [ctxRegion.start], packet: { start: pkt.start, length: packet.length } });
  program.dispose();
  return result.r0lo >>> 0;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
}

// Where Linux and libpcap differ the generator stays out of the way: shifts by X (Linux masks the
// count, libpcap gives 0 from 32 on) and X + k past 2^32 in indirect loads (Linux wraps, libpcap
// fails), hence no TAX and X loaded only with values below 2^31.
const STRAIGHT = [0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x81, 0x00, 0x01, 0xb1, 0x87,
  0x04, 0x14, 0x24, 0x34, 0x94, 0x54, 0x44, 0xa4, 0x64, 0x74, 0x0c, 0x1c, 0x2c, 0x3c, 0x9c, 0x5c, 0x4c, 0xac, 0x84];
const JUMPS = [0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d];

test('random programs: translated eBPF in the VM returns what the classic interpreter returns (400 x 5)', () => {
  const next = rng(7);
  const packets = [
    ethernet({ type: EtherType.IPV4, payload: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: tcp({ srcPort: 1, dstPort: 80 }) }) }),
    ethernet({ type: EtherType.IPV4, payload: ipv4({ src: '1.2.3.4', dst: '5.6.7.8', payload: udp({ srcPort: 53, dstPort: 53 }) }) }),
    Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff), new Uint8Array(3).fill(0xff), new Uint8Array(0),
  ];
  for (let n = 0; n < 400; n++) {
    const length = 2 + (next() % 24);
    const prog: CbpfInstruction[] = [];
    // M[] is written up front so every read is initialised, as the kernel's checker demands.
    prog.push(insn(0x02, 0, 0, 0), insn(0x03, 0, 0, 1));
    for (let pc = 0; pc < length - 1; pc++) {
      const remaining = length - pc - 2;
      const isJump = remaining > 0 && next() % 4 === 0;
      let code = isJump ? JUMPS[next() % JUMPS.length]! : STRAIGHT[next() % STRAIGHT.length]!;
      let k = [0, 1, 2, 12, 14, 23, 31, 0x800, 0xffffffff, 0x80000000, next() % 70][next() % 11]!;
      if (code === 0x34 || code === 0x94) k = k || 3;
      if (code === 0x64 || code === 0x74) k %= 32;
      if (code === 0x05) k = next() % (remaining + 1);
      if ((code === 0x20 || code === 0x28 || code === 0x30) && k >= 0xfffff000) k = 0x7fffffff; // not an ancillary load
      if (code === 0x01) k &= 0x7fffffff;
      // Linux adds a negative indirect offset to X (signed); libpcap sees a huge unsigned one and fails.
      if ((code === 0x40 || code === 0x48 || code === 0x50) && k >= 0x80000000) k &= 0xff;
      if (next() % 10 === 0) { code = next() % 2 ? 0x60 : 0x61; k = next() % 2; }
      prog.push(insn(code, isJump ? next() % (remaining + 1) : 0, isJump ? next() % (remaining + 1) : 0, k));
    }
    prog.push(next() % 2 ? insn(0x16, 0, 0, 0) : insn(0x06, 0, 0, next()));
    const { insns } = classicToEbpf(prog);
    for (const packet of packets) {
      const wirelen = packet.length + (next() % 3);
      assert.equal(runTranslated(insns, packet, wirelen), runCbpf(prog, packet, wirelen), JSON.stringify(prog));
    }
  }
});

test('seccomp context: word loads from seccomp_data, LEN is 64', () => {
  const prog = [insn(0x20, 0, 0, 4), insn(0x15, 0, 3, AuditArch.X86_64), insn(0x20, 0, 0, 0), insn(0x15, 0, 1, 59),
    insn(0x06, 0, 0, SeccompRet.ERRNO | 1), insn(0x80, 0, 0, 0), insn(0x16, 0, 0, 0)];
  const { insns } = classicToEbpf(prog, { context: 'seccomp' });
  for (const nr of [59, 60]) {
    const data = buildSeccompData({ nr });
    assert.equal(runTranslated(insns, new Uint8Array(0), 0, data), runSeccomp(prog, data));
  }
});
