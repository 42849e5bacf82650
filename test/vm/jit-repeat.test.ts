import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { HelperStatus, type Helper, type HelperCall } from '../../src/vm/abi.js';
import type { Engine, ExecutableProgram, RunOptions } from '../../src/vm/engine.js';
import { AddressSpace, type Region } from '../../src/vm/memory.js';
import { TsbpfError } from '../../src/errors.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';
import { HelperId } from '../../src/uapi/helper-ids.js';
import { onEachEngine } from '../support/engines.js';

/**
 * A repeated run (`runRepeated`, the JIT's repeat loop inside WebAssembly) is the same as that many
 * single runs, on both engines: same result (r0, instructions executed) of the last run, same memory
 * and helper side effects, the same error at the same run when one fails.
 */

const RUNS = 5;

interface Setup {
  program: ExecutableProgram;
  options: RunOptions;
  beforeRun?: () => void;
  /** What the runs left behind (memory, helper records). */
  observe(): unknown;
}

type Outcome = { r0: bigint; executed: number } | { error: { name: string; code: string; message: string } };

function outcomeOf(run: () => { r0: bigint; executed: number }): Outcome {
  try {
    const { r0, executed } = run();
    return { r0, executed };
  } catch (e) {
    if (!(e instanceof TsbpfError)) throw e;
    return { error: { name: e.name, code: e.code, message: e.message } };
  }
}

/** `runs` single runs (stopping at the first error, as a repeated run does). */
function singleRuns(setup: Setup, runs: number): Outcome {
  let outcome: Outcome | undefined;
  for (let k = 0; k < runs; k++) {
    setup.beforeRun?.();
    outcome = outcomeOf(() => setup.program.run(setup.options));
    if ('error' in outcome) break;
  }
  return outcome!;
}

/** On each engine: a fresh setup run repeated and a fresh one run singly agree; returns the outcomes. */
function assertRepeatIsRuns(build: (engine: Engine) => Setup, runs = RUNS): Outcome[] {
  return onEachEngine((engine) => {
    const repeated = build(engine);
    const single = build(engine);
    const got = outcomeOf(() => repeated.program.runRepeated(repeated.options, runs, repeated.beforeRun));
    const want = singleRuns(single, runs);
    assert.deepEqual(got, want);
    assert.deepEqual(repeated.observe(), single.observe());
    repeated.program.dispose();
    single.program.dispose();
    return got;
  });
}

const u64s = (space: AddressSpace, region: Region, count: number): bigint[] =>
  Array.from({ length: count }, (_, k) => space.view.getBigUint64(region.start + 8 * k, true));

test('repeat: arguments back in r1..r5 every run though the body overwrites them (unset ones 0)', () => {
  // Adds r2 + r3 + r4 + r5 (and r3..r5 are unset: 0) into the u64 at r1, then overwrites every argument.
  const source = `
    r6 = r1
    r0 = *(u64 *)(r1 + 0)
    r0 += r2
    r0 += r3
    r0 += r4
    r0 += r5
    *(u64 *)(r6 + 0) = r0
    r1 = 77
    r2 = 88
    r3 = 99
    r4 = -1
    r5 = 5
    r0 += r1
    exit`;
  for (const args of [[1, 7], [1, -3, 2n ** 40n, 5, 0xffffffff]]) {
    const outcomes = assertRepeatIsRuns((engine) => {
      const space = new AddressSpace();
      const sum = space.allocate(8, 'ctx', 'sum');
      return {
        program: engine.load(assemble(source), { space, helpers: [] }),
        options: { args: [sum.start, ...args.slice(1)] },
        observe: () => u64s(space, sum, 1),
      };
    });
    const perRun = args.slice(1).reduce<bigint>((total, a) => total + BigInt(a), 0n);
    assert.equal((outcomes[0] as { r0: bigint }).r0, BigInt.asUintN(64, perRun * BigInt(RUNS) + 77n));
  }
});

test('repeat: helpers that clobber the register file, stop the program, and see beforeRun', () => {
  // Each run: helper 1 twice (it scribbles over r1..r5 in the register file), helper 2 may stop it.
  const source = `
    r6 = r1
    r7 = r2
    call 1
    *(u64 *)(r6 + 0) = r0
    r1 = r6
    r2 = r7
    call 1
    *(u64 *)(r6 + 8) = r0
    r1 = r7
    call 2
    r1 = *(u64 *)(r6 + 16)
    r1 += r7
    *(u64 *)(r6 + 16) = r1
    r0 = 9
    exit`;
  assertRepeatIsRuns((engine) => {
    const space = new AddressSpace();
    const out = space.allocate(24, 'ctx', 'out');
    const record: string[] = [];
    let callsThisRun = 0;
    let total = 0;
    const helpers: Helper[] = [];
    helpers[1] = (call: HelperCall) => {
      const view = call.space.view;
      const r1 = view.getUint32(call.regfile + 8, true);
      const r2 = view.getUint32(call.regfile + 16, true);
      record.push(`h1 r1=${r1 === out.start ? 'out' : r1} r2=${r2} run-calls=${++callsThisRun}`);
      for (let r = 1; r <= 5; r++) view.setUint32(call.regfile + 8 * r, 0xdead0000 + r, true);
      view.setUint32(call.regfile, ++total * 100 + callsThisRun, true);
      view.setUint32(call.regfile + 4, 0, true);
    };
    helpers[2] = () => (total % 4 === 0 ? HelperStatus.STOP : HelperStatus.CONTINUE);
    return {
      program: engine.load(assemble(source), { space, helpers }),
      options: { args: [out.start, 3] },
      beforeRun: () => { callsThisRun = 0; },
      observe: () => ({ memory: u64s(space, out, 3), record }),
    };
  });
});

