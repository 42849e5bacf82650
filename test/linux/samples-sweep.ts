import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { verifyLoadedObject } from '../../src/linux/verify.js';
import { loadObjectIntoKernel, type KernelObject } from '../../src/linux/kernel-object.js';
import { possibleCpuCount } from '../../src/linux/cpus.js';
import { editMap, type BpfObject } from '../../src/object/index.js';

/**
 * The ebpf-samples sweep: each program the kernel oracle (kernel-6.18-verdicts/ebpf-samples.jsonl)
 * gave a verdict for is loaded through tsbpf's object loader and backend, with the program type
 * the oracle used, and the verdicts compared. Objects whose own loader edits maps before load get
 * the same edits here (LOADER_SETUP); where the oracle built a map differently from the object's
 * declaration, that is reproduced too, and said why (ORACLE_FIRST_MAP_AS_TEMPLATE).
 */

export interface OracleRow {
  object: string;
  section: string;
  function: string;
  prog_type_name: string | null;
  kernel_verdict: 'accept' | 'reject' | null;
  via: string | null;
  notes: string[];
}

export interface SweepRow {
  row: OracleRow;
  /** What tsbpf got: a verdict, or 'error' when the object could not be opened/loaded at all. */
  got: 'accept' | 'reject' | 'error';
  detail?: string;
}

export function readOracle(verdictsFile: string): OracleRow[] {
  return readFileSync(verdictsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as OracleRow)
    .filter((r) => r.kernel_verdict !== null);
}

/** Rows of one object are verified against one set of its maps (creating cilium's maps per row costs more than verifying). */
export function sweep(samplesDir: string, rows: readonly OracleRow[], onRow?: (r: SweepRow) => void): SweepRow[] {
  const out: SweepRow[] = [];
  let current: { name: string; object: BpfObject | Error; kernel?: KernelObject | Error } | undefined;
  const release = (): void => {
    if (current?.kernel && !(current.kernel instanceof Error)) current.kernel.close();
  };
  try {
    for (const row of rows) {
      if (current?.name !== row.object) {
        release();
        current = { name: row.object, object: openOrError(samplesDir, row.object) };
      }
      const result = verifyRow(row, current);
      out.push(result);
      onRow?.(result);
    }
  } finally {
    release();
  }
  return out;
}

/**
 * What each object's user space does between open and load. falco's libscap sizes its per-CPU
 * scratch maps (and the perf buffer) to the CPU count; the object declares them with 0 entries.
 */
const LOADER_SETUP: Readonly<Record<string, (object: BpfObject) => void>> = {
  'falco/probe.o': (object) => {
    for (const name of ['perf_map', 'frame_scratch_map', 'tmp_scratch_map', 'local_state_map']) {
      editMap(object, name, { maxEntries: possibleCpuCount() });
    }
  },
};

/**
 * cilium's iproute2 objects whose maglev outer maps name their template by inner_id: the oracle
 * read the outer map's inner_idx (0) as an index instead and used the first map,
 * cilium_xdp_scratch (value 28 B), as the template, so the kernel refused tail_lb_ipv4/6 for
 * reading offset 4076 of a 28-byte value. Reproduced here to compare verdicts; with the declared
 * template (value 4078 B) they load (kernel-samples.test.ts checks that).
 */
export const ORACLE_FIRST_MAP_AS_TEMPLATE: readonly string[] = [
  'cilium/bpf_xdp_dsr_linux.o', 'cilium/bpf_xdp_dsr_linux_v1.o', 'cilium/bpf_xdp_dsr_linux_v1_1.o',
  'cilium/bpf_xdp_snat_linux.o', 'cilium/bpf_xdp_snat_linux_v1.o',
];

function firstMapAsTemplate(object: BpfObject): void {
  const [first] = object.maps.filter((m) => m.origin === 'legacy');
  for (const map of object.maps) {
    if (map.innerMap && first) editMap(object, map.name, { innerMap: { name: first.name, type: first.type, keySize: first.keySize, valueSize: first.valueSize, maxEntries: first.maxEntries, flags: first.flags ?? 0 } });
  }
}

export function openSample(samplesDir: string, name: string, options: { asOracle?: boolean } = {}): BpfObject {
  const object = openObjectForKernel(new Uint8Array(readFileSync(join(samplesDir, name))), { fileName: name });
  LOADER_SETUP[name]?.(object);
  if ((options.asOracle ?? true) && ORACLE_FIRST_MAP_AS_TEMPLATE.includes(name)) firstMapAsTemplate(object);
  return object;
}

function openOrError(samplesDir: string, name: string): BpfObject | Error {
  try {
    return openSample(samplesDir, name);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

function verifyRow(row: OracleRow, current: { object: BpfObject | Error; kernel?: KernelObject | Error }): SweepRow {
  const object = current.object;
  if (object instanceof Error) return { row, got: 'error', detail: `open: ${object.message}` };
  const program = object.programs.find((p) => p.name === row.function && p.section === row.section)
    ?? object.programs.find((p) => p.name === row.function)
    // Rows loaded raw (no symbols used) name the program by its section.
    ?? onlyProgramIn(object, row.section);
  if (!program) return { row, got: 'error', detail: `no program ${row.function} in section ${row.section}` };
  try {
    current.kernel ??= loadMaps(object);
    if (current.kernel instanceof Error) throw current.kernel;
    const v = verifyLoadedObject(current.kernel, program.name, { logLevel: 0, ...(row.prog_type_name ? { type: row.prog_type_name.toLowerCase() } : {}) });
    return { row, got: v.verdict, ...(v.error ? { detail: v.error } : {}) };
  } catch (e) {
    if (!(e instanceof TsbpfError)) throw e;
    return { row, got: 'error', detail: e.message };
  }
}

function loadMaps(object: BpfObject): KernelObject | Error {
  try {
    return loadObjectIntoKernel(object, { programs: [], ignorePinning: true });
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

export function agreement(results: readonly SweepRow[]): { agree: number; total: number; acceptedAgree: number; accepted: number } {
  const accepted = results.filter((r) => r.row.kernel_verdict === 'accept');
  return {
    agree: results.filter((r) => r.got === r.row.kernel_verdict).length,
    total: results.length,
    acceptedAgree: accepted.filter((r) => r.got === 'accept').length,
    accepted: accepted.length,
  };
}

function onlyProgramIn(object: BpfObject, section: string): BpfObject['programs'][number] | undefined {
  const inSection = object.programs.filter((p) => p.section === section);
  return inSection.length === 1 ? inSection[0] : undefined;
}
