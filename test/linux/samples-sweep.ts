import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { verifyLoadedObject } from '../../src/linux/verify.js';
import { loadObjectIntoKernel, type KernelObject } from '../../src/linux/kernel-object.js';
import type { BpfObject } from '../../src/object/index.js';
import { prepareAsOracle } from '../support/ebpf-samples.js';

export { ORACLE_FIRST_MAP_AS_TEMPLATE } from '../support/ebpf-samples.js';

/**
 * The ebpf-samples sweep: each program the kernel oracle (kernel-6.18-verdicts/ebpf-samples.jsonl)
 * gave a verdict for is loaded through tsbpf's object loader and backend, with the program type
 * the oracle used, and the verdicts compared. Objects whose own loader edits maps before load get
 * the same edits here, and where the oracle built a map differently from the object's declaration,
 * that is reproduced too (test/support/ebpf-samples.ts says what and why).
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

export function openSample(samplesDir: string, name: string, options: { asOracle?: boolean } = {}): BpfObject {
  const object = openObjectForKernel(new Uint8Array(readFileSync(join(samplesDir, name))), { fileName: name });
  return prepareAsOracle(name, object, { oracleTemplates: options.asOracle ?? true });
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
