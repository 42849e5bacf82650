import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseElf, STT_FUNC } from '../../src/elf/index.js';
import {
  applyCoreRelocation,
  BtfError,
  btfExtFromElf,
  btfFromElf,
  CORE_POISON_HELPER,
  CORE_RELO_KIND_NAMES,
  CoreReloKind,
  parseBtf,
  relocateCore,
  relocateCoreOne,
  type Btf,
  type CoreRelo,
  type CoreRelocationResult,
} from '../../src/btf/index.js';
import { fixturesDir } from '../support/paths.js';
import { BtfBuilder } from './support/btf-builder.js';
import { libbpfCoreLog } from './support/libbpf-oracle.js';
import { findTool, hasVmlinux, VMLINUX_BTF } from './support/tools.js';

const FIXTURE = join(fixturesDir, 'core', 'core_read.bpf.o');
const FIXTURE_BE = join(fixturesDir, 'core', 'core_read.bpfeb.o');

/** Relocate every section of an object against `target`; patch a copy of each program section. */
function relocateObject(path: string, target: Btf) {
  const elf = parseElf(readFileSync(path), { fileName: path });
  const local = btfFromElf(elf)!;
  const ext = btfExtFromElf(elf, local)!;
  return ext.coreRelos.map((section) => {
    const prog = elf.symbols.find((s) => s.type === STT_FUNC && elf.sections[s.sectionIndex]?.name === section.sectionName)!;
    const code = elf.sectionBytes(elf.sectionByName(section.sectionName)!).slice();
    const original = code.slice();
    const results = relocateCore(local, section.records, target);
    for (const r of results) applyCoreRelocation(code, r, elf.littleEndian);
    return { prog: prog.name, results, code, original };
  });
}

test('CO-RE against vmlinux: every relocation and patch agrees with libbpf (bpftool -d)', (t) => {
  if (!hasVmlinux()) return t.skip(`${VMLINUX_BTF} not present`);
  const bpftool = findTool('bpftool');
  if (!bpftool) return t.skip('bpftool not installed');
  const { relos: oracle, log } = libbpfCoreLog(bpftool, FIXTURE);
  if (oracle.length === 0) return t.skip(`libbpf printed no CO-RE log:\n${log.slice(0, 500)}`);
  const target = parseBtf(readFileSync(VMLINUX_BTF));
  let compared = 0;
  for (const { prog, results, code, original } of relocateObject(FIXTURE, target)) {
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    const before = new DataView(original.buffer, original.byteOffset, original.byteLength);
    results.forEach((r, i) => {
      const expected = oracle.filter((o) => o.prog === prog && o.relo === i);
      const label = `${prog} relo #${i} ${CORE_RELO_KIND_NAMES[r.relo.kind]} "${r.relo.accessString}"`;
      assert.ok(expected.length > 0, `${label}: not in libbpf's log`);
      const insn = r.relo.insnOff / 8;
      const at = r.relo.insnOff;
      for (const e of expected) {
        assert.equal(e.insn, insn, label);
        switch (e.what) {
          case 'poison':
            assert.equal(r.poison || r.failMemSizeAdjust, true, `${label}: libbpf poisoned it`);
            assert.equal(view.getUint8(at), 0x85);
            assert.equal(view.getInt32(at + 4, true), CORE_POISON_HELPER);
            break;
          case 'imm':
            assert.equal(r.poison, false, label);
            assert.equal(r.newValue, e.to, label);
            assert.equal(BigInt(before.getInt32(at + 4, true)), e.from, label);
            assert.equal(BigInt(view.getInt32(at + 4, true)), e.to, label);
            break;
          case 'off':
            assert.equal(r.newValue, e.to, label);
            assert.equal(BigInt(view.getInt16(at + 2, true)), e.to, label);
            break;
          case 'mem_sz': {
            const bytes: Record<number, number> = { 0: 4, 8: 2, 16: 1, 24: 8 };
            assert.equal(BigInt(r.origSize), e.from, label);
            assert.equal(BigInt(r.newSize), e.to, label);
            assert.equal(BigInt(bytes[view.getUint8(at) & 0x18]!), e.to, label);
            break;
          }
          case 'imm64': {
            assert.equal(r.newValue, e.to, label);
            const v = (BigInt(view.getUint32(at + 12, true)) << 32n) | BigInt(view.getUint32(at + 4, true));
            assert.equal(v, e.to, label);
            break;
          }
        }
        compared++;
      }
    });
    // Nothing else in the section changed.
    const touched = new Set(results.flatMap((r) => [r.relo.insnOff / 8, r.relo.insnOff / 8 + 1]));
    for (let i = 0; i < code.length / 8; i++) {
      if (!touched.has(i)) assert.deepEqual(code.subarray(i * 8, i * 8 + 8), original.subarray(i * 8, i * 8 + 8));
    }
  }
  t.diagnostic(`CO-RE: ${compared} libbpf log entries matched (${oracle.length} in the log)`);
  assert.equal(compared, oracle.length);
});

