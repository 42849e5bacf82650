import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decode, parseHexBytes, type Instruction } from '../../src/isa/instruction.js';
import type { MapSpec } from '../../src/maps/spec.js';
import { openObject } from '../../src/object/index.js';
import { AttachType, MapType } from '../../src/uapi/index.js';
import { programBtfFacts, type VerifierProgram } from '../../src/verifier/index.js';
import { prepareAsOracle } from '../support/ebpf-samples.js';
import { corpus } from '../support/paths.js';

/**
 * Loaders for the verifier corpora: each case as a VerifierProgram plus the kernel 6.18 verdict.
 * Shared by the tests and scripts/verifier-corpus.ts.
 */
export interface Case {
  corpus: 'test_verifier' | 'test_loader' | 'ebpf-samples';
  name: string;
  program?: VerifierProgram;
  /** Why the case cannot be run here (missing subprograms, kfuncs ...). */
  skip?: string;
  kernel?: 'accept' | 'reject';
  kernelError?: string;
  /** The selftest's own expectation (privileged). */
  expected?: 'accept' | 'reject';
  expectedUnpriv?: 'accept' | 'reject';
  unprivOnly?: boolean;
  /** ebpf-samples program in invalid/. */
  invalid?: boolean;
  strictAlignment?: boolean;
  sleepable?: boolean;
  /** The kernel's own figures for this program, where its verdict file records them (ebpf-samples). */
  kernelStats?: KernelStats;
}

export interface KernelStats { processedInsns: number; timeUs: number; totalStates: number; peakStates: number }

const hexInsns = (list: readonly string[]): Instruction[] => decode(parseHexBytes(list.join('')));

const map = (name: string, type: number, keySize: number, valueSize: number, maxEntries = 1, extra: Partial<MapSpec> = {}): MapSpec =>
  ({ name, type, keySize, valueSize, maxEntries, ...extra });

/** The maps test_verifier.c creates for each fixup_* list. */
const FIXUP_MAPS: Readonly<Record<string, MapSpec>> = {
  fixup_map_hash_8b: map('hash_8b', MapType.hash, 8, 8),
  fixup_map_hash_48b: map('hash_48b', MapType.hash, 8, 48),
  fixup_map_hash_16b: map('hash_16b', MapType.hash, 8, 16),
  fixup_map_array_48b: map('array_48b', MapType.array, 4, 48),
  fixup_map_array_small: map('array_small', MapType.array, 4, 1),
  fixup_map_event_output: map('event_output', MapType.perf_event_array, 4, 4),
  fixup_map_ringbuf: map('ringbuf', MapType.ringbuf, 0, 0, 4096),
  fixup_map_kptr: map('kptr', MapType.array, 4, 24),
  fixup_prog1: map('prog1', MapType.prog_array, 4, 4, 4),
  fixup_prog2: map('prog2', MapType.prog_array, 4, 4, 4),
};

/** `struct val { int cnt; struct bpf_spin_lock l; }` and `struct timer { struct bpf_timer t; }` of the selftests, as their BTF describes them. */
const LOCKED_VALUE: Partial<MapSpec> = { valueFields: [{ kind: 'spin_lock', offset: 4, size: 4 }] };
const TIMER_VALUE: Partial<MapSpec> = { valueFields: [{ kind: 'timer', offset: 0, size: 16 }] };

/** Maps declared in the selftests' progs/ (verifier_*.c), by symbol. */
const LOADER_MAPS: Readonly<Record<string, MapSpec>> = {
  map_hash_48b: map('map_hash_48b', MapType.hash, 8, 48),
  map_hash_8b: map('map_hash_8b', MapType.hash, 8, 8),
  map_hash_16b: map('map_hash_16b', MapType.hash, 8, 16),
  map_array_48b: map('map_array_48b', MapType.array, 4, 48),
  map_array_ro: map('map_array_ro', MapType.array, 4, 48, 1, { flags: 1 << 7 }),
  map_array_wo: map('map_array_wo', MapType.array, 4, 48, 1, { flags: 1 << 8 }),
  sockmap: map('sockmap', MapType.sockmap, 4, 4),
  sockhash: map('sockhash', MapType.sockhash, 4, 4),
  map_sockmap: map('map_sockmap', MapType.sockmap, 4, 4),
  map_sockhash: map('map_sockhash', MapType.sockhash, 4, 4),
  map_prog1_socket: map('map_prog1_socket', MapType.prog_array, 4, 4, 4),
  map_prog2_socket: map('map_prog2_socket', MapType.prog_array, 4, 4, 4),
  map_ringbuf: map('map_ringbuf', MapType.ringbuf, 0, 0, 4096),
  map_xskmap: map('map_xskmap', MapType.xskmap, 4, 4),
  map_stacktrace: map('map_stacktrace', MapType.stack_trace, 4, 8),
  map_reuseport_array: map('map_reuseport_array', MapType.reuseport_sockarray, 4, 4),
  map_hash: map('map_hash', MapType.hash, 4, 4),
  map_in_map: map('map_in_map', MapType.array_of_maps, 4, 4, 1, { innerMap: map('inner', MapType.array, 4, 4) }),
  map_spin_lock: map('map_spin_lock', MapType.array, 4, 8, 1, LOCKED_VALUE),
  map_timer: map('map_timer', MapType.array, 4, 16, 1, TIMER_VALUE),
  sk_storage_map: map('sk_storage_map', MapType.sk_storage, 4, 8, 0, { flags: 1, ...LOCKED_VALUE }),
};

