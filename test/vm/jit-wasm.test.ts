import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteWriter, ModuleBuilder, Op, ValType, encodeLocals } from '../../src/vm/jit/wasm.js';
import { buildSubprogram } from '../../src/vm/jit/cfg.js';
import { validate, type Instruction } from '../../src/isa/instruction.js';
import { contentHash, programWords } from '../../src/vm/jit/cache.js';

/** Reference signed LEB128 through BigInt (tests only). */
function slebReference(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) { out.push(byte); return out; }
    out.push(byte | 0x80);
  }
}

test('LEB128: unsigned, signed 32-bit and signed 64-bit (from halves) match the reference', () => {
  const u = new ByteWriter(1);
  u.u32(624485);
  assert.deepEqual([...u.finish()], [0xe5, 0x8e, 0x26]);
  const samples: bigint[] = [0n, 1n, -1n, 63n, 64n, -64n, -65n, 0x7fffffffn, -0x80000000n, 0x80000000n, 0xffffffffn,
    0x7fffffffffffffffn, -0x8000000000000000n, 0x123456789abcdefn, -0x123456789abcdefn];
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 200; i++) { x = BigInt.asIntN(64, x * 6364136223846793005n + 1442695040888963407n); samples.push(x >> BigInt(i % 64)); }
  for (const value of samples) {
    const w = new ByteWriter(1);
    const bits = BigInt.asUintN(64, value);
    w.s64(Number(bits & 0xffffffffn), Number(bits >> 32n) | 0);
    assert.deepEqual([...w.finish()], slebReference(value), `s64 ${value}`);
    if (value >= -0x80000000n && value <= 0x7fffffffn) {
      const w32 = new ByteWriter(1);
      w32.s32(Number(value));
      assert.deepEqual([...w32.finish()], slebReference(value), `s32 ${value}`);
    }
  }
});

test('ModuleBuilder: a module with an import, a global and an exported function validates and runs', () => {
  const m = new ModuleBuilder();
  const callback = m.importFunction('env', 'twice', m.type([ValType.i32], [ValType.i32]));
  const g = m.global(ValType.i32, true, (w) => { w.byte(Op.i32_const); w.s32(5); });
  const fn = m.declareFunction(m.type([ValType.i32], [ValType.i32]));
  const body = new ByteWriter();
  encodeLocals(body, []);
  body.byte(Op.local_get); body.u32(0);
  body.byte(Op.call); body.u32(callback);
  body.byte(Op.global_get); body.u32(g);
  body.byte(Op.i32_add);
  body.byte(Op.end);
  m.defineFunction(fn, body.finish());
  m.exportFunction('f', fn);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), { env: { twice: (v: number) => v * 2 } });
  const f = instance.exports['f'] as (v: number) => number;
  assert.equal(f(20), 45);
});

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

test('CFG: blocks, dominators, loop headers and reducibility', () => {
  // 0: if r1 == 0 goto 3; 1: r0 += 1; 2: goto 1 (self loop block); 3: exit
  const loop = [insn(0x15, 1, 0, 2, 0), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -2), insn(0x95)];
  const sub = buildSubprogram(loop, validate(loop), 0, loop.length);
  assert.equal(sub.blocks.length, 3);
  assert.equal(sub.reducible, true);
  assert.equal(sub.loopHeader[1], 1);
  assert.equal(sub.idom[2], 0);
  // Two entries into {1, 2}: irreducible.
  const twoEntries = [insn(0x15, 1, 0, 1, 0), insn(0x07, 0, 0, 0, 1), insn(0x07, 0, 0, 0, 2), insn(0x05, 0, 0, -3)];
  assert.equal(buildSubprogram(twoEntries, validate(twoEntries), 0, twoEntries.length).reducible, false);
});

test('content hash: same program, same hash; one changed field, different words', () => {
  const a = [insn(0xb7, 0, 0, 0, 1), insn(0x95)];
  const b = [insn(0xb7, 0, 0, 0, 2), insn(0x95)];
  assert.equal(contentHash(programWords(a)), contentHash(programWords([...a])));
  assert.notDeepEqual(programWords(a), programWords(b));
  assert.notEqual(contentHash(programWords(a)), contentHash(programWords(b)));
});
