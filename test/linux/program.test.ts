import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { AluOp, Size } from '../../src/isa/index.js';
import { asm, BpfMap, BpfProgram, BpfVerifierError, BpfSyscallError, counterProgram, ProgType, XdpAction } from '../../src/linux/index.js';
import { runTag, skipReason, u32, readU64 } from './support.js';

const opts = { skip: skipReason };
const packet = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

test('XDP program from raw instructions returns XDP_DROP under BPF_PROG_TEST_RUN', opts, () => {
  using prog = BpfProgram.load({ type: 'XDP', name: 'xdp_drop', insns: [asm.mov64Imm(0, XdpAction.DROP), asm.exit()] });
  const run = prog.testRun({ data: packet(64), repeat: 100 });
  assert.equal(run.retval, XdpAction.DROP);
  assert.equal(run.dataOut.byteLength, 64);
  assert.ok(run.durationNs >= 0);
  const info = prog.info();
  assert.equal(info.type, ProgType.XDP);
  assert.equal(info.name, 'xdp_drop');
  assert.match(info.tag, /^[0-9a-f]{16}$/);
  assert.ok(info.jitedSize > 0);
  assert.ok([...BpfProgram.ids()].includes(prog.id));
  assert.equal(prog.xlatedBytecode().byteLength, 16);
});

test('socket filter returning the packet length, and one that reads a byte', opts, () => {
  // r0 = skb->len (offset 0 of __sk_buff). The test run treats data as an Ethernet frame and pulls
  // the 14-byte header, as a socket would see it: len is 100 - 14 and offsets start at the IP header.
  using len = BpfProgram.load({ type: 'SOCKET_FILTER', insns: [asm.ldx(Size.W, 0, 1, 0), asm.exit()] });
  assert.equal(len.testRun({ data: packet(100) }).retval, 86);
  // LD_ABS byte 20 (implicit skb in r6)
  using byte = BpfProgram.load({
    type: 'SOCKET_FILTER',
    insns: [asm.mov64Reg(6, 1), { code: 0x30, dst: 0, src: 0, off: 0, imm: 20 }, asm.exit()],
  });
  assert.equal(byte.testRun({ data: packet(64) }).retval, 14 + 20);
});

test('XDP program that edits the packet: dataOut carries the change', opts, () => {
  // data = ctx->data; if (data + 1 > data_end) return PASS; *(u8 *)data = 0xab; return TX
  using prog = BpfProgram.load({
    type: 'XDP',
    insns: [
      asm.ldx(Size.W, 2, 1, 0), asm.ldx(Size.W, 3, 1, 4), asm.mov64Reg(4, 2), asm.alu64Imm(AluOp.ADD, 4, 1),
      asm.jmpReg(0x20 /* JGT */, 4, 3, 3), asm.st(Size.B, 2, 0, 0xab), asm.mov64Imm(0, XdpAction.TX), asm.exit(),
      asm.mov64Imm(0, XdpAction.PASS), asm.exit(),
    ],
  });
  const run = prog.testRun({ data: packet(32) });
  assert.equal(run.retval, XdpAction.TX);
  assert.equal(run.dataOut[0], 0xab);
  assert.deepEqual(run.dataOut.subarray(1), packet(32).subarray(1));
});

test('map fds patched into LD_IMM64: a counter incremented by each run', opts, () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1, name: 'counts' });
  using prog = BpfProgram.load({ type: 'XDP', insns: counterProgram(counts.fd, XdpAction.PASS) });
  assert.equal(prog.testRun({ data: packet(60), repeat: 25 }).retval, XdpAction.PASS);
  assert.equal(readU64(counts.lookup(u32(0))!), 25);
  assert.deepEqual(prog.info().mapIds, [counts.id]);
});

test('a verifier rejection carries the log', opts, () => {
  // Reads r2, which was never written.
  const bad = [asm.mov64Reg(0, 2), asm.exit()];
  assert.throws(() => BpfProgram.load({ type: 'XDP', name: 'bad', insns: bad }), (e: unknown) => {
    assert.ok(e instanceof BpfVerifierError);
    assert.equal(e.errnoName, 'EACCES');
    assert.match(e.log, /R2 !read_ok/);
    assert.match(e.message, /program bad/);
    return true;
  });
  // Out-of-bounds stack write.
  assert.throws(() => BpfProgram.load({ type: 'XDP', insns: [asm.st(Size.DW, 10, 8, 1), asm.mov64Imm(0, 0), asm.exit()] }),
    (e: unknown) => e instanceof BpfVerifierError && /invalid write to stack R10 off=8 size=8/.test(e.log));
});

test('verifier log on success at level 2, buffer grown from a tiny start on ENOSPC', opts, () => {
  const insns = Array.from({ length: 200 }, (_, i) => asm.mov64Imm(0, i)).concat([asm.exit()]);
  using prog = BpfProgram.load({ type: 'XDP', insns, logLevel: 2, logSize: 128 });
  assert.match(prog.verifierLog, /processed 201 insns/);
  assert.ok(prog.verifierLog.length > 128);
});

test('unknown program type: EINVAL without a verifier log', opts, () => {
  assert.throws(() => BpfProgram.load({ type: 200, insns: [asm.mov64Imm(0, 0), asm.exit()] }),
    (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EINVAL');
});

test('program pin, fromPin, fromId', opts, () => {
  using prog = BpfProgram.load({ type: 'SOCKET_FILTER', name: 'pinme', insns: [asm.mov64Imm(0, 0), asm.exit()] });
  const dir = `/sys/fs/bpf/tsbpf-test-prog-${runTag}`;
  try {
    prog.pin(`${dir}/p`);
    using back = BpfProgram.fromPin(`${dir}/p`);
    assert.equal(back.id, prog.id);
    assert.equal(back.name, 'pinme');
    assert.equal(back.type, ProgType.SOCKET_FILTER);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  using byId = BpfProgram.fromId(prog.id)!;
  assert.equal(byId.typeName, 'SOCKET_FILTER');
  assert.equal(BpfProgram.fromId(0x7ffffff0), undefined);
});
