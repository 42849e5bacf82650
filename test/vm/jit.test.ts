import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { HelperStatus, argU32, setReturn, type Helper, type HelperCall, type HelperTable } from '../../src/vm/abi.js';
import { ExecutionError, ExecutionLimitError, type Engine, type ExecutableProgram } from '../../src/vm/engine.js';
import { AddressSpace, MemoryAccessError } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit, jitCacheStats } from '../../src/vm/jit/index.js';
import { compileProgram } from '../../src/vm/jit/compile.js';
import { runDirectory, tally, summaryLine } from '../../src/conformance/index.js';
import { corpus, missingCorpus } from '../support/paths.js';

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = insn(0x95);

interface Outcome { r0: bigint; space: AddressSpace; program: ExecutableProgram }

function run(engine: Engine, program: readonly Instruction[] | string, options: {
  args?: number[]; helpers?: HelperTable; checked?: boolean; budget?: number; mem?: Uint8Array;
} = {}): Outcome {
  const insns = typeof program === 'string' ? assemble(program) : program;
  const space = new AddressSpace();
  let args = options.args;
  if (options.mem) {
    const region = space.allocateWith(options.mem, 'packet', 'mem');
    args = [region.start, options.mem.length];
  }
  const loaded = engine.load(insns, { space, helpers: options.helpers ?? [], checked: options.checked ?? false, name: 't' });
  const result = loaded.run({ args: args ?? [], ...(options.budget === undefined ? {} : { budget: options.budget }) });
  return { r0: result.r0, space, program: loaded };
}

/** Same r0 under the interpreter and the JIT (checked and unchecked); returns it. */
function agree(program: readonly Instruction[] | string, options: Parameters<typeof run>[2] = {}): bigint {
  const expected = run(interpreter, program, options).r0;
  for (const checked of [false, true]) {
    assert.equal(run(jit, program, { ...options, checked }).r0, expected, `checked ${checked}`);
  }
  return expected;
}

test('bpf_conformance: every test passes with the JIT', (t) => {
  const dir = corpus('isa', 'bpf_conformance');
  if (!dir) return t.skip(missingCorpus('isa/bpf_conformance'));
  const outcomes = runDirectory(dir, { engine: jit });
  const failed = outcomes.filter((o) => o.verdict === 'fail').map((o) => `${o.name}: expected ${o.expected}, got ${o.actual}`);
  assert.deepEqual(failed, []);
  t.diagnostic(`bpf_conformance --engine jit: ${summaryLine(tally(outcomes))}`);
  assert.equal(tally(outcomes).passed, 313);
});

test('uBPF tests: the JIT gives the same verdicts as the interpreter', (t) => {
  const dir = corpus('isa', 'ubpf');
  if (!dir) return t.skip(missingCorpus('isa/ubpf'));
  const viaJit = runDirectory(dir, { engine: jit });
  const viaInterp = runDirectory(dir, { engine: interpreter });
  assert.deepEqual(viaJit.map((o) => `${o.name} ${o.verdict}`), viaInterp.map((o) => `${o.name} ${o.verdict}`));
  t.diagnostic(`ubpf --engine jit: ${summaryLine(tally(viaJit))}`);
});

test('loops: a reducible counting loop and nested loops', () => {
  assert.equal(agree(`
    mov %r0, 0
    mov %r1, 0
  outer:
    mov %r2, 0
  inner:
    add %r0, %r2
    add %r2, 1
    jlt %r2, 10, inner
    add %r1, 1
    jlt %r1, 7, outer
    exit`), 7n * 45n);
});

test('loop exits placed after the loop: breaks out of nested loops, exits from the middle of a loop', () => {
  // The inner loop leaves both loops at once (found), or only itself (next); the outer loop leaves
  // from its middle (big) and at its latch.
  const text = `
    mov %r0, 0
    mov %r1, 0
  outer:
    mov %r2, 0
  inner:
    add %r0, %r2
    jeq %r0, %r3, found
    add %r2, 1
    jlt %r2, 10, inner
    jgt %r0, %r4, big
    add %r1, 1
    jlt %r1, 7, outer
    exit
  found:
    add %r0, 1000
    exit
  big:
    add %r0, 2000
    exit`;
  for (const [found, big] of [[-1, 1000], [46, 1000], [-1, 100], [315, 1000]] as const) {
    agree(text, { args: [0, 0, found >>> 0, big] });
  }
});