test('the big-endian object relocates to the same values, shifts aside', (t) => {
  if (!hasVmlinux()) return t.skip(`${VMLINUX_BTF} not present`);
  const target = parseBtf(readFileSync(VMLINUX_BTF));
  const le = relocateObject(FIXTURE, target);
  const be = relocateObject(FIXTURE_BE, target);
  assert.equal(be.length, le.length);
  be.forEach((section, s) => {
    section.results.forEach((r, i) => {
      const l = le[s]!.results[i]!;
      if (r.relo.kind === CoreReloKind.FIELD_LSHIFT_U64) return;
      assert.equal(r.poison, l.poison);
      assert.equal(r.newValue, l.newValue, `${section.prog} #${i}`);
    });
  });
});

/** Reads a bitfield the way relocated code does: load byteSize bytes, shift left, shift right. */
function extractWithRelocations(target: Btf, local: Btf, localId: number, access: string, mem: Uint8Array, le: boolean): bigint {
  const get = (kind: CoreReloKind): bigint =>
    relocateCoreOne(local, { insnOff: 0, typeId: localId, accessString: access, kind }, target).newValue;
  const off = Number(get(CoreReloKind.FIELD_BYTE_OFFSET));
  const size = Number(get(CoreReloKind.FIELD_BYTE_SIZE));
  let v = 0n;
  for (let i = 0; i < size; i++) {
    const byte = BigInt(mem[off + i]!);
    v |= le ? byte << BigInt(8 * i) : byte << BigInt(8 * (size - 1 - i));
  }
  v = BigInt.asUintN(64, v << get(CoreReloKind.FIELD_LSHIFT_U64));
  const rshift = get(CoreReloKind.FIELD_RSHIFT_U64);
  return get(CoreReloKind.FIELD_SIGNED) ? BigInt.asIntN(64, v) >> rshift : v >> rshift;
}

test('bitfield relocations extract the field in both byte orders', () => {
  for (const le of [true, false]) {
    // Target layout: x (11 bits) at bit 45, y (signed, 6 bits) at bit 92, across a 4-byte boundary.
    const tb = new BtfBuilder({ littleEndian: le });
    const u32 = tb.int('unsigned int', 4);
    const s32 = tb.int('int', 4, true);
    tb.struct('bf', 12, [
      { name: 'pad', type: u32, bitOffset: 0 },
      { name: 'x', type: u32, bitOffset: 32 + 13, bitfieldSize: 11 },
      { name: 'y', type: s32, bitOffset: 64 + 28, bitfieldSize: 6 }, // straddles a 4-byte boundary
    ]);
    const target = parseBtf(tb.build());
    const lb = new BtfBuilder({ littleEndian: le });
    const lu = lb.int('unsigned int', 4);
    const li = lb.int('int', 4, true);
    const localId = lb.struct('bf', 8, [
      { name: 'x', type: lu, bitOffset: 0, bitfieldSize: 11 },
      { name: 'y', type: li, bitOffset: 11, bitfieldSize: 6 },
    ]);
    const local = parseBtf(lb.build());
    // Place x = 0x5a5 and y = -3 in memory with the ABI's bit numbering (LE: from the LSB of the lowest
    // byte; BE: from the MSB of the lowest byte).
    const mem = new Uint8Array(16);
    const put = (bitOffset: number, bits: number, value: number): void => {
      for (let i = 0; i < bits; i++) {
        const bit = (value >> (bits - 1 - i)) & 1; // MSB first
        const pos = le ? bitOffset + bits - 1 - i : bitOffset + i;
        const byte = Math.floor(pos / 8);
        const shift = le ? pos % 8 : 7 - (pos % 8);
        mem[byte]! |= bit << shift;
      }
    };
    put(45, 11, 0x5a5);
    put(92, 6, -3 & 0x3f);
    assert.equal(extractWithRelocations(target, local, localId, '0:0', mem, le), 0x5a5n, `x, le=${le}`);
    assert.equal(extractWithRelocations(target, local, localId, '0:1', mem, le), -3n, `y, le=${le}`);
  }
});

