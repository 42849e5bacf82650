import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCbpf, prepareCbpf } from '../../src/cbpf/interpret.js';
import { compileCbpfToJs } from '../../src/cbpf/compile-js.js';
import { CbpfError } from '../../src/cbpf/cbpf-error.js';
import { insn, SKF_AD_OFF, SkfAd, type CbpfInstruction } from '../../src/cbpf/opcodes.js';
import { EtherType, ethernet, ipv4, tcp, udp } from '../../src/net/index.js';

// `tcpdump -dd ip`: ldh [12]; jeq #0x800, ret 262144, ret 0
const IP_FILTER: CbpfInstruction[] = [insn(0x28, 0, 0, 12), insn(0x15, 0, 1, 0x800), insn(0x06, 0, 0, 262144), insn(0x06, 0, 0, 0)];

const tcpPacket = ethernet({ type: EtherType.IPV4, payload: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: tcp({ srcPort: 1, dstPort: 80 }) }) });
const arpish = ethernet({ type: EtherType.ARP, payload: new Uint8Array(28) });

/** Both engines must agree on every case; returns the interpreter's answer. */
function run(prog: CbpfInstruction[], packet: Uint8Array, wirelen = packet.length): number {
  const interpreted = runCbpf(prog, packet, wirelen);
  assert.equal(compileCbpfToJs(prog)(packet, wirelen), interpreted, 'compile-js disagrees with the interpreter');
  return interpreted;
}

test('a tcpdump program accepts IPv4 and rejects ARP', () => {
  assert.equal(run(IP_FILTER, tcpPacket), 262144);
  assert.equal(run(IP_FILTER, arpish), 0);
});

test('loads past the captured bytes end the run with 0', () => {
  const prog = [insn(0x20, 0, 0, 10), insn(0x16, 0, 0, 0)]; // ld [10]; ret a
  assert.equal(run(prog, Uint8Array.from([...new Array(10).fill(0), 1, 2, 3, 4])), 0x01020304);
  assert.equal(run(prog, new Uint8Array(13)), 0);
  assert.equal(run([insn(0x30, 0, 0, 0xffffffff), insn(0x06, 0, 0, 1)], new Uint8Array(100)), 0);
  // ld [x + 2] with x huge: no wrap-around
  assert.equal(run([insn(0x01, 0, 0, 0xffffffff), insn(0x50, 0, 0, 2), insn(0x06, 0, 0, 1)], new Uint8Array(100)), 0);
  // ldxb 4*([k]&0xf) out of range
  assert.equal(run([insn(0xb1, 0, 0, 5), insn(0x06, 0, 0, 1)], new Uint8Array(5)), 0);
});