test('budget: a loop out of budget names its back edge; the fuel spent is counted as before', () => {
  const text = `
    mov %r0, 0
  l:
    add %r0, 1
    jlt %r0, 100, l
    exit`;
  // The JIT charges the loop's two instructions per back edge taken (99 of them); the loop runs two
  // iterations per wasm loop while the budget covers both, so try every budget around the edge.
  const program = run(jit, text).program;
  for (let budget = 180; budget <= 210; budget++) {
    if (budget >= 2 * 99) {
      const result = program.run({ budget });
      assert.deepEqual([result.r0, result.executed], [100n, 2 * 99], `budget ${budget}`);
    } else {
      assert.throws(() => program.run({ budget }), (e: unknown) => e instanceof ExecutionLimitError && e.location.insn === 2, `budget ${budget}`);
    }
  }
});

test('irreducible control flow: a loop with two entries uses the dispatch loop', () => {
  // Enter the loop {a, b} at a (r1 != 0) or at b (r1 == 0).
  const text = `
    mov %r0, 0
    jeq %r1, 0, b
  a:
    add %r0, 1
    jgt %r0, 20, done
  b:
    add %r0, 3
    ja a
  done:
    exit`;
  assert.equal(compileProgram(assemble(text), false).irreducible, true);
  assert.equal(agree(text, { args: [0] }), 24n);
  assert.equal(agree(text, { args: [1] }), 21n);
});

test('switch-like fan-out and shared merge points', () => {
  const text = `
    mov %r0, 100
    jeq %r1, 1, one
    jeq %r1, 2, two
    jeq %r1, 3, three
    ja join
  one:
    add %r0, 1
    ja join
  two:
    add %r0, 2
    jeq %r2, 0, join
    ja three
  three:
    add %r0, 3
  join:
    mul %r0, 2
    exit`;
  for (const [a, b] of [[0, 0], [1, 0], [2, 0], [2, 1], [3, 0]] as const) agree(text, { args: [a, b] });
});

test('budget: an infinite loop stops with ExecutionLimitError (structured and dispatch forms)', () => {
  const loop = [insn(0xb7, 0, 0, 0, 0), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -2), EXIT];
  assert.throws(() => run(jit, loop, { budget: 10_000 }), ExecutionLimitError);
  const irreducible = `
    jeq %r1, 0, b
  a:
    add %r0, 1
  b:
    add %r0, 1
    ja a`;
  assert.throws(() => run(jit, irreducible, { budget: 10_000 }), ExecutionLimitError);
  // Enough budget: the count is reported.
  const counted = run(jit, `
    mov %r0, 0
  l:
    add %r0, 1
    jlt %r0, 100, l
    exit`, { budget: 1000 });
  assert.equal(counted.r0, 100n);
});

test('BPF-to-BPF calls: frames, callee-saved registers, stack per frame, depth limit', () => {
  assert.equal(agree(`
    mov %r6, 7
    stxdw [%r10-8], %r6
    mov %r1, 5
    call local f
    ldxdw %r1, [%r10-8]
    add %r0, %r1
    add %r0, %r6
    exit
  f:
    mov %r6, 1000
    stxdw [%r10-8], %r6
    mov %r0, %r1
    call local g
    add %r0, 1
    exit
  g:
    mul %r1, 3
    mov %r0, %r1
    exit`), 15n + 1n + 7n + 7n);
  // Unbounded recursion: the eighth frame is refused.
  const recursive = [insn(0x85, 0, 1, 0, -1), EXIT];
  assert.throws(() => run(jit, recursive), (e: unknown) => e instanceof ExecutionError && e.code === 'vm/call-depth');
});

