import { existsSync, readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import { parseBtf } from '../btf/parse.js';
import type { Btf } from '../btf/btf.js';
import { asm } from './asm.js';
import { MapCreateAttr, ProgLoadAttr } from './attr.js';
import { minimalBtf } from './btf-blob.js';
import { BpfBtf } from './btf-object.js';
import { AttachType, MapFlag, MapType, ProgType, type MapTypeName, type ProgTypeName } from './constants.js';
import { errnoName, Errno } from './errno.js';
import { encode } from '../isa/index.js';
import { closeFd } from './libc.js';
import { dynamicPmuType } from './perf.js';
import { bpfTry } from './syscall.js';
import { TRACEFS_ROOTS } from './bpffs.js';

/**
 * Feature probing in the manner of `bpftool feature probe`: load a two-instruction program of each
 * type, create a one-entry map of each type, and load `call helper; exit` per program type to see
 * which helpers the verifier knows. Nothing is attached; everything created is closed at once.
 */
export type ProbeStatus = 'supported' | 'unsupported' | 'refused' | 'not-probed';

export interface ProbeResult {
  name: string;
  status: ProbeStatus;
  /** errno name or the reason it was not probed. */
  detail?: string;
}

export interface FeatureReport {
  kernel: { release: string; arch: string; btfVmlinux: boolean; jitEnable?: number; unprivilegedBpfDisabled?: number };
  syscall: ProbeResult;
  programTypes: ProbeResult[];
  mapTypes: ProbeResult[];
  attach: ProbeResult[];
  /** Helper names usable per program type (only with `helpers: true`). */
  helpers?: Record<string, string[]>;
}

/** Program types that need something besides a trivial program to load: the attach type they demand. */
const EXPECTED_ATTACH: Partial<Record<ProgTypeName, number>> = {
  CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
  CGROUP_SOCKOPT: AttachType.CGROUP_GETSOCKOPT,
  SK_LOOKUP: AttachType.SK_LOOKUP,
  NETFILTER: AttachType.NETFILTER,
};
/** Program types that must be loaded with a flag: syscall programs are always sleepable (BPF_F_SLEEPABLE). */
const PROG_FLAGS: Partial<Record<ProgTypeName, number>> = { SYSCALL: 1 << 4 };
/** Program types that only load against a BTF target; probed separately (fentry) or not at all. */
const NEEDS_BTF_TARGET: ReadonlySet<ProgTypeName> = new Set(['EXT', 'LSM', 'STRUCT_OPS']);

const TRIVIAL = encode([asm.mov64Imm(0, 0), asm.exit()]);
const LICENSE = new TextEncoder().encode('GPL\0');

function loadProbe(type: number, insns: Uint8Array, extra: { expectedAttachType?: number; attachBtfId?: number; flags?: number; log?: Uint8Array } = {}): { ret: number; log: string } {
  const { ret } = bpfTry('PROG_LOAD', ProgLoadAttr, {
    prog_type: type, insn_cnt: insns.byteLength / 8, insns, license: LICENSE,
    prog_flags: extra.flags ?? 0, expected_attach_type: extra.expectedAttachType ?? 0, attach_btf_id: extra.attachBtfId ?? 0,
    log_level: extra.log ? 1 : 0, log_size: extra.log?.byteLength ?? 0, log_buf: extra.log ?? null,
  });
  if (ret >= 0) closeFd(ret);
  let log = '';
  if (extra.log) {
    const end = extra.log.indexOf(0);
    log = new TextDecoder().decode(extra.log.subarray(0, end < 0 ? undefined : end));
  }
  return { ret, log };
}

function statusOf(ret: number): ProbeResult['status'] {
  if (ret >= 0) return 'supported';
  return ret === -Errno.EPERM ? 'refused' : 'unsupported';
}

export function probeProgramType(name: ProgTypeName): ProbeResult {
  // Tracing programs are probed as fentry on a known kernel function.
  if (name === 'TRACING') return { ...probeFentry(), name };
  if (NEEDS_BTF_TARGET.has(name)) return { name, status: 'not-probed', detail: 'needs a BTF attach target; see the fentry attach probe' };
  const { ret, log } = loadProbe(ProgType[name], TRIVIAL, { expectedAttachType: EXPECTED_ATTACH[name] ?? 0, flags: PROG_FLAGS[name] ?? 0, log: new Uint8Array(4096) });
  // A verifier complaint about our trivial program still means the type exists.
  if (ret === -Errno.EACCES && log) return { name, status: 'supported', detail: 'loads (verifier rejected the probe program)' };
  return ret >= 0 ? { name, status: 'supported' } : { name, status: statusOf(ret), detail: errnoName(-ret) };
}

interface MapProbeShape { keySize: number; valueSize: number; maxEntries: number; flags?: number; btf?: boolean; inner?: boolean }
const DEFAULT_SHAPE: MapProbeShape = { keySize: 4, valueSize: 4, maxEntries: 1 };
const MAP_SHAPES: Partial<Record<MapTypeName, MapProbeShape>> = {
  LPM_TRIE: { keySize: 8, valueSize: 4, maxEntries: 1, flags: MapFlag.NO_PREALLOC },
  STACK_TRACE: { keySize: 4, valueSize: 8, maxEntries: 1 },
  ARRAY_OF_MAPS: { keySize: 4, valueSize: 4, maxEntries: 1, inner: true },
  HASH_OF_MAPS: { keySize: 4, valueSize: 4, maxEntries: 1, inner: true },
  CGROUP_STORAGE: { keySize: 16, valueSize: 8, maxEntries: 0 },
  PERCPU_CGROUP_STORAGE: { keySize: 16, valueSize: 8, maxEntries: 0 },
  QUEUE: { keySize: 0, valueSize: 4, maxEntries: 1 },
  STACK: { keySize: 0, valueSize: 4, maxEntries: 1 },
  SK_STORAGE: { keySize: 4, valueSize: 4, maxEntries: 0, flags: MapFlag.NO_PREALLOC, btf: true },
  INODE_STORAGE: { keySize: 4, valueSize: 4, maxEntries: 0, flags: MapFlag.NO_PREALLOC, btf: true },
  TASK_STORAGE: { keySize: 4, valueSize: 4, maxEntries: 0, flags: MapFlag.NO_PREALLOC, btf: true },
  CGRP_STORAGE: { keySize: 4, valueSize: 4, maxEntries: 0, flags: MapFlag.NO_PREALLOC, btf: true },
  RINGBUF: { keySize: 0, valueSize: 0, maxEntries: 4096 },
  USER_RINGBUF: { keySize: 0, valueSize: 0, maxEntries: 4096 },
  BLOOM_FILTER: { keySize: 0, valueSize: 4, maxEntries: 1 },
  ARENA: { keySize: 0, valueSize: 0, maxEntries: 1, flags: MapFlag.MMAPABLE },
};

function createProbeMap(type: number, shape: MapProbeShape, innerFd = 0, btfFd = 0): number {
  return bpfTry('MAP_CREATE', MapCreateAttr, {
    map_type: type, key_size: shape.keySize, value_size: shape.valueSize, max_entries: shape.maxEntries,
    map_flags: shape.flags ?? 0, inner_map_fd: innerFd, btf_fd: btfFd,
    btf_key_type_id: btfFd ? 1 : 0, btf_value_type_id: btfFd ? 2 : 0,
  }).ret;
}

export function probeMapType(name: MapTypeName): ProbeResult {
  if (name === 'UNSPEC') return { name, status: 'not-probed', detail: 'not a map type' };
  if (name === 'STRUCT_OPS') return { name, status: 'not-probed', detail: 'needs a vmlinux struct_ops value type' };
  const shape = MAP_SHAPES[name] ?? DEFAULT_SHAPE;
  const extra: number[] = [];
  let btf: BpfBtf | undefined;
  try {
    let innerFd = 0;
    let btfFd = 0;
    if (shape.inner) {
      innerFd = createProbeMap(MapType.ARRAY, DEFAULT_SHAPE);
      if (innerFd < 0) return { name, status: statusOf(innerFd), detail: `inner map: ${errnoName(-innerFd)}` };
      extra.push(innerFd);
    }
    if (shape.btf) {
      try {
        btf = BpfBtf.load(minimalBtf());
        btfFd = btf.fd;
      } catch {
        return { name, status: 'not-probed', detail: 'BTF_LOAD failed' };
      }
    }
    const fd = createProbeMap(MapType[name], shape, innerFd, btfFd);
    if (fd >= 0) {
      closeFd(fd);
      return { name, status: 'supported' };
    }
    return { name, status: statusOf(fd), detail: errnoName(-fd) };
  } finally {
    extra.forEach(closeFd);
    btf?.close();
  }
}

let vmlinuxBtf: Btf | null | undefined;
export function loadVmlinuxBtf(): Btf | undefined {
  if (vmlinuxBtf === undefined) {
    try {
      vmlinuxBtf = parseBtf(readFileSync('/sys/kernel/btf/vmlinux'));
    } catch {
      vmlinuxBtf = null;
    }
  }
  return vmlinuxBtf ?? undefined;
}

/** Helper names by id from vmlinux BTF (`enum bpf_func_id`); `helper#N` where unknown. */
export function helperNames(): string[] {
  const btf = loadVmlinuxBtf();
  const en = btf?.findByName('bpf_func_id', 'ENUM');
  const names: string[] = [];
  if (en && en.kind === 'ENUM') {
    for (const v of en.values) if (v.name.startsWith('BPF_FUNC_') && v.name !== '__BPF_FUNC_MAX_ID') names[v.value] = v.name.slice(9);
  }
  for (let i = 0; i < names.length; i++) names[i] ??= `helper#${i}`;
  return names;
}

/** Helpers the verifier accepts for a program type (a rejection naming the helper means "not here"). */
export function probeHelpers(progType: ProgTypeName, names = helperNames()): string[] {
  const usable: string[] = [];
  const log = new Uint8Array(4096);
  for (let id = 1; id < names.length; id++) {
    log.fill(0);
    const insns = encode([asm.call(id), asm.exit()]);
    const { ret, log: text } = loadProbe(ProgType[progType], insns, { expectedAttachType: EXPECTED_ATTACH[progType] ?? 0, flags: PROG_FLAGS[progType] ?? 0, log });
    const missing = /invalid func|unknown func|cannot use helper|helper call is not allowed|not supported|calling kernel function/.test(text);
    if (ret >= 0 || (!missing && text)) usable.push(names[id]!);
  }
  return usable;
}

/** Attach points beyond program types: kprobes, uprobes, tracepoints, fentry. */
export function probeAttachPoints(): ProbeResult[] {
  const out: ProbeResult[] = [];
  const tracefs = TRACEFS_ROOTS.find((r) => existsSync(`${r}/events`) || existsSync(r));
  const kprobePmu = dynamicPmuType('kprobe');
  const kprobeEvents = TRACEFS_ROOTS.some((r) => existsSync(`${r}/kprobe_events`));
  out.push(kprobePmu !== undefined || kprobeEvents
    ? { name: 'kprobe', status: 'supported', detail: kprobePmu !== undefined ? `kprobe PMU type ${kprobePmu}` : 'tracefs kprobe_events' }
    : { name: 'kprobe', status: 'unsupported', detail: 'missing: no kprobe PMU and no kprobe_events (kernel without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS)' });
  const multi = loadProbe(ProgType.KPROBE, TRIVIAL, { expectedAttachType: AttachType.TRACE_KPROBE_MULTI });
  out.push(kprobePmu === undefined && !kprobeEvents
    ? { name: 'kprobe_multi', status: 'unsupported', detail: 'missing: kprobes are not available' }
    : { name: 'kprobe_multi', status: statusOf(multi.ret), detail: multi.ret < 0 ? errnoName(-multi.ret) : undefined });
  const uprobePmu = dynamicPmuType('uprobe');
  out.push(uprobePmu !== undefined
    ? { name: 'uprobe', status: 'supported', detail: `uprobe PMU type ${uprobePmu}` }
    : { name: 'uprobe', status: 'unsupported', detail: 'no uprobe PMU' });
  out.push({ name: 'tracepoint', status: tracefs ? 'supported' : 'unsupported', detail: tracefs ? `tracefs ${tracefs} (mounted on demand)` : 'no tracefs' });
  const raw = loadProbe(ProgType.RAW_TRACEPOINT, TRIVIAL);
  out.push({ name: 'raw_tracepoint', status: statusOf(raw.ret), detail: raw.ret < 0 ? errnoName(-raw.ret) : undefined });
  out.push(probeFentry());
  return out;
}

/** fentry on a function every kernel with BPF test-run has (bpf_fentry_test1). */
function probeFentry(): ProbeResult {
  const btf = loadVmlinuxBtf();
  const target = btf?.findByName('bpf_fentry_test1', 'FUNC');
  if (!target) return { name: 'fentry', status: 'not-probed', detail: 'no vmlinux BTF or no bpf_fentry_test1' };
  const { ret } = loadProbe(ProgType.TRACING, TRIVIAL, { expectedAttachType: AttachType.TRACE_FENTRY, attachBtfId: target.id });
  return { name: 'fentry', status: statusOf(ret), detail: ret < 0 ? `${errnoName(-ret)}${ret === -Errno.EPERM ? ': refused even as root (lockdown, or no BPF trampoline)' : ''}` : undefined };
}

function readSysctl(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Is bpf() callable at all? (A map create that must succeed for root.) */
export function probeSyscall(): ProbeResult {
  try {
    const fd = createProbeMap(MapType.ARRAY, DEFAULT_SHAPE);
    if (fd >= 0) {
      closeFd(fd);
      return { name: 'bpf()', status: 'supported' };
    }
    return { name: 'bpf()', status: statusOf(fd), detail: errnoName(-fd) };
  } catch (err) {
    return { name: 'bpf()', status: 'unsupported', detail: err instanceof Error ? err.message : String(err) };
  }
}

export function probeFeatures(options: { helpers?: boolean | readonly ProgTypeName[] } = {}): FeatureReport {
  const syscall = probeSyscall();
  const report: FeatureReport = {
    kernel: {
      release: release(), arch: arch(), btfVmlinux: existsSync('/sys/kernel/btf/vmlinux'),
      jitEnable: readSysctl('/proc/sys/net/core/bpf_jit_enable'),
      unprivilegedBpfDisabled: readSysctl('/proc/sys/kernel/unprivileged_bpf_disabled'),
    },
    syscall,
    programTypes: [],
    mapTypes: [],
    attach: [],
  };
  if (syscall.status !== 'supported') return report;
  report.programTypes = (Object.keys(ProgType) as ProgTypeName[]).filter((n) => n !== 'UNSPEC').map(probeProgramType);
  report.mapTypes = (Object.keys(MapType) as MapTypeName[]).filter((n) => n !== 'UNSPEC').map(probeMapType);
  report.attach = probeAttachPoints();
  if (options.helpers) {
    const names = helperNames();
    const types = options.helpers === true
      ? report.programTypes.filter((p) => p.status === 'supported').map((p) => p.name as ProgTypeName)
      : options.helpers;
    report.helpers = {};
    for (const t of types) report.helpers[t] = probeHelpers(t, names);
  }
  return report;
}

