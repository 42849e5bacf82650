import { TsbpfError } from '../errors.js';
import type { Engine, EngineName } from './engine.js';
import { interpreter } from './interpreter.js';

/**
 * Engines by name, for `--engine interp|jit`. The JIT loads lazily (and only when it has been built),
 * so the interpreter never pays for it.
 */

/** Kept in a variable so the type checker does not require the JIT to exist yet. */
const JIT_MODULE = './jit/index.js';

export const ENGINE_NAMES: readonly EngineName[] = ['interp', 'jit'];

/** The JIT wherever WebAssembly exists (everywhere Node runs), else the interpreter. */
export const DEFAULT_ENGINE: EngineName = typeof WebAssembly === 'object' ? 'jit' : 'interp';

export function isEngineName(name: string): name is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(name);
}

export async function loadEngine(name: EngineName): Promise<Engine> {
  if (name === 'interp') return interpreter;
  let mod: { jit?: unknown };
  try {
    mod = (await import(JIT_MODULE)) as { jit?: unknown };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('jit/index')) {
      throw new TsbpfError('vm/no-jit', 'the WebAssembly JIT (src/vm/jit/index.ts) is not available in this build');
    }
    throw err;
  }
  const jit = mod.jit as Engine | undefined;
  if (jit === undefined || typeof jit.load !== 'function') {
    throw new TsbpfError('vm/no-jit', 'src/vm/jit/index.ts does not export `jit: Engine`');
  }
  return jit;
}
