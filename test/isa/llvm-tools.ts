/**
 * Test support: run llvm-mc / llvm-objdump on raw instructions to get the reference text. Tests that
 * use it skip when the tools are missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, type Instruction } from '../../src/isa/instruction.js';

function which(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const llvmMc = which('llvm-mc-16');
export const llvmObjdump16 = which('llvm-objdump-16');
export const llvmObjdump = which('llvm-objdump');

/** objdump's per-instruction lines: `index -> text` with the branch-target `<sym+off>` suffix removed. */
export function parseObjdumpListing(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+):\t(?:[0-9a-f]{2}(?: [0-9a-f]{2})*\t)?(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!.replace(/ <[^<>]*>$/, ''));
  }
  return out;
}

/**
 * Disassemble `programs` (each a list of slots, usually one instruction) with llvm-objdump-16, by
 * assembling them as `.byte` data into one executable section. Returns the text for each program's
 * first slot.
 */
export function objdumpInstructions(programs: readonly Instruction[][], flags: string[] = ['--no-print-imm-hex']): string[] {
  if (!llvmMc || !llvmObjdump16) throw new Error('llvm-mc-16 / llvm-objdump-16 missing');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-objdump-'));
  try {
    const starts: number[] = [];
    let slot = 0;
    const lines = ['.section prog,"ax",@progbits'];
    for (const program of programs) {
      starts.push(slot);
      slot += program.length;
      lines.push('.byte ' + Array.from(encode(program), (b) => `0x${b.toString(16)}`).join(','));
    }
    writeFileSync(join(dir, 'p.s'), lines.join('\n') + '\n');
    execFileSync(llvmMc, ['-triple', 'bpfel', '-filetype=obj', '-o', join(dir, 'p.o'), join(dir, 'p.s')]);
    const listing = execFileSync(llvmObjdump16, ['-d', '--no-show-raw-insn', ...flags, join(dir, 'p.o')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const byIndex = parseObjdumpListing(listing);
    return starts.map((s) => byIndex.get(s) ?? '<missing>');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
