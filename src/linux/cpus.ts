import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';

/**
 * Parses a kernel CPU list ("0-3,8,10-11") into CPU numbers. Per-CPU map values hold one slot per
 * *possible* CPU (not online), in CPU order.
 */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new TsbpfError('linux/bad-cpu-list', `cannot parse CPU list '${text.trim()}'`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (let c = first; c <= last; c++) cpus.push(c);
  }
  return cpus;
}

let possible: number | undefined;

/** How many slots a per-CPU value has: highest possible CPU + 1. */
export function possibleCpuCount(): number {
  if (possible !== undefined) return possible;
  const cpus = parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'));
  possible = Math.max(...cpus) + 1;
  return possible;
}

/** Per-CPU values are laid out in 8-byte aligned slots. */
export const perCpuSlotSize = (valueSize: number): number => (valueSize + 7) & ~7;
