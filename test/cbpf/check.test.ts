import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkClassic, isValidClassic } from '../../src/cbpf/check.js';
import { CbpfError } from '../../src/cbpf/cbpf-error.js';
import { insn, SKF_AD_OFF, SkfAd, type CbpfInstruction } from '../../src/cbpf/opcodes.js';

const RET0 = insn(0x06, 0, 0, 0);

function rejects(prog: CbpfInstruction[], code: string, at?: number): void {
  assert.throws(() => checkClassic(prog), (e: unknown) => {
    assert.ok(e instanceof CbpfError, String(e));
    assert.equal(e.code, code, e.message);
    if (at !== undefined) assert.equal(e.location.insn, at, e.message);
    return true;
  });
}

test('accepts a typical tcpdump program', () => {
  // tcpdump -dd 'tcp port 80' (IPv4 part, shortened): loads, MSH, indirect loads, jumps
  checkClassic([
    insn(0x28, 0, 0, 12), insn(0x15, 0, 8, 0x800), insn(0x30, 0, 0, 23), insn(0x15, 0, 6, 6),
    insn(0x28, 0, 0, 20), insn(0x45, 4, 0, 0x1fff), insn(0xb1, 0, 0, 14), insn(0x48, 0, 0, 14),
    insn(0x15, 0, 1, 80), insn(0x06, 0, 0, 262144), RET0,
  ]);
  assert.ok(isValidClassic([insn(0x30, 0, 0, (SKF_AD_OFF + SkfAd.VLAN_TAG_PRESENT) >>> 0), insn(0x16, 0, 0, 0)]));
});

test('length limits', () => {
  rejects([], 'cbpf/empty');
  rejects(new Array<CbpfInstruction>(4097).fill(RET0), 'cbpf/too-long');
  checkClassic(new Array<CbpfInstruction>(4096).fill(RET0));
});

test('opcode whitelist: RET X, unknown codes', () => {
  rejects([insn(0x0e, 0, 0, 0)], 'cbpf/bad-opcode', 0);
  rejects([insn(0x00, 0, 0, 0), insn(0xff, 0, 0, 0), RET0], 'cbpf/bad-opcode', 1);
  rejects([insn(0x68, 0, 0, 0), RET0], 'cbpf/bad-opcode', 0); // ld with size H and mode MEM
});

test('constant division or modulo by zero, shifts of 32 or more, M[] index', () => {
  rejects([insn(0x34, 0, 0, 0), RET0], 'cbpf/div-by-zero', 0);
  rejects([insn(0x94, 0, 0, 0), RET0], 'cbpf/div-by-zero', 0);
  checkClassic([insn(0x3c, 0, 0, 0), RET0]); // by X: checked at run time
  rejects([insn(0x64, 0, 0, 32), RET0], 'cbpf/bad-shift', 0);
  rejects([insn(0x74, 0, 0, 40), RET0], 'cbpf/bad-shift', 0);
  checkClassic([insn(0x64, 0, 0, 31), RET0]);
  rejects([insn(0x02, 0, 0, 16), RET0], 'cbpf/bad-mem-index', 0);
  rejects([insn(0x61, 0, 0, 99), RET0], 'cbpf/bad-mem-index', 0);
});

test('jumps: ja forward only and inside, conditional targets inside', () => {
  rejects([insn(0x05, 0, 0, 1), RET0], 'cbpf/bad-jump', 0);
  rejects([insn(0x05, 0, 0, 0xffffffff), RET0], 'cbpf/bad-jump', 0);
  checkClassic([insn(0x05, 0, 0, 0), RET0]);
  rejects([insn(0x15, 1, 0, 0), RET0], 'cbpf/bad-jump', 0);
  rejects([insn(0x15, 0, 2, 0), RET0, RET0], 'cbpf/bad-jump', 0);
  checkClassic([insn(0x15, 1, 0, 0), RET0, RET0]);
});

test('the last instruction must return', () => {
  rejects([RET0, insn(0x00, 0, 0, 0)], 'cbpf/no-return', 1);
  checkClassic([insn(0x16, 0, 0, 0)]);
});

test('unknown ancillary offsets are refused, known ones and SKF_NET_OFF pass', () => {
  rejects([insn(0x20, 0, 0, (SKF_AD_OFF + 64) >>> 0), RET0], 'cbpf/bad-ancillary', 0);
  checkClassic([insn(0x20, 0, 0, (SKF_AD_OFF + SkfAd.PROTOCOL) >>> 0), RET0]);
  checkClassic([insn(0x30, 0, 0, -0x100000 >>> 0), RET0]);
});

test('scratch memory must be written on every path before it is read', () => {
  rejects([insn(0x60, 0, 0, 3), RET0], 'cbpf/uninitialized-mem', 0);
  // Written on the true path only: the join reads an unset slot.
  rejects([insn(0x15, 0, 1, 1), insn(0x02, 0, 0, 3), insn(0x61, 0, 0, 3), RET0], 'cbpf/uninitialized-mem', 2);
  // Written before the branch: fine on both paths.
  checkClassic([insn(0x02, 0, 0, 3), insn(0x15, 0, 1, 1), insn(0x00, 0, 0, 0), insn(0x61, 0, 0, 3), RET0]);
  // Written on both paths.
  checkClassic([insn(0x15, 0, 2, 1), insn(0x02, 0, 0, 5), insn(0x05, 0, 0, 1), insn(0x03, 0, 0, 5), insn(0x60, 0, 0, 5), insn(0x16, 0, 0, 0)]);
  // Skipped by a ja.
  rejects([insn(0x05, 0, 0, 1), insn(0x02, 0, 0, 0), insn(0x60, 0, 0, 0), RET0], 'cbpf/uninitialized-mem', 2);
});
