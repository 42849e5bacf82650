import { imm64Parts, type Instruction } from '../../isa/index.js';
import type { DirectMapLookup, InlineMap, InlineMapLayout } from '../engine.js';
import { MAP_LOOKUP_HELPER_ID } from './layout.js';

/**
 * Which maps a program's map_lookup_elem calls may skip the helper ABI for, among the constants the
 * program loads with lddw: arrays (read inline; the module then depends on where their values are)
 * and maps with a direct lookup function (called through the `lookup_map` import by slot). Found
 * before compiling, because the module's cache key must say what was inlined.
 */

const LD_IMM64 = 0x18;
const CALL = 0x85;

export interface InlineMapPlan {
  /** Array maps by handle. */
  arrays: Map<number, InlineMapLayout>;
  /** Slot in `lookups` by handle. */
  lookupSlots: Map<number, number>;
  lookups: DirectMapLookup[];
}

export const emptyPlan = (): InlineMapPlan => ({ arrays: new Map(), lookupSlots: new Map(), lookups: [] });

export function planInlineMaps(
  insns: readonly Instruction[], describeMap: ((handle: number) => InlineMap | undefined) | undefined,
): InlineMapPlan {
  const plan = emptyPlan();
  if (describeMap === undefined) return plan;
  if (!insns.some((insn) => insn.code === CALL && insn.src === 0 && insn.imm === MAP_LOOKUP_HELPER_ID)) return plan;
  for (let i = 0; i + 1 < insns.length; i++) {
    const insn = insns[i]!;
    if (insn.code !== LD_IMM64) continue;
    const { lo, hi } = imm64Parts(insn, insns[i + 1]!);
    i++;
    const handle = lo >>> 0;
    if (hi !== 0 || plan.arrays.has(handle) || plan.lookupSlots.has(handle)) continue;
    const map = describeMap(handle);
    if (map === undefined) continue;
    if (map.kind === 'lookup') {
      plan.lookupSlots.set(handle, plan.lookups.length);
      plan.lookups.push(map);
    } else if (isUsable(map)) plan.arrays.set(handle, map);
  }
  return plan;
}

/** Layouts whose addresses fit the inline code's arithmetic (all of them, for maps in the address space). */
function isUsable(layout: InlineMapLayout): boolean {
  const fits = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
  return fits(layout.values) && fits(layout.elemStride) && fits(layout.cpuStride) && fits(layout.maxEntries);
}

/** The part of the module cache key that the plan decides. */
export function planKey(plan: InlineMapPlan): string {
  if (plan.arrays.size === 0 && plan.lookupSlots.size === 0) return '';
  const parts: string[] = [];
  for (const [handle, m] of [...plan.arrays].sort((a, b) => a[0] - b[0])) {
    parts.push(`${handle}=${m.kind === 'percpu_array' ? 'p' : 'a'}${m.values}/${m.elemStride}/${m.cpuStride}/${m.maxEntries}`);
  }
  for (const [handle, slot] of [...plan.lookupSlots].sort((a, b) => a[0] - b[0])) parts.push(`${handle}=L${slot}`);
  return '|' + parts.join(',');
}
