import type { Engine, EngineName } from './engine.js';
import { interpreter } from './interpreter.js';
import { jit } from './jit/index.js';

/** Engines by name, for `--engine interp|jit`. */
export const ENGINES: Readonly<Record<EngineName, Engine>> = { interp: interpreter, jit };

export const ENGINE_NAMES = Object.keys(ENGINES) as readonly EngineName[];

/** The JIT wherever WebAssembly exists (everywhere Node runs), else the interpreter. */
export const DEFAULT_ENGINE: EngineName = typeof WebAssembly === 'object' ? 'jit' : 'interp';

export function isEngineName(name: string): name is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(name);
}

export function loadEngine(name: EngineName): Engine {
  return ENGINES[name];
}
