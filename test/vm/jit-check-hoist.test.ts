import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { validate } from '../../src/isa/index.js';
import { ExecutionLimitError, type Engine } from '../../src/vm/engine.js';
import { AddressSpace, MemoryAccessError } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import { buildSubprogram, subprogramStarts } from '../../src/vm/jit/cfg.js';
import { planLoops, type LoopGuard, type RangeGuard } from '../../src/vm/jit/check-hoist.js';

/**
 * Checked-mode loop versioning (check-hoist.ts): which loops get a per-iteration range test instead of
 * per-access checks, and that a versioned loop faults where the interpreter does, with its message,
 * whether the range test fails on entry, midway, or never (warm site caches from earlier runs).
 */

function plans(text: string): { covered: number[]; ranges: readonly RangeGuard[]; guard: LoopGuard }[] {
  const insns = assemble(text);
  const ops = validate(insns);
  const starts = subprogramStarts(insns, ops);
  const sub = buildSubprogram(insns, ops, 0, starts[1] ?? insns.length);
  return planLoops(sub, insns, ops, { frameIsFixed: true })
    .map((plan) => ({ covered: [...plan.guard.covered].sort((a, b) => a - b), ranges: plan.guard.ranges, guard: plan.guard }));
}

type Outcome = { r0: bigint } | { insn: number | undefined; message: string };

/**
 * Load once, run once per argument list (site caches stay warm from run to run). The regions come
 * first, so they have the same addresses on both engines.
 */
function outcomes(engine: Engine, text: string, regions: (space: AddressSpace) => number[][]): Outcome[] {
  const space = new AddressSpace();
  const runs = regions(space);
  const program = engine.load(assemble(text), { space, checked: true, name: 'hoist' });
  try {
    return runs.map((args) => {
      try {
        return { r0: program.run({ args }).r0 };
      } catch (error) {
        if (!(error instanceof MemoryAccessError)) throw error;
        return { insn: error.location.insn, message: error.message };
      }
    });
  } finally {
    program.dispose();
  }
}

function sameOnBoth(text: string, regions: (space: AddressSpace) => number[][]): Outcome[] {
  const expected = outcomes(interpreter, text, regions);
  assert.deepEqual(outcomes(jit, text, regions), expected, text);
  return expected;
}

interface RegionSpec { bytes: Uint8Array; name?: string; writable?: boolean }

/**
 * Regions with unallocated holes around each (regions are otherwise packed, and the engines' own
 * regions, allocated next, differ): a walk off either end faults on both engines.
 */
function isolated(space: AddressSpace, ...specs: RegionSpec[]): number[] {
  const holes = [space.allocate(40, 'scratch', 'hole')];
  const starts = specs.map(({ bytes, name = 'mem', writable = true }) => {
    const region = space.allocateWith(bytes, 'packet', name, writable);
    holes.push(space.allocate(40, 'scratch', 'hole'));
    return region.start;
  });
  space.allocate(8, 'scratch', 'pin');
  for (const hole of holes) space.release(hole);
  return starts;
}

const counting = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i % 255) + 1);

/** One region of `size` bytes (filled with 1..255), its address in r1 and size in r2, `runs` times. */
const oneRegion = (size: number, runs = 3) => (space: AddressSpace): number[][] => {
  const start = isolated(space, { bytes: counting(size) })[0]!;
  return Array.from({ length: runs }, () => [start, size]);
};

const COPY = `
    r2 = 0
  loop:
    r3 = r1
    r3 += r2
    r4 = *(u8 *)(r3 + 0)
    r3 += 64
    *(u8 *)(r3 + 0) = r4
    r2 += 1
    if r2 == 64 goto out
    goto loop
  out:
    r0 = r2
    exit`;

