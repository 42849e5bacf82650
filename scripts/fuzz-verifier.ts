/**
 * Soundness fuzz for the verifier: random and mutated programs; every program tsbpf accepts must run
 * in the checked interpreter on random inputs without a memory trap. Usage:
 *   npx tsx scripts/fuzz-verifier.ts [ITERATIONS] [SEED]
 */
import { fileURLToPath } from 'node:url';
import type { Instruction } from '../src/isa/instruction.js';
import { verify } from '../src/verifier/index.js';
import { interpreter } from '../src/vm/interpreter.js';
import { AddressSpace } from '../src/vm/memory.js';

const CTX_SIZE = 96;

export interface FuzzReport { programs: number; accepted: number; runs: number; failures: { insns: Instruction[]; error: string }[] }

/** xorshift32: deterministic per seed. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

function randomProgram(rand: () => number): Instruction[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const n = 4 + Math.floor(rand() * 20);
  const out: Instruction[] = [I(0xb7, 0, 0, 0, 0), I(0xbf, 6, 1)];
  const reg = (): number => pick([0, 2, 3, 4, 5, 6, 7]);
  const smallImm = (): number => pick([0, 1, 2, 4, 7, 8, 15, 16, 64, 95, 96, 255, -1, -8, -16, 0x7fffffff]);
  for (let i = 0; i < n; i++) {
    const kind = rand();
    if (kind < 0.3) {
      out.push(I(pick([0x07, 0x17, 0x27, 0x47, 0x57, 0x67, 0x77, 0xa7, 0xb7, 0x04, 0x54, 0xb4, 0xc7]), reg(), 0, 0, smallImm() & (rand() < 0.5 ? 63 : -1)));
    } else if (kind < 0.45) {
      out.push(I(pick([0x0f, 0x1f, 0x5f, 0x4f, 0xbf, 0xaf, 0x0c]), reg(), pick([0, 1, 2, 3, 6, 10])));
    } else if (kind < 0.6) {
      // Load from ctx (r6) or stack.
      if (rand() < 0.5) out.push(I(pick([0x61, 0x79, 0x71, 0x69]), reg(), 6, 0, 0), { ...out[out.length - 1]!, off: pick([0, 4, 8, 16, 88, 92, 96, -8]) });
      else out.push(I(pick([0x79, 0x61]), reg(), 10, pick([-8, -16, -4, -512, 0, -520]), 0));
      out.splice(out.length - 2, 1);
    } else if (kind < 0.72) {
      out.push(I(pick([0x7b, 0x63, 0x73]), 10, reg(), pick([-8, -16, -24, -4, -512, 0]), 0));
    } else if (kind < 0.8) {
      // Store through a register that may be a stack pointer.
      out.push(I(0xbf, 7, 10), I(0x07, 7, 0, 0, pick([-8, -16, -32, 8, -600])), I(pick([0x7b, 0x79]), 7, reg(), pick([0, -8, 4]), 0));
    } else if (kind < 0.95) {
      const skip = 1 + Math.floor(rand() * 3);
      out.push(I(pick([0x15, 0x25, 0x35, 0x55, 0xa5, 0xb5, 0x65, 0x75, 0x16, 0x2d, 0x1d]), reg(), pick([0, 2, 3]), skip, smallImm()));
    } else {
      out.push(I(0xbf, 2, 6), I(0x0f, 2, reg()), I(0x61, 0, 2, pick([0, 4]), 0));
    }
  }
  out.push(I(0xb7, 0, 0, 0, 0), I(0x95));
  // Keep jumps inside the program and off the final exit pair when possible.
  return out.map((insn, i) => ((insn.code & 7) === 5 && insn.code !== 0x95 && i + 1 + insn.off >= out.length ? { ...insn, off: out.length - 2 - i } : insn));
}

function mutate(insns: Instruction[], rand: () => number): Instruction[] {
  const out = insns.slice();
  const i = Math.floor(rand() * (out.length - 1));
  const field = Math.floor(rand() * 4);
  const insn = { ...out[i]! };
  if (field === 0) insn.off = insn.off + (rand() < 0.5 ? -8 : 8);
  else if (field === 1) insn.imm = insn.imm ^ (1 << Math.floor(rand() * 32));
  else if (field === 2) insn.dst = Math.floor(rand() * 10);
  else insn.src = Math.floor(rand() * 11);
  out[i] = insn;
  return out;
}

export function fuzzVerifier(iterations: number, seed = 1, runsPerProgram = 4): FuzzReport {
  const rand = rng(seed);
  const report: FuzzReport = { programs: 0, accepted: 0, runs: 0, failures: [] };
  const space = new AddressSpace();
  let prev: Instruction[] | undefined;
  for (let it = 0; it < iterations; it++) {
    const insns = prev && rand() < 0.4 ? mutate(prev, rand) : randomProgram(rand);
    report.programs++;
    let accepted = false;
    try {
      accepted = verify({ insns, type: 'raw_tracepoint' }).verdict === 'accept';
    } catch {
      accepted = false;
    }
    if (!accepted) continue;
    prev = insns;
    report.accepted++;
    const program = interpreter.load(insns, { space, checked: true });
    const ctx = space.allocate(CTX_SIZE, 'ctx', 'ctx', false);
    try {
      for (let r = 0; r < runsPerProgram; r++) {
        for (let b = 0; b < CTX_SIZE; b++) space.u8[ctx.start + b] = Math.floor(rand() * 256);
        report.runs++;
        try {
          program.run({ args: [ctx.start], budget: 100_000 });
        } catch (e) {
          const msg = (e as Error).message;
          if (!/budget|limit/i.test(msg)) report.failures.push({ insns, error: msg });
          break;
        }
      }
    } finally {
      space.release(ctx);
      program.dispose();
    }
  }
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const iterations = Number(process.argv[2] ?? 20000);
  const seed = Number(process.argv[3] ?? 1);
  const started = performance.now();
  const report = fuzzVerifier(iterations, seed);
  console.log(`programs ${report.programs}, accepted ${report.accepted}, runs ${report.runs}, failures ${report.failures.length}, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const f of report.failures.slice(0, 5)) console.log(f.error, JSON.stringify(f.insns));
}
