import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decode, parseHexBytes, type Instruction } from '../../../src/isa/instruction.js';
import { openObject } from '../../../src/object/index.js';
import { MapType } from '../../../src/uapi/index.js';
import { corpus, fixturesDir } from '../../support/paths.js';
import type { FuzzProgram } from './generate.js';
import { MAP_BY_SELFTEST_NAME, PROG_TYPES, PROG_TYPE_BY_NUMBER, RINGBUF_MAP, type FuzzProgType } from './targets.js';

/**
 * Real programs to mutate: the kernel selftests (both formats) and the test fixtures, limited to the
 * fuzzed program types and to maps the fuzzer has (every map reference is rewritten to an index into
 * the fuzzer's fd_array).
 */

const LD_IMM64 = 0x18;
const MAP_IDX = 5;

/** LD_IMM64 at `at` now names map `index` of the fuzzer's fd_array. */
function pointAtMap(insns: Instruction[], at: number, index: number): boolean {
  const insn = insns[at];
  if (!insn || insn.code !== LD_IMM64) return false;
  insns[at] = { ...insn, src: MAP_IDX, imm: index };
  return true;
}

/** Any LD_IMM64 still naming a map fd (no fixup known) makes the seed unusable. */
const stillHasMapFd = (insns: readonly Instruction[]): boolean =>
  insns.some((insn, i) => insn.code === LD_IMM64 && insn.src !== 0 && insn.src !== MAP_IDX && (i === 0 || insns[i - 1]!.code !== LD_IMM64));

interface TestVerifierRow { descr: string; prog_type: number; insns: string[]; fill_helper?: boolean; [fixup: string]: unknown }
interface TestLoaderRow { func: string; section: string; insns: string[]; relocs?: { insn: number; type: number; sym: string }[] }

const SECTION_TYPES: readonly [RegExp, FuzzProgType][] = [
  [/^socket/, 'socket_filter'], [/^(tc|classifier)/, 'sched_cls'], [/^xdp/, 'xdp'], [/^tracepoint/, 'tracepoint'], [/^\??raw_tp(\/|$)|^raw_tracepoint(\/|$)/, 'raw_tracepoint'],
];

const hexInsns = (hex: readonly string[]): Instruction[] => decode(parseHexBytes(hex.join('')));

export function selftestSeeds(): FuzzProgram[] {
  const out: FuzzProgram[] = [];
  const old = corpus('verifier', 'kernel-selftests', 'test_verifier-6.12.jsonl.gz');
  if (old) {
    for (const line of gunzipSync(readFileSync(old)).toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as TestVerifierRow;
      const type = PROG_TYPE_BY_NUMBER[row.prog_type];
      if (!type || row.fill_helper || row.insns.length === 0) continue;
      const insns = hexInsns(row.insns);
      let usable = true;
      for (const [key, value] of Object.entries(row)) {
        if (!key.startsWith('fixup_') || !Array.isArray(value) || value.length === 0) continue;
        const index = MAP_BY_SELFTEST_NAME[key];
        if (index === undefined) usable = false;
        else for (const at of value as number[]) usable &&= pointAtMap(insns, at, index);
      }
      if (usable && !stillHasMapFd(insns)) out.push({ type, insns, origin: `test_verifier: ${row.descr}` });
    }
  }
  const loader = corpus('verifier', 'kernel-selftests', 'test_loader-6.12.jsonl');
  if (loader) {
    for (const line of readFileSync(loader, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as TestLoaderRow;
      const type = SECTION_TYPES.find(([re]) => re.test(row.section))?.[1];
      if (!type) continue;
      const insns = hexInsns(row.insns);
      let usable = true;
      for (const reloc of row.relocs ?? []) {
        const index = MAP_BY_SELFTEST_NAME[reloc.sym];
        usable &&= reloc.type === 1 && index !== undefined && pointAtMap(insns, reloc.insn, index);
      }
      if (usable && !stillHasMapFd(insns)) out.push({ type, insns, origin: `test_loader: ${row.func}` });
    }
  }
  return out;
}

/** The fixtures' programs, their maps replaced by the fuzzer's map of the same kind. */
export function fixtureSeeds(): FuzzProgram[] {
  const dir = join(fixturesDir, 'progs');
  const out: FuzzProgram[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.bpf.o')).sort()) {
    const object = openObject(readFileSync(join(dir, file)), { fileName: file });
    for (const program of object.programs) {
      const type = PROG_TYPES.find((t) => t === program.type);
      if (!type || program.error || program.functions.length > 1) continue;
      const insns = program.insns.slice();
      let usable = true;
      for (const ref of program.mapRefs) {
        const map = object.maps.find((m) => m.name === ref.map);
        const index = ref.kind !== 'fd' || !map ? undefined
          : map.type === MapType.ringbuf ? RINGBUF_MAP : map.type === MapType.array ? 0 : map.type === MapType.hash ? 2 : undefined;
        usable &&= index !== undefined && pointAtMap(insns, ref.insn, index);
      }
      if (usable) out.push({ type, insns, origin: `fixture ${file}: ${program.name}` });
    }
  }
  return out;
}