test('repeat: a helper running the same program nested does not disturb the outer runs', () => {
  // Outer runs (r2 = 1) call helper 1, which runs the program repeated (r2 = 0: no helper calls),
  // then helper 2; helper 2 and beforeRun leave a record (one beforeRun per run, before its helpers).
  const source = `
    r6 = r1
    r7 = r2
    r0 = *(u64 *)(r1 + 0)
    r0 += 1
    *(u64 *)(r6 + 0) = r0
    if r7 == 0 goto out
    call 1
    call 2
    r1 = *(u64 *)(r6 + 0)
    r0 += r1
  out:
    exit`;
  assertRepeatIsRuns((engine) => {
    const space = new AddressSpace();
    const outer = space.allocate(8, 'ctx', 'outer');
    const inner = space.allocate(8, 'ctx', 'inner');
    const record: string[] = [];
    let program: ExecutableProgram | undefined;
    const helpers: Helper[] = [];
    helpers[1] = (call: HelperCall) => {
      const nested = program!.runRepeated({ args: [inner.start, 0] }, 3);
      call.space.view.setUint32(call.regfile, nested.r0lo, true);
      call.space.view.setUint32(call.regfile + 4, 0, true);
    };
    helpers[2] = () => { record.push('helper 2'); };
    program = engine.load(assemble(source), { space, helpers });
    return {
      program,
      options: { args: [outer.start, 1] },
      beforeRun: () => { record.push('before run'); },
      observe: () => ({ memory: [...u64s(space, outer, 1), ...u64s(space, inner, 1)], record }),
    };
  });
});

test('repeat: LD_ABS reads a window resolved afresh every run (r6 moves from run to run)', () => {
  // r6 = ctx + (run count & 3): the window starts at r6; the last word read leaves it on two runs in four.
  const source = `
    r8 = r1
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    r2 &= 3
    r6 = r1
    r6 += r2
    r0 = *(u8 *)skb[17]
    r7 = r0
    r0 = *(u16 *)skb[18]
    r7 += r0
    r3 = *(u64 *)(r8 + 8)
    r3 += r7
    *(u64 *)(r8 + 8) = r3
    r0 = *(u32 *)skb[27]
    r0 += r7
    exit`;
  const outcomes = assertRepeatIsRuns((engine) => {
    const space = new AddressSpace();
    const bytes = new Uint8Array(32).map((_, i) => i * 13 + 1);
    bytes.fill(0, 0, 16);
    const ctx = space.allocateWith(bytes, 'ctx', 'skb');
    return {
      program: engine.load(assemble(source), { space, helpers: [] }),
      options: { args: [ctx.start] },
      observe: () => u64s(space, ctx, 2),
    };
  }, 6);
  // Run 6: r6 = ctx + 2, the word at 27 ends past the window: the program ends with r0 = 0.
  assert.deepEqual(outcomes.map((o) => (o as { r0: bigint }).r0), [0n, 0n]);
});

test('repeat: a fault in checked mode surfaces as in the single run that hits it', () => {
  // The run that counts 3 reads address 8 (checked mode: MemoryAccessError); the one that
  // counts 13 calls an unknown helper. Either is the third run.
  const source = `
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    if r2 != 3 goto next
    r3 = 8
    r0 = *(u64 *)(r3 + 0)
  next:
    if r2 != 13 goto done
    call 99
  done:
    r0 = r2
    exit`;
  for (const start of [0, 10]) {
    const outcomes = assertRepeatIsRuns((engine) => {
      const space = new AddressSpace();
      const ctx = space.allocate(16, 'ctx', 'ctx');
      space.view.setBigUint64(ctx.start, BigInt(start), true);
      return {
        program: engine.load(assemble(source), { space, helpers: [], checked: true, name: 'faulty' }),
        options: { args: [ctx.start] },
        observe: () => u64s(space, ctx, 1),
      };
    });
    const codes = outcomes.map((o) => ('error' in o ? o.error.code : 'none'));
    assert.deepEqual(codes, start === 0 ? ['vm/bad-access', 'vm/bad-access'] : ['vm/unknown-helper', 'vm/unknown-helper']);
  }
});

