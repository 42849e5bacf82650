import { compileCbpfToJs } from './compile-js.js';
import { prepareCbpf } from './interpret.js';
import type { CbpfInstruction } from './opcodes.js';

/** How a classic program runs over packets: compiled to JavaScript (fast) or interpreted. */
export type FilterEngine = 'js' | 'interp';

export const FILTER_ENGINES: readonly FilterEngine[] = ['js', 'interp'];

/** A function returning the program's value for one packet (0: no match). */
export function packetFilter(prog: readonly CbpfInstruction[], engine: FilterEngine = 'js'): (data: Uint8Array, wirelen: number) => number {
  if (engine === 'js') return compileCbpfToJs(prog);
  const runner = prepareCbpf(prog);
  return (data, wirelen) => runner.run(data, wirelen);
}