test('a copy loop (base + index): one range over both accesses, the index as its strided register', () => {
  const [plan, ...rest] = plans(COPY);
  assert.equal(rest.length, 0);
  assert.deepEqual(plan!.covered, [3, 5]);
  assert.deepEqual(plan!.ranges.map(({ varying, invariant, low, high, stride }) => ({ varying, invariant, low, high, stride })),
    [{ varying: [2], invariant: [1], low: 0, high: 65, stride: 1 }]);
  // 128 bytes: fits; 100 bytes: the store runs past the end on a later iteration.
  assert.deepEqual(sameOnBoth(COPY, oneRegion(128)), Array(3).fill({ r0: 64n }));
  const short = sameOnBoth(COPY, oneRegion(100));
  assert.equal((short[0] as { insn: number }).insn, 5);
});

const STRLEN = (step: number): string => `
    r0 = 0
  loop:
    r3 = *(u8 *)(r1 + 0)
    if r3 == 0 goto out
    r4 = *(u8 *)(r1 ${step > 0 ? '+' : '-'} 2)
    r0 += r4
    r1 += ${step}
    goto loop
  out:
    exit`;

test('loops that exit early on data, walking up or down, fault past either end of the region', () => {
  for (const step of [1, 3, -1, -4]) {
    const [plan] = plans(STRLEN(step));
    assert.equal(plan!.ranges[0]!.stride, step);
    // The bytes are never 0: the walk runs off the region's end (or start, from its last byte).
    const regions = (space: AddressSpace): number[][] => {
      const start = isolated(space, { bytes: counting(200) })[0]!;
      const from = step > 0 ? start : start + 199;
      return [[from], [from], [from + (step > 0 ? 150 : -150)]];
    };
    const outcome = sameOnBoth(STRLEN(step), regions);
    assert.ok(outcome.every((o) => 'insn' in o), `step ${step} faults`);
  }
  // A zero byte ends the walk inside the region: no fault, same sum.
  const text = STRLEN(1);
  const withZero = (space: AddressSpace): number[][] => {
    const bytes = new Uint8Array(64).fill(7);
    bytes[40] = 0;
    const start = isolated(space, { bytes })[0]!;
    return [[start], [start], [start + 30]];
  };
  assert.ok(sameOnBoth(text, withZero).every((o) => 'r0' in o));
});

test('unrolled checked loops (one range test per trip): the end of a region between or inside a trip', () => {
  // 64 iterations of a copy through r1 + r2: regions that fit exactly, end one byte short (the last
  // iteration faults), or end inside the first trip; walking down as well.
  assert.equal(plans(COPY)[0]!.guard.wholeTrip, true);
  for (const size of [128, 127, 126, 65, 64]) {
    const outcome = sameOnBoth(COPY, oneRegion(size));
    assert.equal('r0' in outcome[0]!, size === 128, `size ${size}`);
  }
  const down = `
    r0 = 0
    r2 = 0
  loop:
    r4 = *(u16 *)(r1 - 2)
    r0 += r4
    r1 += -3
    r2 += 1
    if r2 != r3 goto loop
    exit`;
  assert.equal(plans(down)[0]!.guard.wholeTrip, true);
  for (const count of [1, 2, 3, 20, 21, 22]) {
    // From the region's end: 3 * count - 1 bytes below it are read; the region has 61 or 62.
    sameOnBoth(down, (space) => {
      const [small, large] = isolated(space, { bytes: counting(61) }, { bytes: counting(62) }) as [number, number];
      return [[small + 61, 0, count], [small + 61, 0, count], [large + 62, 0, count]];
    });
  }
  // Two ranges over different registers (both strided), and a loop with a sum of two varying
  // registers (no single bound: tested each iteration).
  const two = `
    r0 = 0
  loop:
    r4 = *(u8 *)(r1 + 0)
    *(u8 *)(r2 + 0) = r4
    r1 += 1
    r2 += 2
    r3 += -1
    if r3 != 0 goto loop
    exit`;
  assert.equal(plans(two)[0]!.guard.wholeTrip, true);
  sameOnBoth(two, (space) => {
    const [source, target] = isolated(space, { bytes: counting(40) }, { bytes: new Uint8Array(60) }) as [number, number];
    return [[source, target, 30], [source, target, 30], [source, target, 31], [source + 20, target, 21]];
  });
  const sum = `
    r0 = 0
  loop:
    r5 = r1
    r5 += r2
    r4 = *(u8 *)(r5 + 0)
    r0 += r4
    r1 += 1
    r2 += 1
    r3 += -1
    if r3 != 0 goto loop
    exit`;
  assert.equal(plans(sum)[0]!.guard.wholeTrip, false);
  sameOnBoth(sum, (space) => {
    const start = isolated(space, { bytes: counting(50) })[0]!;
    return [[start, 0, 25], [start, 0, 25], [start, 1, 25]];
  });
});