test('helpers: arguments and result through the register file, STOP unwinds nested frames', () => {
  const helpers: Helper[] = [];
  helpers[1] = (call: HelperCall) => { setReturn(call, argU32(call, 1) + argU32(call, 2) * 10 + argU32(call, 5) * 100, 0); };
  helpers[2] = (call: HelperCall) => { setReturn(call, 77, 0); return HelperStatus.STOP; };
  assert.equal(agree(`
    mov %r1, 1
    mov %r2, 2
    mov %r5, 5
    call 1
    exit`, { helpers }), 521n);
  assert.equal(agree(`
    call local f
    mov %r0, 1
    exit
  f:
    call 2
    mov %r0, 2
    exit`, { helpers }), 77n);
  assert.throws(() => run(jit, [insn(0x85, 0, 0, 0, 9), EXIT]), (e: unknown) => e instanceof ExecutionError && e.code === 'vm/unknown-helper');
});

test('tail calls: the target replaces the program, at most 33 are taken', () => {
  const space = new AddressSpace();
  let target: unknown;
  const helpers: Helper[] = [];
  helpers[12] = (call: HelperCall) => { call.tailCallTarget = target; return HelperStatus.TAIL_CALL; };
  // r6 counts programs run (kept in memory at r1): each program increments it and tail-calls itself.
  const counter = space.allocate(8, 'ctx', 'counter');
  const self = jit.load(assemble(`
    ldxdw %r2, [%r1]
    add %r2, 1
    stxdw [%r1], %r2
    call 12
    mov %r0, 42
    exit`), { space, helpers });
  target = self;
  const result = self.run({ args: [counter.start] });
  assert.equal(result.r0, 42n);
  assert.equal(space.view.getUint32(counter.start, true), 34); // the first run + 33 tail calls
  self.dispose();
});

test('checked mode: an access outside every region throws MemoryAccessError naming the instruction', () => {
  const text = `
    mov %r0, 0
    mov %r1, 16
    ldxb %r0, [%r1+0]
    exit`;
  assert.throws(() => run(jit, text, { checked: true }), (e: unknown) =>
    e instanceof MemoryAccessError && e.location.insn === 2 && /NULL/.test(e.message));
  // A pointer with upper bits set is caught too.
  assert.throws(() => run(jit, 'lddw %r1, 0x100010000\nldxb %r0, [%r1]\nexit', { checked: true }), MemoryAccessError);
  assert.throws(() => run(jit, `stb [%r10], 0\nexit`, { checked: true }), MemoryAccessError);
  // Writes to a read-only region are refused.
  const space = new AddressSpace();
  const ro = space.allocate(8, 'map', 'rodata', false);
  const program = jit.load(assemble('stw [%r1], 1\nexit'), { space, checked: true });
  assert.throws(() => program.run({ args: [ro.start] }), MemoryAccessError);
});

