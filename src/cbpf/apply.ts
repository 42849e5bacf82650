import { compileCbpfToJs, compileCbpfToWindowJs, type WindowFilter } from './compile-js.js';
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

/**
 * The same over a packet inside a larger buffer (`buffer[offset .. offset + caplen)`), as a capture
 * scanner hands them: the JS engine reads the window directly; the interpreter gets a view.
 */
export function windowFilter(prog: readonly CbpfInstruction[], engine: FilterEngine = 'js'): WindowFilter {
  if (engine === 'js') return compileCbpfToWindowJs(prog);
  const runner = prepareCbpf(prog);
  return (buffer, offset, caplen, wirelen) => runner.run(buffer.subarray(offset, offset + caplen), wirelen);
}
