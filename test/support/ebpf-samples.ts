import { possibleCpuCount } from '../../src/linux/cpus.js';
import { editMap, type BpfObject } from '../../src/object/index.js';

/**
 * How the kernel oracle (kernel-6.18-verdicts/ebpf-samples.jsonl) prepared each ebpf-samples object
 * between open and load, so that tsbpf's verdicts are compared on the same maps: the edits the
 * objects' own loaders make (LOADER_SETUP), and one place where the oracle built a map differently
 * from the declaration (ORACLE_FIRST_MAP_AS_TEMPLATE). Used by the kernel sweep (test/linux) and the
 * verifier corpus (test/verifier).
 */

/** The CPU count falco's loader sizes its maps to (one where /sys does not say). */
function cpuCount(): number {
  try {
    return possibleCpuCount();
  } catch {
    return 1;
  }
}

/**
 * What each object's user space does between open and load. falco's libscap sizes its per-CPU
 * scratch maps (and the perf buffer) to the CPU count; the object declares them with 0 entries.
 */
const LOADER_SETUP: Readonly<Record<string, (object: BpfObject) => void>> = {
  'falco/probe.o': (object) => {
    for (const name of ['perf_map', 'frame_scratch_map', 'tmp_scratch_map', 'local_state_map']) {
      editMap(object, name, { maxEntries: cpuCount() });
    }
  },
};

/**
 * cilium's iproute2 objects whose maglev outer maps name their template by inner_id: the oracle
 * read the outer map's inner_idx (0) as an index instead and used the first map,
 * cilium_xdp_scratch (value 28 B), as the template, so the kernel refused tail_lb_ipv4/6 for
 * reading offset 4076 of a 28-byte value. Reproduced to compare verdicts; with the declared
 * template (value 4078 B) the kernel loads them (test/linux/kernel-samples.test.ts checks that).
 */
export const ORACLE_FIRST_MAP_AS_TEMPLATE: readonly string[] = [
  'cilium/bpf_xdp_dsr_linux.o', 'cilium/bpf_xdp_dsr_linux_v1.o', 'cilium/bpf_xdp_dsr_linux_v1_1.o',
  'cilium/bpf_xdp_snat_linux.o', 'cilium/bpf_xdp_snat_linux_v1.o',
];

function firstMapAsTemplate(object: BpfObject): void {
  const [first] = object.maps.filter((m) => m.origin === 'legacy');
  if (!first) return;
  for (const map of object.maps) {
    if (map.innerMap) {
      editMap(object, map.name, {
        innerMap: { name: first.name, type: first.type, keySize: first.keySize, valueSize: first.valueSize, maxEntries: first.maxEntries, flags: first.flags ?? 0 },
      });
    }
  }
}

/** Applies the oracle's preparation of the object at `name` (its path below ebpf-samples/). */
export function prepareAsOracle(name: string, object: BpfObject, options: { oracleTemplates?: boolean } = {}): BpfObject {
  LOADER_SETUP[name]?.(object);
  if ((options.oracleTemplates ?? true) && ORACLE_FIRST_MAP_AS_TEMPLATE.includes(name)) firstMapAsTemplate(object);
  return object;
}