function relo(typeId: number, accessString: string, kind: CoreReloKind): CoreRelo {
  return { insnOff: 0, typeId, accessString, kind };
}

test('flavours, anonymous members, arrays and missing fields', () => {
  const tb = new BtfBuilder();
  const int = tb.int('int', 4, true);
  const long = tb.int('long', 8, true);
  const arr = tb.array(long, int, 4);
  const inner = tb.composite('UNION', '', 8, [
    { name: 'pad', type: int, bitOffset: 0 },
    { name: 'deep', type: long, bitOffset: 0 },
  ]);
  const task = tb.struct('task', 64, [
    { name: 'a', type: int, bitOffset: 0 },
    { name: '', type: inner, bitOffset: 64 },
    { name: 'arr', type: arr, bitOffset: 128 },
    { name: 'tail', type: tb.array(int, int, 0), bitOffset: 448 },
  ]);
  const target = parseBtf(tb.build());

  const lb = new BtfBuilder();
  const lint = lb.int('int', 4, true);
  const llong = lb.int('long', 8, true);
  const local = lb.struct('task___mine', 48, [
    { name: 'deep', type: llong, bitOffset: 0 },
    { name: 'arr', type: lb.array(llong, lint, 4), bitOffset: 64 },
    { name: 'gone', type: lint, bitOffset: 320 },
    { name: 'tail', type: lb.array(lint, lint, 0), bitOffset: 352 },
  ]);
  const localBtf = parseBtf(lb.build());
  const one = (access: string, kind: CoreReloKind): CoreRelocationResult =>
    relocateCoreOne(localBtf, relo(local, access, kind), target);

  assert.equal(one('0:0', CoreReloKind.FIELD_BYTE_OFFSET).newValue, 8n, 'found inside the anonymous union');
  assert.equal(one('0:0', CoreReloKind.FIELD_BYTE_OFFSET).targetTypeId, task);
  assert.equal(one('0:1:2', CoreReloKind.FIELD_BYTE_OFFSET).newValue, 16n + 16n);
  assert.equal(one('0:1:2', CoreReloKind.FIELD_BYTE_SIZE).newValue, 8n);
  assert.equal(one('1:0', CoreReloKind.FIELD_BYTE_OFFSET).newValue, 64n + 8n, 'root index times the target size');
  assert.equal(one('0:3:5', CoreReloKind.FIELD_BYTE_OFFSET).newValue, 56n + 20n, 'flexible array');
  assert.equal(one('0:2', CoreReloKind.FIELD_EXISTS).newValue, 0n);
  assert.equal(one('0:2', CoreReloKind.FIELD_BYTE_OFFSET).poison, true);
  assert.equal(one('0:0', CoreReloKind.FIELD_EXISTS).newValue, 1n);
  assert.equal(one('0:0', CoreReloKind.FIELD_SIGNED).newValue, 1n);
  assert.throws(() => one('0:9', CoreReloKind.FIELD_BYTE_OFFSET), (e: unknown) => e instanceof BtfError && e.code === 'core/bad-access-string');
  assert.throws(() => one('0:x', CoreReloKind.FIELD_BYTE_OFFSET), (e: unknown) => e instanceof BtfError);
  assert.throws(() => one('0:1:7', CoreReloKind.FIELD_BYTE_OFFSET), (e: unknown) => e instanceof BtfError, 'array index out of range');
});

