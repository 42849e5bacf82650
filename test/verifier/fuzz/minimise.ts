import type { Instruction } from '../../../src/isa/instruction.js';
import { instructionStarts, isLdImm64, removeSlots } from './edit.js';

/**
 * Delta debugging by deletion: drop ever smaller runs of instructions while `stillFails` holds
 * (jumps are retargeted), until no single instruction can go. `budget` caps the oracle calls.
 */
export function minimise(insns: readonly Instruction[], stillFails: (candidate: Instruction[]) => boolean, budget = 400): Instruction[] {
  let best = insns.slice();
  let calls = 0;
  for (let chunk = Math.max(1, Math.floor(instructionStarts(best).length / 2)); chunk >= 1; chunk = chunk === 1 ? 0 : Math.max(1, Math.floor(chunk / 2))) {
    let progress = true;
    while (progress && calls < budget) {
      progress = false;
      const starts = instructionStarts(best);
      // Every start, not only multiples of the chunk: a helper call's setup must go as one block.
      for (let s = starts.length - chunk; s >= 0 && calls < budget; s--) {
        const first = starts[s]!;
        const lastStart = starts[s + chunk - 1]!;
        const end = lastStart + (isLdImm64(best[lastStart]!) ? 2 : 1);
        const candidate = removeSlots(best, first, end - first);
        if (candidate.length === 0) continue;
        calls++;
        if (stillFails(candidate)) {
          best = candidate;
          progress = true;
          break;
        }
      }
    }
  }
  return best;
}
