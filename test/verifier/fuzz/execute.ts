import type { Instruction } from '../../../src/isa/instruction.js';
import type { BpfMap } from '../../../src/maps/map.js';
import { RingBufMap } from '../../../src/maps/ringbuf.js';
import { Runtime, type LoadedProgram } from '../../../src/runtime/index.js';
import { loadableInstructions, verifyForLoad } from '../../../src/runtime/verify-load.js';
import type { Engine } from '../../../src/vm/engine.js';
import { interpreter } from '../../../src/vm/interpreter.js';
import { jit } from '../../../src/vm/jit/index.js';
import { MapType } from '../../../src/uapi/index.js';
import type { Rng } from './rng.js';
import { MAPS, PROFILES, type FuzzProgType } from './targets.js';

/**
 * Running accepted programs: the checked interpreter (a memory trap there means the verifier let an
 * unsafe program through) and the WebAssembly JIT in its verified (unchecked) mode, on the same
 * random packet, context and map contents; r0, the packet and context after the run, the maps and
 * the ring buffer records must be equal (issue 6).
 */

export interface RunInput {
  data?: Uint8Array;
  ctx?: Uint8Array;
  /** Per map index: entries to put in before the run. */
  maps: [Uint8Array, Uint8Array][][];
}

export interface Outcome {
  /** `vm/bad-access` (a trap), `vm/budget`, another error code, or undefined when the run finished. */
  error?: string;
  message?: string;
  r0?: bigint;
  /** Everything the run left behind, as comparable text. */
  effects?: string;
}

const BUDGET = 200_000;
/** Gaps before the twin interpreter loads: their stacks land at addresses differing in many low bits. */
const TWIN_GAPS = [8, 88];
/** The clocks' reading in every run. */
const FIXED_NS = 1_000_000_000;
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function randomInput(rng: Rng, type: FuzzProgType): RunInput {
  const profile = PROFILES[type];
  const maps = MAPS.map((spec): [Uint8Array, Uint8Array][] => {
    if (spec.valueSize === 0 || rng.chance(0.25)) return [];
    const key = new Uint8Array(spec.keySize);
    if (rng.chance(0.2) && spec.keySize === 8) key[0] = rng.range(1, 3);
    return [[key, rng.bytes(spec.valueSize)]];
  });
  if (profile.rawCtxSize) return { ctx: rng.bytes(rng.chance(0.5) ? profile.rawCtxSize : rng.range(8, profile.rawCtxSize)), maps };
  return { data: rng.bytes(rng.pick([14, 15, 20, 34, 42, 60, 64, 128, 300])), maps };
}

/** Puts the run's map contents in (arrays always have their entry; hashes only what the input has). */
function fillMaps(maps: readonly BpfMap[], input: RunInput): void {
  maps.forEach((map, i) => {
    const entries = input.maps[i] ?? [];
    if (map instanceof RingBufMap) {
      // A fresh ring each run: records are not zeroed (nor in the kernel), so stale bytes at another
      // ring position would differ between runs.
      map.drain();
      map.consumerPos = 0;
      map.producerPos = 0;
      map.space.u8.fill(0, map.data.start, map.data.start + map.data.size);
    } else if (map.spec.type === MapType.array) {
      map.update(new Uint8Array(4), entries[0]?.[1] ?? new Uint8Array(map.spec.valueSize));
    } else {
      for (const key of [...map.keys()]) map.delete(key);
      for (const [key, value] of entries) map.update(key, value);
    }
  });
}

function mapEffects(maps: readonly BpfMap[]): string {
  return maps.map((map) => {
    if (map instanceof RingBufMap) return `ringbuf:${map.drain().map(hex).join(',')}`;
    return `${map.name}:${[...map.entries()].map(([k, v]) => `${hex(k)}=${hex(v)}`).join(',')}`;
  }).join(' ');
}

/**
 * One userspace kernel (maps, address space) with the program loaded several times: on the checked
 * interpreter, on twins of it whose stacks sit elsewhere, and on the JIT. When a twin disagrees with
 * the interpreter, the outcome depends on addresses (privileged programs may use pointers as
 * numbers), which the engines place differently, so it is not compared.
 */
class Harness {
  private readonly runtime = new Runtime({ engine: interpreter, clock: () => FIXED_NS });
  private readonly maps: BpfMap[];
  /** Every run sees the same "random" numbers, so both engines do. */
  private randomState = 1;

  constructor() {
    this.maps = MAPS.map((spec) => this.runtime.createMap(spec));
    const services = this.runtime.services;
    services.randomU32 = () => {
      this.randomState = (Math.imul(this.randomState, 1103515245) + 12345) >>> 0;
      return this.randomState;
    };
    services.taiNs = () => FIXED_NS;
  }

  /**
   * What the runtime's verified load hands its engine (dead code replaced, ignored fields cleared),
   * so the loads below can skip verifying the same program again and again.
   */
  loadable(insns: readonly Instruction[], type: FuzzProgType): Instruction[] {
    const result = verifyForLoad(insns, { name: 'fuzz', type, mapById: () => undefined, fdArray: this.maps, logLevel: 0 });
    if (result.verdict === 'reject') throw new Error(`the runtime's verifier refused it: ${result.error?.message ?? 'rejected'}`);
    return loadableInstructions(insns, result);
  }

  load(insns: readonly Instruction[], type: FuzzProgType, engine: Engine, checked: boolean): LoadedProgram {
    return this.runtime.loadProgram(insns, { type, fdArray: this.maps, verify: false, checked, engine, name: 'fuzz' });
  }