test('repeat: a region freed by a stopping helper is not trusted by the next run (checked mode)', () => {
  // Each run stores through the address the previous run kept in its context (helper 1's buffer),
  // before any helper call; on the second run helper 2 frees the buffer and stops the program: the
  // third run's store through the stale address must fault, as in single runs. With more than a few
  // thousand access sites the JIT clears its site caches at every run instead of after helpers.
  for (const padding of [0, 4200]) {
    const source = `
    r6 = r1
    *(u64 *)(r10 - 8) = r6${'\n    *(u64 *)(r10 - 8) = r6'.repeat(padding)}
    r2 = *(u64 *)(r6 + 0)
    if r2 == 0 goto fetch
    r1 = 1
    *(u64 *)(r2 + 0) = r1
  fetch:
    call 1
    *(u64 *)(r6 + 0) = r0
    call 2
    r0 = 1
    exit`;
    const outcomes = assertRepeatIsRuns((engine) => {
      const space = new AddressSpace();
      const ctx = space.allocate(8, 'ctx', 'ctx');
      const buffer = space.allocate(64, 'scratch', 'buffer');
      let runs = 0;
      const helpers: Helper[] = [];
      helpers[1] = (call: HelperCall) => {
        call.space.view.setUint32(call.regfile, buffer.start, true);
        call.space.view.setUint32(call.regfile + 4, 0, true);
      };
      helpers[2] = (call: HelperCall) => {
        if (++runs !== 2) return HelperStatus.CONTINUE;
        call.space.release(buffer);
        return HelperStatus.STOP;
      };
      return {
        program: engine.load(assemble(source), { space, helpers, checked: true }), options: { args: [ctx.start] }, observe: () => runs,
      };
    });
    assert.deepEqual(outcomes.map((o) => ('error' in o ? o.error.code : 'none')), ['vm/bad-access', 'vm/bad-access']);
  }
});

test('repeat: the budget is per run; the run that exhausts it ends the repeat', () => {
  // Run k loops 8k times: with a budget of 120 an early run fits and a later one does not.
  const source = `
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    r3 = r2
    r3 <<= 3
  loop:
    r3 -= 1
    if r3 != 0 goto loop
    r0 = r2
    exit`;
  for (const checked of [false, true]) {
    const counts: bigint[] = [];
    const outcomes = assertRepeatIsRuns((engine) => {
      const space = new AddressSpace();
      const ctx = space.allocate(8, 'ctx', 'ctx');
      return {
        program: engine.load(assemble(source), { space, helpers: [], checked }),
        options: { args: [ctx.start], budget: 120 },
        observe: () => { const [count] = u64s(space, ctx, 1); counts.push(count!); return count; },
      };
    }, 12);
    assert.ok(outcomes.every((o) => 'error' in o && o.error.code === 'vm/budget'));
    assert.ok(counts.every((count) => count > 1n && count < 12n), `some runs fit the budget: ${counts.join(', ')}`);
  }
});

test('repeat: tail calls through a prog_array, taken on some runs only (testRun repeat = single test runs)', () => {
  // dispatch: counts its runs in hits[0]; on every third it tail-calls chain, which counts in hits[1]
  // and tail-calls itself until the limit (33 tail calls per run).
  const lookup = (slot: number): string => `
    r1 = ${slot}
    *(u32 *)(r10 - 4) = r1
    r1 = map_idx[1] ll
    r2 = r10
    r2 += -4
    call ${HelperId.map_lookup_elem}`;
  const dispatch = `
    r6 = r1
    ${lookup(0)}
    if r0 == 0 goto out
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
    r1 %= 3
    if r1 != 0 goto out
    r1 = r6
    r2 = map_idx[0] ll
    r3 = 0
    call ${HelperId.tail_call}
  out:
    r0 = 1
    exit`;
  const chain = `
    r6 = r1
    ${lookup(1)}
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r1 = r6
    r2 = map_idx[0] ll
    r3 = 0
    call ${HelperId.tail_call}
  out:
    r0 = 2
    exit`;
  const runs = 7;
  const data = new Uint8Array(64);
  const results = onEachEngine((engine) => {
    const outcome = (repeated: boolean): { retval: number; executed: number; hits: bigint[] } => {
      using runtime = new Runtime({ engine, cpus: 1 });
      const jumps = runtime.createMap({ name: 'jumps', type: MapType.prog_array, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 });
      const hits = runtime.createMap({ name: 'hits', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      const load = (source: string, name: string) => runtime.loadProgram(assemble(source), { type: 'xdp', name, fdArray: [jumps, hits] });
      const entry = load(dispatch, 'dispatch');
      runtime.setTailCall(jumps, 0, load(chain, 'chain'));
      let last = entry.testRun({ data, repeat: repeated ? runs : 1 });
      if (!repeated) for (let k = 1; k < runs; k++) last = entry.testRun({ data });
      const count = (slot: number): bigint => new DataView(hits.lookup(new Uint8Array([slot, 0, 0, 0]))!.buffer).getBigUint64(0, true);
      return { retval: last.retval, executed: last.executed, hits: [count(0), count(1)] };
    };
    const repeated = outcome(true);
    assert.deepEqual(repeated, outcome(false));
    return repeated;
  });
  for (const r of results) assert.deepEqual(r.hits, [7n, 2n * 33n], 'runs 3 and 6 make 1 + 32 tail calls into chain each');
  assert.deepEqual(results.map((r) => r.retval), [1, 1]);
});
