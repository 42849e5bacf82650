import type { Instruction } from '../../isa/index.js';
import type { Engine, ExecutableProgram, LoadOptions } from '../engine.js';
import { JitProgram } from './program.js';

/**
 * The WebAssembly JIT engine: eBPF compiled to one WebAssembly module per program (see compile.ts),
 * with the same semantics as the interpreter. `--engine jit`.
 */

export const jit: Engine = {
  name: 'jit',
  load<Env>(insns: readonly Instruction[], options: LoadOptions<Env>): ExecutableProgram<Env> {
    return new JitProgram<Env>(insns, options);
  },
};

export { JitProgram, compileCached, jitCacheStats, clearJitCache, type JitRunOptions, type JitPacketWindow } from './program.js';
export { compileProgram, type CompiledModule } from './compile.js';
export { JitCompileError } from './cfg.js';