test('ambiguous candidates throw (libbpf fails the load) or poison on request', () => {
  const tb = new BtfBuilder();
  const int = tb.int('int', 4, true);
  tb.struct('amb', 8, [
    { name: 'a', type: int, bitOffset: 0 },
    { name: 'b', type: int, bitOffset: 32 },
  ]);
  tb.struct('amb___v2', 12, [
    { name: 'b', type: int, bitOffset: 64 },
  ]);
  tb.struct('same', 8, [{ name: 'b', type: int, bitOffset: 32 }]);
  tb.struct('same___copy', 8, [{ name: 'b', type: int, bitOffset: 32 }]);
  const target = parseBtf(tb.build());
  const lb = new BtfBuilder();
  const lint = lb.int('int', 4, true);
  const amb = lb.struct('amb', 4, [{ name: 'b', type: lint, bitOffset: 0 }]);
  const same = lb.struct('same', 4, [{ name: 'b', type: lint, bitOffset: 0 }]);
  const local = parseBtf(lb.build());
  assert.throws(
    () => relocateCore(local, [relo(amb, '0:0', CoreReloKind.FIELD_BYTE_OFFSET)], target),
    (e: unknown) => e instanceof BtfError && e.code === 'core/ambiguous',
  );
  const poisoned = relocateCore(local, [relo(amb, '0:0', CoreReloKind.FIELD_BYTE_OFFSET)], target, { ambiguityPoisons: true });
  assert.equal(poisoned[0]!.poison, true);
  // Two candidates that agree are fine.
  assert.equal(relocateCoreOne(local, relo(same, '0:0', CoreReloKind.FIELD_BYTE_OFFSET), target).newValue, 4n);
  // Type size differs between candidates: ambiguous too.
  assert.throws(() => relocateCoreOne(local, relo(amb, '0', CoreReloKind.TYPE_SIZE), target), (e: unknown) => e instanceof BtfError);
  assert.equal(relocateCoreOne(local, relo(same, '0', CoreReloKind.TYPE_SIZE), target).newValue, 8n);
});

test('type and enum relocations: exists, size, matches, ids, values', () => {
  const tb = new BtfBuilder();
  const int = tb.int('int', 4, true);
  tb.int('unsigned int', 4);
  tb.enum('color', 4, [['RED', 0], ['GREEN', 7], ['NEG', -2]], true);
  tb.enum64('big', [['HUGE', 0x1_0000_0000n]]);
  const node = tb.struct('node', 16, [
    { name: 'next', type: tb.ptr(tb.fwd('node')), bitOffset: 0 },
    { name: 'val', type: int, bitOffset: 64 },
  ]);
  const target = parseBtf(tb.build());

  const lb = new BtfBuilder();
  const lint = lb.int('int', 4, true);
  const lcolor = lb.enum('color___local', 4, [['GREEN', 1], ['BLUE', 2], ['NEG', 0]]);
  const lbig = lb.enum64('big', [['HUGE', 1n]]);
  const lnode = lb.struct('node', 16, [{ name: 'val', type: lint, bitOffset: 0 }]);
  const lnodeBad = lb.struct('node___bad', 8, [{ name: 'val', type: lb.int('unsigned int', 4), bitOffset: 0 }]);
  const missing = lb.struct('nowhere', 4, [{ name: 'v', type: lint, bitOffset: 0 }]);
  const local = parseBtf(lb.build());
  const v = (id: number, access: string, kind: CoreReloKind) => relocateCoreOne(local, relo(id, access, kind), target);

  assert.equal(v(lcolor, '0', CoreReloKind.ENUMVAL_VALUE).newValue, 7n);
  assert.equal(v(lcolor, '1', CoreReloKind.ENUMVAL_EXISTS).newValue, 0n);
  assert.equal(v(lcolor, '1', CoreReloKind.ENUMVAL_VALUE).poison, true);
  assert.equal(v(lcolor, '2', CoreReloKind.ENUMVAL_VALUE).newValue, 0xffff_ffff_ffff_fffen, 'sign-extended like libbpf');
  assert.equal(v(lbig, '0', CoreReloKind.ENUMVAL_VALUE).newValue, 0x1_0000_0000n);
  assert.equal(v(lnode, '0', CoreReloKind.TYPE_EXISTS).newValue, 1n);
  assert.equal(v(lnode, '0', CoreReloKind.TYPE_SIZE).newValue, 16n);
  assert.equal(v(lnode, '0', CoreReloKind.TYPE_ID_TARGET).newValue, BigInt(node));
  assert.equal(v(lnode, '0', CoreReloKind.TYPE_ID_LOCAL).newValue, BigInt(lnode));
  assert.equal(v(lnode, '0', CoreReloKind.TYPE_MATCHES).newValue, 1n);
  assert.equal(v(lnodeBad, '0', CoreReloKind.TYPE_MATCHES).newValue, 0n, 'signedness differs');
  assert.equal(v(lnodeBad, '0', CoreReloKind.TYPE_EXISTS).newValue, 1n, 'but it is compatible');
  assert.equal(v(missing, '0', CoreReloKind.TYPE_EXISTS).newValue, 0n);
  assert.equal(v(missing, '0', CoreReloKind.TYPE_SIZE).newValue, 0n);
  assert.equal(v(missing, '0', CoreReloKind.TYPE_ID_TARGET).newValue, 0n);
  assert.throws(() => v(lnode, '0:0', CoreReloKind.TYPE_SIZE), (err: unknown) => err instanceof BtfError);
});

