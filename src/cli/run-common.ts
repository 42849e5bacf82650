import type { BpfObject } from '../object/index.js';
import { DEFAULT_ENGINE } from '../vm/engines.js';
import { Runtime, type LoadedObject } from '../runtime/index.js';
import { isEngineName, loadEngine } from '../vm/engines.js';
import { UsageError } from './command.js';
import { dumpMap, type MapEntryView } from './object-args.js';

/** Options every command that runs an object's program shares. */
export const RUN_OPTIONS = {
  prog: { type: 'string' },
  type: { type: 'string' },
  engine: { type: 'string', default: DEFAULT_ENGINE },
  cpus: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export interface RunSetup {
  runtime: Runtime;
  loaded: LoadedObject;
}

/** A runtime with the object loaded (only the program asked for, so unrelated sections cannot fail the run). */
export async function loadForRun(object: BpfObject, values: { prog?: string | undefined; type?: string | undefined; engine?: string | undefined; cpus?: string | undefined }): Promise<RunSetup & { program: string }> {
  const engineName = values.engine ?? 'interp';
  if (!isEngineName(engineName)) throw new UsageError(`--engine must be interp or jit, not ${engineName}`);
  const cpus = values.cpus === undefined ? 1 : Number(values.cpus);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 4096) throw new UsageError(`--cpus must be a whole number from 1 to 4096`);
  const program = values.prog ?? (object.programs.length === 1 ? object.programs[0]!.name : undefined);
  if (program === undefined) {
    throw new UsageError(`--prog is required: the object has ${object.programs.length} programs (${object.programs.map((p) => p.name).join(', ')})`);
  }
  const runtime = new Runtime({ engine: loadEngine(engineName), cpus });
  const match = object.programs.find((p) => p.name === program || p.section === program);
  const loaded = runtime.loadObject(object, {
    programs: [match?.name ?? program],
    ...(values.type !== undefined ? { type: values.type } : {}),
  });
  return { runtime, loaded, program: match?.name ?? program };
}

export function dumpAllMaps(object: BpfObject, loaded: LoadedObject, only?: string): Record<string, MapEntryView[]> {
  const out: Record<string, MapEntryView[]> = {};
  for (const spec of object.maps) {
    if (only !== undefined && spec.name !== only) continue;
    out[spec.name] = dumpMap(object, spec, loaded.map(spec.name));
  }
  if (only !== undefined && out[only] === undefined) {
    throw new UsageError(`no map ${only} (maps: ${object.maps.map((m) => m.name).join(', ') || 'none'})`);
  }
  return out;
}
