import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HelperStatus, argNumber, setReturnNumber, type Helper, type HelperCall } from '../../src/vm/abi.js';
import { MAX_TAIL_CALLS } from '../../src/vm/engine.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { EXIT, insn, r0Of, runProgram } from './support.js';

/** Calls (helpers, BPF-to-BPF, callx, tail calls, callbacks), the budget and may_goto. */

const mov = (dst: number, imm: number) => insn(0xb7, dst, 0, 0, imm);
const callLocal = (rel: number) => insn(0x85, 0, 1, 0, rel);
const callHelper = (id: number) => insn(0x85, 0, 0, 0, id);

test('BPF-to-BPF call: arguments in r1-r5, r6-r9 preserved, r10 one frame lower', () => {
  const program = [
    mov(1, 1), mov(2, 2), mov(3, 3), mov(4, 4), mov(5, 5),
    mov(6, 6), mov(7, 7), mov(8, 8), mov(9, 9),
    insn(0xbf, 0, 10), insn(0x7b, 10, 0, -8),   // *(fp-8) = fp
    callLocal(6),
    insn(0x0f, 0, 6), insn(0x0f, 0, 7), insn(0x0f, 0, 8), insn(0x0f, 0, 9),  // r0 += r6+r7+r8+r9 (30)
    EXIT,
    // stack check on the way: the callee's fp is 512 below the caller's
    insn(0x05, 0, 0, 0), insn(0x05, 0, 0, 0),
    // callee at 19: r0 = r1+..+r5 (15); clobber r6-r9; r0 += (caller fp - own fp) / 512 (1)
    insn(0xbf, 0, 1), insn(0x0f, 0, 2), insn(0x0f, 0, 3), insn(0x0f, 0, 4), insn(0x0f, 0, 5),
    mov(6, 0), mov(7, 0), mov(8, 0), mov(9, 0),
    insn(0x79, 6, 10, 512 - 8), insn(0x1f, 6, 10), insn(0x77, 6, 0, 0, 9), insn(0x0f, 0, 6),
    EXIT,
  ];
  program[11] = callLocal(19 - 12);
  assert.equal(r0Of(program), 15n + 30n + 1n);
});

test('call depth: 8 frames allowed, the 9th raises ExecutionError', () => {
  // f(n): if n == 0 return 0; return f(n - 1) + 1
  const recurse = (depth: number) => [
    mov(1, depth), callLocal(1), EXIT,
    insn(0x55, 1, 0, 2, 0), mov(0, 0), EXIT,
    insn(0x17, 1, 0, 0, 1), callLocal(-5), insn(0x07, 0, 0, 0, 1), EXIT,
  ];
  // main + f(n) ... f(0): n + 2 frames.
  assert.equal(r0Of(recurse(5)), 5n);
  assert.equal(r0Of(recurse(6)), 6n);
  assert.throws(() => r0Of(recurse(7)), { name: 'ExecutionError', code: 'vm/call-depth' });
});

test('helpers: r1-r5 through the register file, r0 back; STOP ends the program; unknown id errors', () => {
  const seen: number[][] = [];
  const record: Helper = (call) => {
    seen.push([1, 2, 3, 4, 5].map((n) => argNumber(call, n)));
    setReturnNumber(call, -2);
  };
  const stop: Helper = (call) => { setReturnNumber(call, 77); return HelperStatus.STOP; };
  const helpers = [undefined, record, stop];
  assert.equal(r0Of([mov(1, 10), mov(2, -20), mov(3, 30), mov(4, 40), mov(5, 50), callHelper(1), EXIT], { helpers }), 0xfffffffffffffffen);
  assert.deepEqual(seen, [[10, -20, 30, 40, 50]]);
  assert.equal(r0Of([callHelper(2), mov(0, 1), EXIT], { helpers }), 77n);
  assert.throws(() => r0Of([callHelper(9), EXIT], { helpers }), (err: Error & { code?: string; location?: { insn?: number } }) =>
    err.name === 'ExecutionError' && err.code === 'vm/unknown-helper' && err.location?.insn === 0);
});

test('callx: the register holds a helper id', () => {
  const helpers: Helper[] = [(call) => setReturnNumber(call, argNumber(call, 1) * 2)];
  assert.equal(r0Of([mov(1, 21), mov(3, 0), insn(0x8d, 3), EXIT], { helpers }), 42n);
});