/** One 8-byte little-endian instruction. */
function insn(code: number, regs: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const d = new DataView(b.buffer);
  d.setUint8(0, code);
  d.setUint8(1, regs);
  d.setInt16(2, off, true);
  d.setInt32(4, imm, true);
  return b;
}

function result(over: Partial<CoreRelocationResult>): CoreRelocationResult {
  return {
    relo: relo(1, '0:0', CoreReloKind.FIELD_BYTE_OFFSET), origValue: 0n, newValue: 0n, origSize: 0, newSize: 0,
    validate: true, poison: false, failMemSizeAdjust: false, targetTypeId: 1, ...over,
  };
}

test('applying results: imm, off, access size, LD_IMM64, poison, and the checks', () => {
  const alu = insn(0x07, 0x01, 0, 24); // r1 += 24
  applyCoreRelocation(alu, result({ origValue: 24n, newValue: 1264n }));
  assert.equal(new DataView(alu.buffer).getInt32(4, true), 1264);

  const ldx = insn(0x61, 0x21, 12, 0); // r1 = *(u32 *)(r2 + 12)
  applyCoreRelocation(ldx, result({ origValue: 12n, newValue: 32n, origSize: 4, newSize: 8 }));
  assert.equal(new DataView(ldx.buffer).getInt16(2, true), 32);
  assert.equal(ldx[0], 0x79, 'widened to a 64-bit load');

  const ld64 = new Uint8Array(16);
  ld64.set(insn(0x18, 0x01, 0, 11));
  ld64.set(insn(0, 0, 0, 0), 8);
  applyCoreRelocation(ld64, result({ origValue: 11n, newValue: 0x1_0000_0001n }));
  assert.equal(new DataView(ld64.buffer).getUint32(4, true), 1);
  assert.equal(new DataView(ld64.buffer).getUint32(12, true), 1);

  const poisoned = ld64.slice();
  assert.equal(applyCoreRelocation(poisoned, result({ poison: true })).action, 'poisoned');
  for (const at of [0, 8]) {
    assert.equal(poisoned[at], 0x85);
    assert.equal(new DataView(poisoned.buffer).getInt32(at + 4, true), 0xbad2310);
  }
  const badSize = insn(0x61, 0x21, 0, 0);
  assert.equal(applyCoreRelocation(badSize, result({ newValue: 8n, origSize: 4, newSize: 8, failMemSizeAdjust: true })).action, 'poisoned');

  const code = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof BtfError);
      return e.code;
    }
    return 'none';
  };
  assert.equal(code(() => applyCoreRelocation(insn(0x07, 1, 0, 5), result({ origValue: 24n, newValue: 1n }))), 'core/bad-insn');
  assert.equal(code(() => applyCoreRelocation(insn(0x07, 1, 0, 5), result({ origValue: 24n, newValue: 1n, validate: false }))), 'none');
  assert.equal(code(() => applyCoreRelocation(insn(0x61, 1, 0, 0), result({ newValue: 40000n }))), 'core/bad-insn');
  assert.equal(code(() => applyCoreRelocation(insn(0x0f, 1, 0, 0), result({}))), 'core/bad-insn');
  assert.equal(code(() => applyCoreRelocation(insn(0x85, 0, 0, 1), result({}))), 'core/bad-insn');
  assert.equal(code(() => applyCoreRelocation(new Uint8Array(4), result({}))), 'core/bad-insn');
});