/**
 * r2 iterations of a 4-byte read through r1 moving by `stride`: a strided range, tested once per trip
 * of UNROLLED_ITERATIONS (16) iterations.
 */
const WALK = (stride: number): string => `
    r0 = 0
  loop:
    r4 = *(u32 *)(r1 + 0)
    r0 += r4
    r1 += ${stride}
    r2 += -1
    if r2 != 0 goto loop
    exit`;

/**
 * Where the walk starts in a 200-byte region so that iteration `n` (from 1) is the first whose read
 * leaves it: past the end walking up (the read straddles it), below the start walking down.
 */
function startFaultingAt(start: number, stride: number, n: number): number {
  return stride > 0 ? start + 200 - 3 - (n - 1) * stride : start - 1 + (n - 1) * -stride;
}

test('unrolled checked trips: a read leaving its region on the 1st, 7th, 15th, 16th, 17th... iteration faults there', () => {
  for (const stride of [1, 3, -1, -2]) {
    assert.equal(plans(WALK(stride))[0]!.guard.wholeTrip, true, `stride ${stride}`);
    for (const n of [1, 2, 7, 15, 16, 17, 23, 31, 32, 33, 48]) {
      // Cold site caches, then warm ones; the walk one iteration shorter (no fault: its last read
      // ends at the region's edge; for n = 1 one iteration, which faults); the walk of n; 60 again.
      const outcome = sameOnBoth(WALK(stride), (space) => {
        const start = isolated(space, { bytes: counting(200) })[0]!;
        const from = startFaultingAt(start, stride, n);
        return [[from, 60], [from, 60], [from, n - 1 || 1], [from, n], [from, 60]];
      });
      const faults = outcome.map((o) => ('insn' in o ? o.insn : 'none'));
      assert.deepEqual(faults, [1, 1, n === 1 ? 1 : 'none', 1, 1], `stride ${stride}, iteration ${n}`);
    }
  }
});

test('unrolled checked trips: walks shorter than a trip match the interpreter; budget stops as unchecked', () => {
  for (const stride of [4, -4]) {
    for (const count of [1, 5, 15, 16, 17]) {
      sameOnBoth(WALK(stride), (space) => {
        const start = isolated(space, { bytes: counting(200) })[0]!;
        const inside = stride > 0 ? start : start + 196;
        return [[inside, count], [inside, count], [startFaultingAt(start, stride, count), count]];
      });
    }
  }
  // The budget runs out inside what would be a trip: the JIT charges back edges (5 slots each, 19 of
  // them), checked as unchecked, and stops at the same back edge.
  const text = WALK(1);
  for (let budget = 0; budget <= 100; budget++) {
    const results = [false, true].map((checked) => {
      const space = new AddressSpace();
      const start = isolated(space, { bytes: counting(200) })[0]!;
      const program = jit.load(assemble(text), { space, checked, name: 'budget' });
      try {
        return program.run({ args: [start, 20], budget }).executed;
      } catch (error) {
        if (!(error instanceof ExecutionLimitError)) throw error;
        return `limit at ${String(error.location.insn)}`;
      } finally {
        program.dispose();
      }
    });
    assert.deepEqual(results, Array(2).fill(budget >= 95 ? 95 : 'limit at 5'), `budget ${budget}`);
  }
});