function readJsonl<T>(path: string, gz = false): T[] {
  const buf = readFileSync(path);
  const text = gz ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

const ATTACH_TYPE_NAMES = new Map<number, string>(Object.entries(AttachType).map(([k, v]) => [v, k]));

interface TvRow { idx: number; expected_attach_type?: number; descr: string; prog_type: number; insns: string[]; result: string; result_unpriv: string; flags: number; fill_helper: boolean; [k: string]: unknown }
interface KernelRow { idx?: number; kernel_verdict?: string | null; error_line?: string | null; file?: string; func?: string; object?: string; section?: string; function?: string; prog_type?: number; [k: string]: unknown }

const numberOf = (v: unknown): number => (typeof v === 'number' ? v : 0);
const kernelStatsOf = (row: KernelRow): KernelStats => ({
  processedInsns: numberOf(row.processed_insns), timeUs: numberOf(row.verification_time_usec),
  totalStates: numberOf(row.total_states), peakStates: numberOf(row.peak_states),
});

const verdictOf = (v: string | null | undefined): 'accept' | 'reject' | undefined => (v === 'accept' || v === 'reject' ? v : undefined);

export function testVerifierCases(): Case[] {
  const src = corpus('verifier', 'kernel-selftests', 'test_verifier-6.12.jsonl.gz');
  const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'test_verifier.jsonl');
  if (!src || !verdicts) return [];
  const kernel = new Map(readJsonl<KernelRow>(verdicts).map((r) => [r.idx!, r]));
  return readJsonl<TvRow>(src, true).map((row): Case => {
    const k = kernel.get(row.idx);
    const name = `#${row.idx} ${row.descr}`;
    const base: Case = {
      corpus: 'test_verifier', name,
      kernel: verdictOf(k?.kernel_verdict), kernelError: k?.error_line ?? undefined,
      expected: row.result === 'REJECT' ? 'reject' : 'accept',
      // F_LOAD_WITH_STRICT_ALIGNMENT is bit 1; bit 0 (F_NEEDS_EFFICIENT_UNALIGNED_ACCESS) loads with BPF_F_ANY_ALIGNMENT.
      strictAlignment: (row.flags & 2) !== 0,
      sleepable: (row.flags & 16) !== 0,
      ...(row.result_unpriv === 'ACCEPT' || row.result_unpriv === 'REJECT' ? { expectedUnpriv: row.result_unpriv === 'REJECT' ? 'reject' : 'accept' } : {}),
    };
    if (row.fill_helper) return { ...base, skip: 'program generated by a fill helper' };
    if (Array.isArray(row.fixup_kfunc_btf_id) && row.fixup_kfunc_btf_id.length) return { ...base, skip: 'kfunc call (bpf_testmod)' };
    if (Array.isArray(row.fixup_map_kptr) && row.fixup_map_kptr.length) return { ...base, skip: 'map value with BTF kptr fields (not describable without BTF)' };
    const insns = hexInsns(row.insns);
    const maps: MapSpec[] = [];
    for (const [key, spec] of Object.entries(FIXUP_MAPS)) {
      const at = row[key];
      if (!Array.isArray(at) || !at.length) continue;
      const index = maps.push(spec) - 1;
      for (const i of at as number[]) if (insns[i]) insns[i] = { ...insns[i]!, imm: index };
    }
    const type = row.prog_type === 0 ? 1 : row.prog_type;
    // expected_attach_type 0 is also "none"; only tracing rows (sleepable checks) need it named.
    const attachType = type === 26 ? ATTACH_TYPE_NAMES.get(row.expected_attach_type ?? -1) : undefined;
    return { ...base, program: { insns, type, maps, name, ...(attachType ? { attachType } : {}) } };
  });
}

