/**
 * JIT figures: time per run and ns per instruction on the bpf-benchmark programs (unchecked, checked,
 * and the interpreter for comparison), compile time of a 1,000-instruction program, and the cache.
 * Prints figures, asserts nothing. Run: `npx tsx scripts/bench-jit.ts` (or `node dist/scripts/bench-jit.js`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, type Instruction } from '../src/isa/index.js';
import { AddressSpace } from '../src/vm/memory.js';
import type { Engine } from '../src/vm/engine.js';
import { jit, clearJitCache } from '../src/vm/jit/index.js';
import { compileProgram } from '../src/vm/jit/compile.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..');
const benchDir = resolve(root, '..', 'shared', 'corpora', 'bench', 'bpf-benchmark');

/** Dynamic instruction counts from the corpus README. */
const DYNAMIC: Record<string, number> = {
  prime: 2_367_891, memcpy: 8_388_610, strcmp_full: 11_534_336, switch: 59_352, log2_int: 33_275,
};

async function interpreterEngine(): Promise<Engine | undefined> {
  try {
    const mod = (await import('../src/vm/interpreter.js')) as { interpreter?: Engine };
    return mod.interpreter;
  } catch {
    return undefined;
  }
}

/** Process CPU time in ms: unlike wall time, it does not count the time other processes hold the CPU. */
const NOW = (): number => performance.now();
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * Time per run: the best of several batches (each at least ~25 ms) in CPU time, so other load on the
 * machine inflates the figure as little as possible.
 */
function timeRuns(engine: Engine, insns: Instruction[], mem: Uint8Array | undefined, checked: boolean, totalMs: number): { ms: number; r0: bigint } {
  const space = new AddressSpace();
  const region = mem ? space.allocateWith(mem, 'packet', 'mem') : undefined;
  const program = engine.load(insns, { space, checked });
  const args = region ? [region.start, mem!.length] : [];
  let r0 = program.run({ args }).r0; // warm-up (and tier-up)
  let t0 = NOW();
  let perBatch = 1;
  while (NOW() - t0 < 25) { program.run({ args }); perBatch++; }
  let best = Infinity;
  const start = NOW();
  while (NOW() - start < totalMs) {
    t0 = cpuMs();
    for (let i = 0; i < perBatch; i++) r0 = program.run({ args }).r0;
    best = Math.min(best, (cpuMs() - t0) / perBatch);
  }
  program.dispose();
  return { ms: best, r0 };
}

function syntheticProgram(n: number): Instruction[] {
  // A mix of ALU, loads/stores on the stack, and forward branches: n slots ending in exit.
  const insns: Instruction[] = [{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }];
  while (insns.length < n - 1) {
    const k = insns.length;
    switch (k % 6) {
      case 0: insns.push({ code: 0x07, dst: 0, src: 0, off: 0, imm: k }); break;
      case 1: insns.push({ code: 0x7b, dst: 10, src: 0, off: -8 * ((k % 8) + 1), imm: 0 }); break;
      case 2: insns.push({ code: 0x79, dst: 1, src: 10, off: -8 * ((k % 8) + 1), imm: 0 }); break;
      case 3: insns.push({ code: 0x15, dst: 1, src: 0, off: 1, imm: k }); break;
      case 4: insns.push({ code: 0x2f, dst: 0, src: 1, off: 0, imm: 0 }); break;
      default: insns.push({ code: 0xa7, dst: 0, src: 0, off: 0, imm: 0x55 }); break;
    }
  }
  insns.push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return insns;
}

async function main(): Promise<void> {
  const interp = await interpreterEngine();
  if (!existsSync(benchDir)) console.log(`bpf-benchmark corpus not found at ${benchDir}`);
  else {
    console.log('program       dyn.insns   jit ms   ns/insn   checked ms  overhead   interp ms  speedup');
    for (const name of Object.keys(DYNAMIC)) {
      const bin = join(benchDir, `${name}.bpf.bin`);
      if (!existsSync(bin)) continue;
      const memPath = join(benchDir, `${name}.mem`);
      const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : undefined;
      const insns = decode(new Uint8Array(readFileSync(bin)));
      const fast = timeRuns(jit, insns, mem, false, 1500);
      const checked = timeRuns(jit, insns, mem, true, 1500);
      const slow = interp ? timeRuns(interp, insns, mem, false, 1500) : undefined;
      const dyn = DYNAMIC[name]!;
      const same = checked.r0 === fast.r0 && (slow === undefined || slow.r0 === fast.r0) ? '' : '  (r0 differs!)';
      console.log(
        name.padEnd(12), String(dyn).padStart(10), fast.ms.toFixed(3).padStart(8), (fast.ms * 1e6 / dyn).toFixed(2).padStart(9),
        checked.ms.toFixed(3).padStart(12), ((checked.ms / fast.ms - 1) * 100).toFixed(0).padStart(8) + '%',
        (slow ? slow.ms.toFixed(3) : '-').padStart(11), (slow ? (slow.ms / fast.ms).toFixed(1) + 'x' : '-').padStart(8), same,
      );
    }
  }

  // Compile time of a 1,000-instruction program: code generation alone, and generation + wasm compile.
  const program = syntheticProgram(1000);
  for (let i = 0; i < 50; i++) new WebAssembly.Module(compileProgram(program, false).bytes);
  const reps = 300;
  let t0 = cpuMs();
  for (let i = 0; i < reps; i++) compileProgram(program, false);
  const gen = (cpuMs() - t0) / reps;
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) new WebAssembly.Module(compileProgram(program, false).bytes);
  const full = (cpuMs() - t0) / reps;
  const space = new AddressSpace();
  clearJitCache();
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) { clearJitCache(); jit.load(program, { space }).dispose(); }
  const load = (cpuMs() - t0) / reps;
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) jit.load(program, { space }).dispose();
  const cached = (cpuMs() - t0) / reps;
  // Uncached load plus the first run (WebAssembly may compile functions lazily on first call).
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) {
    clearJitCache();
    const loaded = jit.load(program, { space });
    loaded.run();
    loaded.dispose();
  }
  const firstRun = (cpuMs() - t0) / reps;
  console.log(`(CPU time) compile 1000 insns: load + first run uncached ${(firstRun * 1000).toFixed(0)} us`);
  console.log(`compile 1000 insns: codegen ${(gen * 1000).toFixed(0)} us, codegen + WebAssembly.Module ${(full * 1000).toFixed(0)} us, ` +
    `load uncached ${(load * 1000).toFixed(0)} us, load cached ${(cached * 1000).toFixed(0)} us`);
}

await main();