test('tail calls replace the program, keep r1, stop after 33 and then fall through', () => {
  const space = new AddressSpace();
  let count = 0;
  const target: { program?: unknown } = {};
  const tailCall: Helper = (call: HelperCall) => {
    count++;
    call.tailCallTarget = target.program;
    setReturnNumber(call, -1);
    return HelperStatus.TAIL_CALL;
  };
  // The program tail-calls itself; when that fails (limit reached) it returns r1 + 1000.
  const program = interpreter.load([insn(0xbf, 6, 1), callHelper(0), insn(0xbf, 0, 6), insn(0x07, 0, 0, 0, 1000), EXIT], { space, helpers: [tailCall] });
  target.program = program;
  const result = program.run({ args: [5] });
  assert.equal(result.r0, 1005n);
  assert.equal(count, MAX_TAIL_CALLS + 1);
});

test('callbacks: invoke() runs a subprogram one frame deeper and restores the caller', () => {
  // bpf_loop-like helper 0: calls the function at r1 (an instruction index) r2 times with (i, r3).
  const loop: Helper = (call) => {
    const fn = argNumber(call, 1);
    const n = argNumber(call, 2);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += call.invoke!(fn, [i, argNumber(call, 3)]);
    setReturnNumber(call, sum);
  };
  const program = [
    mov(6, 100), mov(1, 6), mov(2, 4), mov(3, 10), callHelper(0), insn(0x0f, 0, 6), EXIT,
    // callback at 7: return i * r2 (r2 = 10), clobbering r6
    insn(0xbf, 0, 1), insn(0x2f, 0, 2), mov(6, 0), EXIT,
  ];
  program[1] = mov(1, 7);
  const { result } = runProgram(program, { helpers: [loop] });
  assert.equal(result.r0, (0n + 10n + 20n + 30n) + 100n);
  assert.equal(result.executed, 7 + 4 * 4);
});

test('budget: ExecutionLimitError at the limit, exact count otherwise', () => {
  const loop = [insn(0x05, 0, 0, -1), EXIT];
  assert.throws(() => r0Of(loop, { budget: 1000 }), (err: Error & { code?: string }) => err.name === 'ExecutionLimitError' && err.code === 'vm/budget');
  assert.equal(runProgram([mov(0, 1), EXIT], { budget: 2 }).result.executed, 2);
  assert.throws(() => runProgram([mov(0, 1), EXIT], { budget: 1 }), { name: 'ExecutionLimitError' });
});

test('may_goto: falls through 8M times, then takes the jump', () => {
  // r0 counts iterations of `may_goto +1; ja -3`-style loop: body r0 += 1.
  const program = [mov(0, 0), insn(0xe5, 0, 0, 2), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -3), EXIT];
  assert.equal(r0Of(program), BigInt(8 * 1024 * 1024));
});

test('running off the end is an error, not a crash', () => {
  assert.throws(() => r0Of([mov(0, 1)]), { name: 'ExecutionError', code: 'vm/fell-off' });
});

test('the registers reset between runs; r10 is the stack top', () => {
  const space = new AddressSpace();
  const p = interpreter.load([insn(0x07, 6, 0, 0, 1), insn(0xbf, 0, 6), EXIT], { space });
  assert.equal(p.run().r0, 1n);
  assert.equal(p.run().r0, 1n);
  const stack = space.listRegions().find((r) => r.kind === 'stack')!;
  const fp = interpreter.load([insn(0xbf, 0, 10), EXIT], { space });
  const fpStack = space.listRegions().filter((r) => r.kind === 'stack').find((r) => r !== stack)!;
  assert.equal(Number(fp.run().r0), fpStack.start + fpStack.size);
  p.dispose();
  fp.dispose();
  assert.throws(() => p.run(), { code: 'vm/disposed' });
});

test('a helper may run the same program again (own registers and stack)', () => {
  const space = new AddressSpace();
  const holder: { run?: (n: number) => bigint } = {};
  // helper 0: r0 = program(r1 - 1) + 1
  const again: Helper = (call) => setReturnNumber(call, Number(holder.run!(argNumber(call, 1) - 1)) + 1);
  // if r1 == 0 return 0; *(fp-8) = r1; r0 = helper0(r1); return r0 + *(fp-8) - r1 (the stack survived: + 0)
  const program = interpreter.load([
    insn(0x55, 1, 0, 2, 0), mov(0, 0), EXIT,
    insn(0x7b, 10, 1, -8), insn(0xbf, 6, 1), callHelper(0), insn(0x79, 2, 10, -8), insn(0x0f, 0, 2), insn(0x1f, 0, 6), EXIT,
  ], { space, helpers: [again] });
  holder.run = (n) => program.run({ args: [n] }).r0;
  assert.equal(holder.run(5), 5n);
  assert.equal(space.listRegions().filter((r) => r.kind === 'stack').length, 1);
});