interface TlRow { file: string; func: string; section: string; insns: string[]; relocs: { insn: number; type: number; sym: string }[]; expect: string; expect_unpriv: string; flags: string[] }

export function testLoaderCases(): Case[] {
  const src = corpus('verifier', 'kernel-selftests', 'test_loader-6.12.jsonl');
  const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'test_loader.jsonl');
  if (!src || !verdicts) return [];
  const kernel = new Map(readJsonl<KernelRow>(verdicts).map((r) => [`${r.file}:${r.func}`, r]));
  return readJsonl<TlRow>(src).map((row): Case => {
    const k = kernel.get(`${row.file}:${row.func}`);
    const name = `${row.file}:${row.func}`;
    const base: Case = {
      corpus: 'test_loader', name,
      kernel: verdictOf(k?.kernel_verdict), kernelError: k?.error_line ?? undefined,
      expected: row.expect === 'failure' ? 'reject' : 'accept',
      strictAlignment: row.flags.includes('BPF_F_STRICT_ALIGNMENT'),
    };
    if (row.relocs.some((r) => r.type === 10 || r.sym === '.text')) return { ...base, skip: 'calls or references a function not in the corpus' };
    if (k?.prog_type === undefined) return { ...base, skip: 'no program type' };
    const insns = hexInsns(row.insns);
    const maps: MapSpec[] = [];
    const index = new Map<string, number>();
    for (const r of row.relocs) {
      let spec = LOADER_MAPS[r.sym];
      const isData = !spec;
      if (!spec) spec = map(r.sym, MapType.array, 4, 64);
      if (!index.has(r.sym)) index.set(r.sym, maps.push(spec) - 1);
      const first = insns[r.insn]!;
      insns[r.insn] = { ...first, src: isData ? 2 : 1, imm: index.get(r.sym)! };
      if (isData && insns[r.insn + 1]) insns[r.insn + 1] = { ...insns[r.insn + 1]!, imm: first.imm };
    }
    return { ...base, program: { insns, type: k.prog_type, maps, name, attachType: row.section } };
  });
}

export function ebpfSampleCases(): Case[] {
  const dir = corpus('verifier', 'ebpf-samples');
  const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'ebpf-samples.jsonl');
  if (!dir || !verdicts) return [];
  const rows = readJsonl<KernelRow>(verdicts);
  const objects = new Map<string, ReturnType<typeof openObject> | Error>();
  const out: Case[] = [];
  for (const row of rows) {
    const objPath = row.object!;
    const name = `${objPath}:${row.section}/${row.function}`;
    const kernelVerdict = verdictOf(row.kernel_verdict);
    const base: Case = {
      corpus: 'ebpf-samples', name, kernel: kernelVerdict, kernelError: row.error_line ?? undefined, invalid: objPath.startsWith('invalid/'),
      ...(typeof row.verification_time_usec === 'number' ? { kernelStats: kernelStatsOf(row) } : {}),
    };
    if (!objects.has(objPath)) {
      try {
        objects.set(objPath, prepareAsOracle(objPath, openObject(readFileSync(join(dir, objPath)), { fileName: objPath })));
      } catch (e) {
        objects.set(objPath, e instanceof Error ? e : new Error(String(e)));
      }
    }
    const obj = objects.get(objPath)!;
    if (obj instanceof Error) {
      out.push({ ...base, skip: `object does not open: ${obj.message.slice(0, 80)}` });
      continue;
    }
    const prog = obj.programs.find((p) => p.section === row.section && p.name === row.function)
      ?? obj.programs.find((p) => p.name === row.function)
      ?? obj.programs.find((p) => p.section === row.section);
    if (!prog) {
      out.push({ ...base, skip: 'program not found in object' });
      continue;
    }
    if (row.prog_type === undefined || row.prog_type === null) {
      out.push({ ...base, skip: 'no program type' });
      continue;
    }
    out.push({
      ...base,
      program: {
        insns: prog.insns, type: row.prog_type as number, maps: obj.maps,
        mapRefs: prog.mapRefs.map((r) => ({ insn: r.insn, map: r.map, kind: r.kind, offset: r.offset })),
        lineInfo: prog.lineInfo, name, attachType: prog.section,
        ...programBtfFacts(obj.btf, prog.functions),
      },
    });
  }
  return out;
}

export function listFiles(dir: string): string[] {
  return readdirSync(dir);
}