test('wire length, MSH, indirect loads, scratch memory', () => {
  const packet = Uint8Array.from([0x45, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
  assert.equal(run([insn(0x80, 0, 0, 0), insn(0x16, 0, 0, 0)], packet, 1500), 1500);
  assert.equal(run([insn(0xb1, 0, 0, 0), insn(0x87, 0, 0, 0), insn(0x16, 0, 0, 0)], packet), 20);
  assert.equal(run([insn(0x01, 0, 0, 4), insn(0x48, 0, 0, 1), insn(0x16, 0, 0, 0)], packet), 0xbbcc);
  const mem = [insn(0x00, 0, 0, 7), insn(0x02, 0, 0, 15), insn(0x00, 0, 0, 0), insn(0x61, 0, 0, 15), insn(0x87, 0, 0, 0), insn(0x16, 0, 0, 0)];
  assert.equal(run(mem, packet), 7);
});

test('ALU: unsigned 32-bit wrap, division by zero returns 0, big shifts give 0, NEG', () => {
  const alu = (op: number, a: number, operand: number, useX = false): number =>
    run(useX
      ? [insn(0x00, 0, 0, a), insn(0x01, 0, 0, operand), insn(op | 0x08, 0, 0, 0), insn(0x16, 0, 0, 0)]
      : [insn(0x00, 0, 0, a), insn(op, 0, 0, operand), insn(0x16, 0, 0, 0)], new Uint8Array(0));
  assert.equal(alu(0x04, 0xffffffff, 2), 1);
  assert.equal(alu(0x14, 0, 1), 0xffffffff);
  assert.equal(alu(0x24, 0x10000, 0x10000), 0);
  assert.equal(alu(0x24, 0xffffffff, 0xffffffff), 1);
  assert.equal(alu(0x34, 0xffffffff, 16), 0x0fffffff);
  assert.equal(alu(0x34, 7, 0, true), 0);
  assert.equal(alu(0x94, 7, 0, true), 0);
  assert.equal(alu(0x94, 0xffffffff, 10), 5);
  assert.equal(alu(0x64, 1, 31), 0x80000000);
  assert.equal(alu(0x64, 1, 32, true), 0);
  assert.equal(alu(0x74, 0x80000000, 33, true), 0);
  assert.equal(alu(0x74, 0x80000000, 31), 1);
  assert.equal(alu(0xa4, 0xf0f0f0f0, 0xffffffff), 0x0f0f0f0f);
  assert.equal(run([insn(0x00, 0, 0, 1), insn(0x84, 0, 0, 0), insn(0x16, 0, 0, 0)], new Uint8Array(0)), 0xffffffff);
});

test('jumps: unsigned compares, jset, signed ja (libpcap protochain loops back)', () => {
  const cmp = (code: number, a: number, k: number): number => run([insn(0x00, 0, 0, a), insn(code, 0, 1, k), insn(0x06, 0, 0, 1), insn(0x06, 0, 0, 2)], new Uint8Array(0));
  assert.equal(cmp(0x25, 0x80000000, 1), 1); // JGT unsigned
  assert.equal(cmp(0x35, 5, 5), 1);
  assert.equal(cmp(0x45, 0xf0, 0x0f), 2);
  assert.equal(cmp(0x45, 0xffffffff, 0xffffffff), 1);
  // A counts to 3 through a backward ja: add #1; jeq #3 -> ret a; ja -3
  const loop = [insn(0x04, 0, 0, 1), insn(0x15, 1, 0, 3), insn(0x05, 0, 0, -3 >>> 0), insn(0x16, 0, 0, 0)];
  assert.equal(run(loop, new Uint8Array(0)), 3);
  const forever = [insn(0x05, 0, 0, 0xffffffff), insn(0x06, 0, 0, 0)];
  assert.throws(() => runCbpf(forever, new Uint8Array(0)), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/loop-limit');
  assert.throws(() => compileCbpfToJs(forever, { maxBackwardJumps: 10 })(new Uint8Array(0), 0), /backward jumps/);
});

test('bad programs are refused when decoded, naming the instruction', () => {
  assert.throws(() => runCbpf([insn(0xff, 0, 0, 0)], new Uint8Array(0)), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/bad-opcode' && e.location.insn === 0);
  assert.throws(() => runCbpf([insn(0x15, 5, 0, 0), insn(0x06, 0, 0, 0)], new Uint8Array(0)), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/bad-jump');
  assert.throws(() => runCbpf([insn(0x02, 0, 0, 16), insn(0x06, 0, 0, 0)], new Uint8Array(0)), /M\[0\.\.15\]/);
  assert.throws(() => runCbpf([], new Uint8Array(0)), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/empty');
  // Falling off the end returns 0.
  assert.equal(run([insn(0x00, 0, 0, 1)], new Uint8Array(0)), 0);
});

test('Linux ancillary loads: absent offline (return 0), values from the options object', () => {
  const vlan = [insn(0x30, 0, 0, (SKF_AD_OFF + SkfAd.VLAN_TAG_PRESENT) >>> 0), insn(0x16, 0, 0, 0)];
  assert.equal(runCbpf(vlan, tcpPacket), 0);
  assert.equal(runCbpf(vlan, tcpPacket, tcpPacket.length, { ancillary: { vlanTagPresent: 1 } }), 1);
  assert.equal(compileCbpfToJs(vlan, { ancillary: { vlanTagPresent: 1 } })(tcpPacket, tcpPacket.length), 1);
  const proto = [insn(0x28, 0, 0, (SKF_AD_OFF + SkfAd.PROTOCOL) >>> 0), insn(0x16, 0, 0, 0)];
  assert.equal(prepareCbpf(proto, { ancillary: { protocol: 0x86dd } }).run(tcpPacket), 0x86dd);
});

/** A deterministic generator, so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
}

const STRAIGHT = [0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x81, 0x00, 0x01, 0x60, 0x61, 0xb1, 0x02, 0x03,
  0x04, 0x14, 0x24, 0x34, 0x94, 0x54, 0x44, 0xa4, 0x64, 0x74, 0x0c, 0x1c, 0x2c, 0x3c, 0x9c, 0x5c, 0x4c, 0xac, 0x6c, 0x7c, 0x84, 0x07, 0x87];
const JUMPS = [0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d];

test('random programs: compiled JavaScript and the interpreter agree (2,000 programs x 8 packets)', () => {
  const next = rng(42);
  const packets = [tcpPacket, arpish, new Uint8Array(0), Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff),
    ethernet({ type: EtherType.IPV4, payload: ipv4({ src: '1.2.3.4', dst: '5.6.7.8', payload: udp({ srcPort: 53, dstPort: 53 }) }) }),
    new Uint8Array(3).fill(0xff), new Uint8Array(1500).fill(0x45), Uint8Array.from([0x0f, 0xf0, 0, 1])];
  for (let n = 0; n < 2000; n++) {
    const length = 2 + (next() % 30);
    const prog: CbpfInstruction[] = [];
    for (let pc = 0; pc < length - 1; pc++) {
      const remaining = length - pc - 2;
      const isJump = remaining > 0 && next() % 4 === 0;
      const code = isJump ? JUMPS[next() % JUMPS.length]! : STRAIGHT[next() % STRAIGHT.length]!;
      const smallK = [0, 1, 2, 12, 14, 23, 31, 32, 0x800, 0xffffffff, 0x80000000][next() % 11]!;
      let k = next() % 2 ? smallK : next() % 70;
      if (code === 0x60 || code === 0x61 || code === 0x02 || code === 0x03) k %= 16;
      if (code === 0x05) k = next() % (remaining + 1);
      prog.push(insn(code, isJump ? next() % (remaining + 1) : 0, isJump ? next() % (remaining + 1) : 0, k));
    }
    prog.push(next() % 2 ? insn(0x16, 0, 0, 0) : insn(0x06, 0, 0, next()));
    const compiled = compileCbpfToJs(prog);
    for (const packet of packets) {
      const wirelen = packet.length + (next() % 3);
      assert.equal(compiled(packet, wirelen), runCbpf(prog, packet, wirelen), `program ${JSON.stringify(prog)}`);
    }
  }
});
