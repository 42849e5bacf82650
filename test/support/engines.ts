import type { Engine, EngineName } from '../../src/vm/engine.js';
import { ENGINES, ENGINE_NAMES } from '../../src/vm/engines.js';

/**
 * Every execution engine, the interpreter first: suites that run programs run each case on all of them
 * (issue 6: "every runtime and verifier test that runs programs runs on both engines").
 */
export const TEST_ENGINES: readonly { name: EngineName; engine: Engine }[] = [...ENGINE_NAMES]
  .sort((a, b) => (a === 'interp' ? -1 : b === 'interp' ? 1 : 0))
  .map((name) => ({ name, engine: ENGINES[name] }));

/**
 * Runs `body` once per engine and returns the results in TEST_ENGINES order. A failure names the
 * engine it happened on, so a difference between engines reads as one.
 */
export function onEachEngine<T>(body: (engine: Engine, name: EngineName) => T): T[] {
  return TEST_ENGINES.map(({ name, engine }) => {
    try {
      return body(engine, name);
    } catch (e) {
      if (e instanceof Error && !e.message.startsWith('[engine ')) e.message = `[engine ${name}] ${e.message}`;
      throw e;
    }
  });
}