test('a stride that differs between paths, or a pointer loaded in the loop, gets no strided bound', () => {
  const twoStrides = `
    r0 = 0
  loop:
    r3 = *(u8 *)(r1 + 0)
    r0 += r3
    if r3 > 100 goto big
    r1 += 1
    goto next
  big:
    r1 += 2
  next:
    r2 += -1
    if r2 != 0 goto loop
    exit`;
  const [plan] = plans(twoStrides);
  assert.deepEqual(plan!.ranges.map((r) => r.stride), [0]);
  sameOnBoth(twoStrides, oneRegion(120));
  sameOnBoth(twoStrides, (space) => oneRegion(300, 1)(space).map(([start]) => [start!, 290]));

  // A pointer chase: the loaded pointer's access is not covered (its base is unknown).
  const chase = `
    r0 = 0
    r6 = r1
  loop:
    r3 = *(u64 *)(r6 + 0)
    r4 = *(u8 *)(r3 + 0)
    r0 += r4
    r6 += 8
    r2 += -8
    if r2 s> 0 goto loop
    exit`;
  const [chasePlan] = plans(chase);
  assert.deepEqual(chasePlan!.covered, [2]);
  const pointers = (space: AddressSpace): number[][] => {
    const [target, table] = isolated(space, { bytes: new Uint8Array(16), name: 'target' }, { bytes: new Uint8Array(32), name: 'table' }) as [number, number];
    for (let k = 0; k < 4; k++) space.view.setUint32(table + 8 * k, target + 4 * k + (k === 3 ? 13 : 0), true);
    return [[table, 24], [table, 24], [table, 32]];
  };
  const result = sameOnBoth(chase, pointers);
  assert.ok('insn' in result[2]! && result[2].insn === 3, 'the fourth pointer is past its region');
});

test('loops with a helper call, nested outer loops and loops at the entry are not versioned', () => {
  assert.deepEqual(plans(`
    r6 = r1
  loop:
    r3 = *(u8 *)(r6 + 0)
    call 5
    r6 += 1
    if r6 != r7 goto loop
    exit`), []);
  // Only the inner loop of a nest.
  const nest = plans(`
    r0 = 0
  outer:
    r3 = r1
    r4 = 0
  inner:
    r5 = *(u8 *)(r3 + 0)
    r0 += r5
    r3 += 1
    r4 += 1
    if r4 != 8 goto inner
    r6 = *(u8 *)(r1 + 0)
    r1 += 8
    r2 += -8
    if r2 s> 0 goto outer
    exit`);
  assert.deepEqual(nest.map((p) => p.covered), [[3]]);
  // The loop header is the entry block: no block before it to enter the test from.
  assert.deepEqual(plans(`
  loop:
    r3 = *(u8 *)(r1 + 0)
    r1 += 1
    if r3 != 0 goto loop
    exit`), []);
});

test('a pointer moved to a read-only region inside the loop is rechecked (the write faults there)', () => {
  const text = `
    r6 = 4
  loop:
    r4 = *(u8 *)(r1 + 0)
    *(u8 *)(r1 + 1) = r4
    if r6 != 2 goto keep
    r1 = r3
  keep:
    r6 += -1
    if r6 != 0 goto loop
    r0 = r6
    exit`;
  assert.deepEqual(plans(text)[0]!.ranges.map((r) => r.stride), [0]);
  const outcome = sameOnBoth(text, (space) => {
    const [writable, readOnly] = isolated(space, { bytes: new Uint8Array(64) }, { bytes: new Uint8Array(64), name: 'read-only', writable: false }) as [number, number];
    return [[writable, 0, readOnly], [writable, 0, readOnly]];
  });
  assert.ok(outcome.every((o) => 'insn' in o && o.insn === 2));
});

test('an index that wraps around 2^64 and pointers with high bits set match the interpreter', () => {
  // r2 starts at -8: r1 + r2 + 8 walks the region from its start while r2 passes through zero.
  const wrap = `
    r0 = 0
    r2 = -8
  loop:
    r3 = r1
    r3 += r2
    r4 = *(u8 *)(r3 + 8)
    r0 += r4
    r2 += 1
    if r2 != r5 goto loop
    exit`;
  assert.equal(plans(wrap)[0]!.ranges[0]!.stride, 1);
  const regions = (space: AddressSpace): number[][] => {
    const start = isolated(space, { bytes: counting(32) })[0]!;
    return [[start, 0, 0, 0, 24], [start, 0, 0, 0, 24], [start, 0, 0, 0, 25]];
  };
  const outcome = sameOnBoth(wrap, regions);
  assert.ok('r0' in outcome[0]! && 'insn' in outcome[2]!);
  // The same walk with bit 32 of the base set: every access is outside the address space.
  const high = (space: AddressSpace): number[][] => regions(space).map(([start, ...rest]) => [start! + 2 ** 32, ...rest]);
  assert.ok(sameOnBoth(wrap, high).every((o) => 'insn' in o));
});

