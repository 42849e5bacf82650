import { HelperId, type HelperIdName } from '../uapi/helper-ids.js';
import type { HelperTable } from '../vm/abi.js';
import { BASE_HELPERS, type HelperImpl } from './base.js';
import type { ExecEnv } from './env.js';

export * from './env.js';
export * from './format.js';
export * from './prototypes.js';
export { BASE_HELPERS, BPF_MAX_LOOPS, checkMemory, mapArg, memoryReader, type HelperImpl } from './base.js';

/** Implementations by name, merged from each family module. */
export function helperImplementations(...families: Partial<Record<HelperIdName, HelperImpl>>[]): Partial<Record<HelperIdName, HelperImpl>> {
  return Object.assign({}, BASE_HELPERS, ...families);
}

/** A dense table by helper id, what engines index on the hot path. */
export function denseHelperTable(impls: Partial<Record<HelperIdName, HelperImpl>>): HelperTable<ExecEnv> {
  const table: (HelperImpl | undefined)[] = [];
  for (const [name, impl] of Object.entries(impls) as [HelperIdName, HelperImpl][]) table[HelperId[name]] = impl;
  return table;
}