test('LD_ABS / LD_IND read big-endian from the packet; out of bounds returns 0', () => {
  const packet = new Uint8Array([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
  const abs = (width: number, offset: number): Instruction[] =>
    [insn(0xbf, 6, 1), insn(width === 4 ? 0x20 : width === 2 ? 0x28 : 0x30, 0, 0, 0, offset), EXIT];
  assert.equal(agree(abs(4, 0), { mem: packet }), 0x12345678n);
  assert.equal(agree(abs(2, 4), { mem: packet }), 0x9abcn);
  assert.equal(agree(abs(1, 5), { mem: packet }), 0xbcn);
  assert.equal(agree([insn(0xb7, 0, 0, 0, 9), ...abs(4, 4)], { mem: packet }), 0n);
  const ind = [insn(0xbf, 6, 1), insn(0xb7, 7, 0, 0, 2), insn(0x48, 0, 7, 0, 1), EXIT];
  assert.equal(agree(ind, { mem: packet }), 0x789an);
});

test('may_goto: falls through while the allowance lasts, then jumps', () => {
  // loop: may_goto +2; r0 += 1; ja loop; exit  -> r0 = 8M (BPF_MAX_LOOPS)
  const program = [insn(0xb7, 0, 0, 0, 0), insn(0xe5, 0, 0, 2), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -3), EXIT];
  assert.equal(agree(program), 8n * 1024n * 1024n);
});

test('gotol, movsx, sdiv/smod edge cases, bswap', () => {
  agree([insn(0xb7, 0, 0, 0, 1), insn(0x06, 0, 0, 0, 1), insn(0xb7, 0, 0, 0, 2), EXIT]);
  agree(`
    lddw %r1, 0x8000000000000000
    mov %r2, -1
    mov %r0, %r1
    sdiv %r0, %r2
    mov %r3, %r1
    smod %r3, %r2
    add %r0, %r3
    exit`);
  agree([insn(0xb7, 1, 0, 0, -200), insn(0xbf, 0, 1, 8), EXIT]);
  agree([...assemble('lddw %r0, 0x0102030405060708'), insn(0xd7, 0, 0, 0, 64), EXIT]);
});

test('cache: loading the same bytecode again reuses the compiled module', () => {
  const text = 'mov %r0, 12345\nadd %r0, 1\nexit';
  const before = jitCacheStats();
  run(jit, text);
  run(jit, text);
  run(jit, text, { checked: true });
  const after = jitCacheStats();
  assert.ok(after.hits >= before.hits + 1);
  assert.ok(after.misses <= before.misses + 2);
});

test('long chains of branches compile (the structurer does not recurse)', () => {
  // 3,000 diamonds in a row: if (r1 & bit) r0 += k.
  const insns: Instruction[] = [insn(0xb7, 0, 0, 0, 0)];
  for (let k = 0; k < 3000; k++) {
    insns.push(insn(0x45, 1, 0, 1, 1 << (k % 31)));
    insns.push(insn(0x07, 0, 0, 0, k));
  }
  insns.push(EXIT);
  agree(insns, { args: [0x55555555] });
});

test('checked mode: a region released by a helper is no longer accessible through a cached site', () => {
  const space = new AddressSpace();
  const value = space.allocate(8, 'map', 'map value');
  const helpers: Helper[] = [];
  helpers[3] = () => { space.release(value); };
  // The same load runs twice: the first caches the region, the helper then releases it.
  const program = jit.load(assemble(`
    mov %r6, %r1
    mov %r7, 0
  again:
    ldxdw %r0, [%r6]
    call 3
    add %r7, 1
    jlt %r7, 2, again
    exit`), { space, helpers, checked: true });
  assert.throws(() => program.run({ args: [value.start] }), MemoryAccessError);
});

test('faults: running off the end, kfunc calls, callx through a helper id', () => {
  const isCode = (code: string) => (e: unknown): boolean => e instanceof ExecutionError && e.code === code;
  assert.throws(() => run(jit, [insn(0xb7, 0, 0, 0, 1)]), isCode('vm/fell-off'));
  assert.throws(() => run(interpreter, [insn(0xb7, 0, 0, 0, 1)]), isCode('vm/fell-off'));
  assert.throws(() => run(jit, [insn(0x85, 0, 2, 0, 7), EXIT]), isCode('vm/kfunc'));
  const helpers: Helper[] = [];
  helpers[4] = (call: HelperCall) => { setReturn(call, argU32(call, 1) * 2, 0); };
  // callx r2 with r2 = 4: helper 4 (the uBPF convention both engines follow).
  assert.equal(agree([insn(0xb7, 1, 0, 0, 21), insn(0xb7, 2, 0, 0, 4), insn(0x8d, 2), EXIT], { helpers }), 42n);
});

test('budget: an unrolled loop left early by its header counts exactly the back edges taken', () => {
  // Five slots per iteration (the back edge's charge); r1 = iterations before the header leaves. The
  // JIT runs several iterations per wasm loop and charges them at once, giving back the ones not run.
  const text = `
    mov %r0, 0
    mov %r4, 0
    mov %r5, 0
  l:
    jge %r5, %r1, out
    add %r0, %r5
    add %r5, 1
    add %r4, 1
    jne %r4, 1000, l
  out:
    exit`;
  const program = run(jit, text).program;
  for (let n = 0; n <= 40; n++) {
    const result = program.run({ args: [n] });
    assert.deepEqual([result.r0, result.executed], [BigInt((n * (n - 1)) / 2), 5 * n], `${n} iterations`);
    assert.equal(program.run({ args: [n], budget: 5 * n }).executed, 5 * n, `${n} iterations, budget ${5 * n}`);
    if (n > 0) assert.throws(() => program.run({ args: [n], budget: 5 * n - 1 }), ExecutionLimitError, `${n} iterations, budget ${5 * n - 1}`);
  }
});