test('a versioned loop whose region is released between runs faults (read-only or shorter region there now)', () => {
  const text = `
    r2 = 0
  loop:
    r3 = r1
    r3 += r2
    r4 = *(u8 *)(r3 + 0)
    *(u8 *)(r3 + 0) = r4
    r2 += 1
    if r2 != 16 goto loop
    r0 = r2
    exit`;
  assert.equal(plans(text)[0]!.ranges[0]!.stride, 1);
  const sequence = (engine: Engine): Outcome[] => {
    const space = new AddressSpace();
    const program = engine.load(assemble(text), { space, checked: true, name: 'reuse' });
    const first = space.allocate(64, 'packet', 'first').start;
    // The engines' own regions come first here: addresses are compared relative to `first`.
    const attempt = (start: number): Outcome => {
      try {
        return { r0: program.run({ args: [start] }).r0 };
      } catch (error) {
        if (!(error instanceof MemoryAccessError)) throw error;
        const message = error.message.replace(/0x[0-9a-f]+/g, (hex) => `first+${Number.parseInt(hex, 16) - first}`);
        return { insn: error.location.insn, message };
      }
    };
    const results = [attempt(first), attempt(first)];
    space.release(space.regionAt(first)!);
    const readOnly = space.allocate(64, 'scratch', 'read-only', false);
    assert.equal(readOnly.start, first, 'the allocator reuses the freed range');
    results.push(attempt(first));
    space.release(readOnly);
    space.allocate(8, 'packet', 'short');
    results.push(attempt(first));
    program.dispose();
    return results;
  };
  const expected = sequence(interpreter);
  assert.deepEqual(expected.map((o) => ('insn' in o ? o.insn : o.r0)), [16n, 16n, 4, 3]);
  assert.deepEqual(sequence(jit), expected);
});

test('random walk loops: the checked JIT faults or returns as the interpreter does', () => {
  // A deterministic generator (xorshift), so a failure reproduces.
  let seed = 0x2545f491;
  const random = (n: number): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const widths = [1, 2, 4, 8] as const;
  const name = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' } as const;
  const at = (off: number): string => (off < 0 ? `- ${-off}` : `+ ${off}`);
  for (let k = 0; k < 100; k++) {
    const stride = (random(2) === 0 ? -1 : 1) * (1 + random(9));
    // A pointer that walks (r3 += stride), or a fixed base plus a walking index (r3 = r1 + r6).
    const indexed = random(2) === 0;
    const text = `
    r0 = 0
    r3 = r1
    r6 = ${random(96)}
    r3 += r6
    r4 = ${1 + random(40)}
  loop:
    ${indexed ? 'r3 = r1\n    r3 += r6' : ''}
    r5 = *(${name[widths[random(4)]!]} *)(r3 ${at(random(24) - 8)})
    r0 += r5
    if r5 == ${random(3) === 0 ? 7 : 1000} goto out
    *(${name[widths[random(4)]!]} *)(r3 ${at(random(24) - 8)}) = r0
    ${indexed ? 'r6' : 'r3'} += ${stride}
    r4 += -1
    if r4 != 0 goto loop
  out:
    exit`;
    const big = 64 + random(128);
    const small = 8 + random(64);
    // Two runs on one region (the second with warm caches), then one on another, shorter region.
    sameOnBoth(text, (space) => {
      const [first, second] = isolated(space, { bytes: counting(big) }, { bytes: counting(small) }) as [number, number];
      return [[first, big], [first, big], [second, small]];
    });
  }
});