  /**
   * The same on the checked interpreter, its stack `gap` bytes further on than a plain load would
   * put it (a gap region first), so masked pointer bits differ too.
   */
  loadShifted(insns: readonly Instruction[], type: FuzzProgType, gap: number, engine: Engine = interpreter): LoadedProgram {
    this.runtime.space.allocate(gap, 'scratch', 'fuzz address shift');
    return this.load(insns, type, engine, engine === interpreter);
  }

  run(program: LoadedProgram, input: RunInput): Outcome {
    fillMaps(this.maps, input);
    this.randomState = 1;
    try {
      const result = program.testRun({ ...(input.data ? { data: input.data } : {}), ...(input.ctx ? { ctx: input.ctx } : {}), budget: BUDGET });
      const packet = result.dataOut ? hex(result.dataOut) : '';
      const ctx = result.ctxOut ? hex(result.ctxOut) : '';
      return { r0: result.r0, effects: `data:${packet} ctx:${ctx} ${mapEffects(this.maps)}` };
    } catch (e) {
      const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'exception';
      return { error: code, message: e instanceof Error ? e.message : String(e) };
    }
  }

  close(): void {
    this.runtime.close();
  }
}

export interface ExecutionFinding {
  /** `load-refused`: the runtime will not load what the verifier accepted (its own helper checks). */
  kind: 'trap' | 'engine-mismatch' | 'load-refused';
  /** The class: the trap's error code, what differs between the engines, the loader's message. */
  key: string;
  detail: string;
  input: RunInput;
}

export interface ExecutionReport {
  runs: number;
  /** Runs that hit the instruction budget (not compared). */
  budgetStops: number;
  finding?: ExecutionFinding;
}

const sameOutcome = (a: Outcome, b: Outcome): boolean => a.error === b.error && a.r0 === b.r0 && a.effects === b.effects;
const describe = (o: Outcome): string => (o.error ? `${o.error}: ${o.message}` : `r0=${o.r0} ${o.effects}`);

/** Which parts of two outcomes differ, as a short class name. */
function difference(a: Outcome, b: Outcome): string {
  if (a.error !== b.error) return `error ${a.error ?? 'none'} vs ${b.error ?? 'none'}`;
  const parts: string[] = [];
  if (a.r0 !== b.r0) parts.push('r0');
  const sa = (a.effects ?? '').split(' ');
  const sb = (b.effects ?? '').split(' ');
  sa.forEach((part, i) => {
    if (part !== sb[i]) parts.push(part.slice(0, part.indexOf(':')));
  });
  return `${parts.join(', ')} differ`;
}

export interface ExecutionReport {
  runs: number;
  /** Runs that hit the instruction budget (not compared). */
  budgetStops: number;
  /** Runs whose outcome depends on addresses (not compared). */
  addressDependent: number;
  finding?: ExecutionFinding;
}

/**
 * Runs an accepted program `runs` times on the checked interpreter and, with `differential`, on the
 * JIT too; stops at the first finding.
 */
export function executeAccepted(accepted: readonly Instruction[], type: FuzzProgType, rng: Rng, runs: number, differential = true): ExecutionReport {
  const report: ExecutionReport = { runs: 0, budgetStops: 0, addressDependent: 0 };
  const harness = new Harness();
  try {
    let insns: readonly Instruction[];
    let checked: LoadedProgram;
    let twins: LoadedProgram[];
    try {
      insns = harness.loadable(accepted, type);
      checked = harness.load(insns, type, interpreter, true);
      twins = differential ? TWIN_GAPS.map((gap) => harness.loadShifted(insns, type, gap)) : [];
    } catch (e) {
      report.finding = { kind: 'load-refused', key: (e as Error).message, detail: (e as Error).message, input: { maps: [] } };
      return report;
    }
    let compiled: LoadedProgram | undefined;
    try {
      if (differential) compiled = harness.load(insns, type, jit, false);
    } catch (e) {
      report.finding = { kind: 'engine-mismatch', key: 'the JIT cannot load it', detail: (e as Error).message, input: { maps: [] } };
      return report;
    }
    for (let r = 0; r < runs; r++) {
      const input = randomInput(rng, type);
      report.runs++;
      const interp = harness.run(checked, input);
      if (interp.error === 'vm/budget') {
        report.budgetStops++;
        continue;
      }
      if (interp.error?.startsWith('vm/')) {
        report.finding = { kind: 'trap', key: interp.error, detail: describe(interp), input };
        return report;
      }
      if (!compiled) continue;
      if (twins.some((twin) => !sameOutcome(interp, harness.run(twin, input)))) {
        report.addressDependent++;
        continue;
      }
      const wasm = harness.run(compiled, input);
      if (wasm.error === 'vm/budget') {
        report.budgetStops++;
        continue;
      }
      if (!sameOutcome(interp, wasm)) {
        // The JIT's own twin (stack elsewhere) telling a third story means addresses decide, not the engine.
        if (!sameOutcome(wasm, harness.run(harness.loadShifted(insns, type, TWIN_GAPS[0]!, jit), input))) {
          report.addressDependent++;
          continue;
        }
        report.finding = { kind: 'engine-mismatch', key: difference(interp, wasm), detail: `interpreter ${describe(interp)}\n  jit ${describe(wasm)}`, input };
        return report;
      }
    }
    return report;
  } finally {
    harness.close();
  }
}
