import { existsSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import type { BpfObject, ObjectMap, ObjectProgram } from '../object/types.js';
import { TsbpfError } from '../errors.js';
import { ProgType } from '../uapi/prog-types.js';
import { AttachType } from '../uapi/attach-types.js';
import { MapType } from '../uapi/map-types.js';
import { BPFFS_ROOT } from './bpffs.js';
import { BpfBtf } from './btf-object.js';
import { BpfSyscallError } from './errors.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';
import { attachBtfIdForSection } from './attach-tracing.js';
import { possibleCpuCount } from './cpus.js';
import { MapFlag, mapTypeName } from '../maps/spec.js';
import { globalDataMap, GlobalsView } from './globals.js';
import { mmapableArraysSupported } from './mmap-map.js';
import { kconfigValue, type KernelDescription } from '../object/kconfig.js';
import { bindKernelExterns, hostKernel } from './kernel-externs.js';

/**
 * Put an opened object (src/object) into the kernel, as libbpf's bpf_object__load does: create the
 * maps (global data initialised, .rodata frozen, map-in-map slots filled), load the object's BTF
 * when the kernel takes it (for func_info, which global functions need), and load each program
 * with the map fds patched into its LD_IMM64 instructions.
 */

export interface KernelObjectOptions {
  /** Program type for sections that do not name one. */
  type?: string;
  /** Load only these programs. */
  programs?: readonly string[];
  /** Verifier log level for every program (0: only on failure). */
  logLevel?: number;
  /**
   * Folder for maps declared with `pinning: LIBBPF_PIN_BY_NAME` (default /sys/fs/bpf, as libbpf):
   * an existing pin of the same shape is reused, otherwise the new map is pinned there.
   */
  pinRoot?: string;
  /** Treat every map as unpinned (no bpffs access): for one-off loads such as verification sweeps. */
  ignorePinning?: boolean;
  /**
   * Template maps for map-in-maps, by outer map name (libbpf's bpf_map__set_inner_map_fd): for
   * objects that declare no inner map, or to use an existing map's shape.
   */
  innerMaps?: Readonly<Record<string, BpfMap>>;
  /** What `.kconfig` externs read: by default the running kernel (hostKernel). */
  kernel?: KernelDescription;
}

/** libbpf's LIBBPF_PIN_BY_NAME. */
export const PIN_BY_NAME = 1;

/** bpffs refuses names with dots (EPERM): `.bss` is pinned as `_bss`, as libbpf does. */
export function pinName(name: string): string {
  return name.replace(/\./g, '_');
}

/** Kernel map and program names: at most 15 characters of [A-Za-z0-9_.]. */
export function kernelName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

export class KernelObject {
  /** Paths this object pinned with pin() (removed again by unpin()). */
  readonly #pinned: string[] = [];
  /** Global data views handed out by globals(), by section (one mapping each, unmapped on close). */
  readonly #globals = new Map<string, GlobalsView>();

  constructor(
    readonly object: BpfObject,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
    private readonly btf: BpfBtf | undefined,
    /** Maps pinned by name (pinning: 1) or at their pinPath: map name -> path, whether created now or reused. */
    readonly pinnedByName: ReadonlyMap<string, string> = new Map(),
  ) {}

  /**
   * Pins every program at DIR/progs/NAME and every map at DIR/maps/NAME (maps already pinned by name
   * are left where they are). Returns the paths pinned.
   */
  pin(dir: string): string[] {
    const paths: string[] = [];
    try {
      for (const [name, prog] of this.programs) {
        const path = join(dir, 'progs', pinName(name));
        prog.pin(path);
        paths.push(path);
      }
      for (const [name, map] of this.maps) {
        if (this.pinnedByName.has(name)) continue;
        const path = join(dir, 'maps', pinName(name));
        map.pin(path);
        paths.push(path);
      }
    } catch (e) {
      for (const path of paths) unlinkSync(path);
      throw e;
    }
    this.#pinned.push(...paths);
    return paths;
  }

  /** Removes the pins made by pin(); with `byName`, also the maps pinned by name (they then die with their last fd). */
  unpin(options: { byName?: boolean } = {}): void {
    for (const path of this.#pinned.splice(0)) rmSync(path, { force: true });
    if (options.byName) for (const path of this.pinnedByName.values()) rmSync(path, { force: true });
  }

  /**
   * Loads (another) program of the object against the maps already created: for loading programs one
   * at a time, or the same one with another type or log level. Replaces and closes an earlier load of
   * the same name when `keep` is true (default); with `keep: false` the caller owns the result.
   */
  loadProgram(name: string, options: Pick<KernelObjectOptions, 'type' | 'logLevel'> & { keep?: boolean } = {}): BpfProgram {
    const spec = this.object.programs.find((p) => p.name === name);
    if (!spec) throw new TsbpfError('linux/no-program', `no program ${name} in ${this.object.fileName ?? 'the object'} (programs: ${this.object.programs.map((p) => p.name).join(', ') || 'none'})`);
    const program = loadKernelProgram(this.object, spec, this.maps, this.btf, options);
    if (options.keep ?? true) {
      (this.programs as Map<string, BpfProgram>).get(name)?.close();
      (this.programs as Map<string, BpfProgram>).set(name, program);
    }
    return program;
  }

  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new TsbpfError('linux/no-program', `no program ${name} loaded from ${this.object.fileName ?? 'the object'}`);
    return p;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new TsbpfError('linux/no-map', `no map ${name} in ${this.object.fileName ?? 'the object'}`);
    return m;
  }

  /**
   * The global variables of `section` (`.bss`, `.data`, `.rodata`, `.data.NAME` ...) read and written
   * through the section's mmap'd map (lookup/update when the kernel cannot map it): the programs see
   * writes at once and user space sees theirs. `.rodata` is read-only here: set it before load with
   * objectGlobals(). The view stays valid until this object is closed.
   */
  globals(section: string): GlobalsView {
    let view = this.#globals.get(section);
    if (!view) {
      const spec = globalDataMap(this.object, section);
      view = GlobalsView.forKernelMap(this.object, spec, this.map(spec.name));
      this.#globals.set(section, view);
    }
    return view;
  }

  close(): void {
    for (const view of this.#globals.values()) view.close();
    this.#globals.clear();
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btf?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Key/value BTF ids for the kernel, as libbpf sets them: declared types, or the DATASEC for global data. */
function mapBtfIds(object: BpfObject, spec: ObjectMap): { keyTypeId: number; valueTypeId: number } | undefined {
  if (spec.origin === 'data' || spec.origin === 'rodata' || spec.origin === 'bss' || spec.origin === 'kconfig') {
    const datasec = object.btf?.findByName(spec.section, 'DATASEC');
    return datasec ? { keyTypeId: 0, valueTypeId: datasec.id } : undefined;
  }
  if (spec.btfValueTypeId === undefined && spec.btfKeyTypeId === undefined) return undefined;
  return { keyTypeId: spec.btfKeyTypeId ?? 0, valueTypeId: spec.btfValueTypeId ?? 0 };
}

function createKernelMap(spec: ObjectMap, btf?: { fd: number; keyTypeId: number; valueTypeId: number }, innerTemplate?: BpfMap): BpfMap {
  const inner = innerTemplate ? undefined : spec.innerMap ? createKernelMap({ ...spec.innerMap, origin: 'btf', section: '.maps' } as ObjectMap) : undefined;
  if (isMapInMap(spec.type) && !innerTemplate && !inner) {
    throw new TsbpfError('linux/no-inner-map', `map ${spec.name} (${mapTypeName(spec.type)}) declares no inner map: give its shape with editMap(object, '${spec.name}', { innerMap }) or a template with the innerMaps load option`);
  }
  const sizes = kernelSizes(spec);
  const options = {
    type: spec.type,
    ...sizes,
    maxEntries: kernelMaxEntries(spec),
    flags: kernelFlags(spec),
    name: kernelName(spec.name),
    ...(innerTemplate ?? inner ? { innerMap: innerTemplate ?? inner } : {}),
    ...(spec.mapExtra !== undefined ? { extra: spec.mapExtra } : {}),
  };
  try {
    if (btf) {
      try {
        return BpfMap.create({ ...options, btf });
      } catch (e) {
        // Some map types take no BTF, or the kernel dislikes the types: create it bare, as libbpf retries.
        if (!(e instanceof BpfSyscallError)) throw e;
      }
    }
    try {
      return BpfMap.create(options);
    } catch (e) {
      if (e instanceof BpfSyscallError) throw new BpfSyscallError(e.command, e.errno, `map ${spec.name} (${mapTypeName(spec.type)}, key ${spec.keySize} B, value ${options.valueSize} B, ${options.maxEntries} entries, flags 0x${options.flags.toString(16)})`, { cause: e });
      throw e;
    }
  } finally {
    inner?.close();
  }
}

/** Declared flags, less BPF_F_MMAPABLE on kernels before 5.5 (global data is then read with lookups). */
function kernelFlags(spec: ObjectMap): number {
  const flags = spec.flags ?? 0;
  return flags & MapFlag.MMAPABLE && !mmapableArraysSupported() ? flags & ~MapFlag.MMAPABLE : flags;
}

/** Local storage maps are sized by their owners and must declare 0 entries. */
const SIZED_BY_OWNER: ReadonlySet<number> = new Set([
  MapType.cgroup_storage, MapType.percpu_cgroup_storage, MapType.sk_storage, MapType.inode_storage,
  MapType.task_storage, MapType.cgrp_storage,
]);

/**
 * max_entries for the kernel: libbpf sizes a perf event array declared without one to the possible
 * CPUs; any other map with 0 entries is refused here, saying how to set it (objects such as falco's
 * leave per-CPU scratch maps at 0 for their loader to fill in).
 */
function kernelMaxEntries(spec: ObjectMap): number {
  if (spec.maxEntries !== 0 || SIZED_BY_OWNER.has(spec.type)) return spec.maxEntries;
  if (spec.type === MapType.perf_event_array) return possibleCpuCount();
  throw new TsbpfError('linux/no-max-entries', `map ${spec.name} (${mapTypeName(spec.type)}) declares max_entries 0: its loader must set it before load, with editMap(object, '${spec.name}', { maxEntries })`);
}

const isMapInMap = (type: number): boolean => type === MapType.array_of_maps || type === MapType.hash_of_maps;

/**
 * Key and value sizes as the kernel wants them, where declarations commonly say something else: a
 * map-in-map's value is an fd (u32) and legacy definitions left it out; a ring buffer has no key or
 * value and a perf event array u32 ones, whatever `__type(value, struct event)` says (objects declare
 * the record type there for code generators; libbpf and cilium/ebpf drop it too).
 */
function kernelSizes(spec: ObjectMap): { keySize: number; valueSize: number } {
  if (spec.type === MapType.ringbuf || spec.type === MapType.user_ringbuf) return { keySize: 0, valueSize: 0 };
  if (spec.type === MapType.perf_event_array) return { keySize: 4, valueSize: 4 };
  if (isMapInMap(spec.type) && spec.valueSize === 0) return { keySize: spec.keySize, valueSize: 4 };
  return { keySize: spec.keySize, valueSize: spec.valueSize };
}

/** Map types that take no BTF key/value types (libbpf leaves them out too). */
const NO_BTF_TYPES: ReadonlySet<number> = new Set([
  MapType.perf_event_array, MapType.cgroup_array, MapType.stack_trace, MapType.array_of_maps, MapType.hash_of_maps,
  MapType.devmap, MapType.devmap_hash, MapType.cpumap, MapType.xskmap, MapType.sockmap, MapType.sockhash,
  MapType.queue, MapType.stack, MapType.ringbuf, MapType.user_ringbuf,
]);

/** A pinned map that matches the declaration, or an error saying what differs (libbpf refuses the same way). */
function reusePinnedMap(spec: ObjectMap, path: string): BpfMap {
  const map = BpfMap.fromPin(path);
  const want = { type: spec.type, ...kernelSizes(spec), maxEntries: kernelMaxEntries(spec), flags: kernelFlags(spec) };
  const got = map.spec;
  for (const field of ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const) {
    if (got[field] !== want[field]) {
      map.close();
      throw new TsbpfError('linux/pin-mismatch', `map ${spec.name}: pinned map ${path} has ${field} ${got[field]}, the object declares ${want[field]}`);
    }
  }
  return map;
}

export function loadObjectIntoKernel(object: BpfObject, options: KernelObjectOptions = {}): KernelObject {
  const maps = new Map<string, BpfMap>();
  const programs = new Map<string, BpfProgram>();
  const pinnedByName = new Map<string, string>();
  const newPins: string[] = [];
  let btf: BpfBtf | undefined;
  try {
    btf = loadBtf(object);
    const kconfig = object.maps.some((m) => m.origin === 'kconfig') ? kconfigValue(object, options.kernel ?? hostKernel()) : undefined;
    for (const spec of object.maps) {
      const pinPath = options.ignorePinning ? undefined
        : spec.pinPath ?? (spec.pinning === PIN_BY_NAME ? join(options.pinRoot ?? BPFFS_ROOT, pinName(spec.name)) : undefined);
      if (pinPath && existsSync(pinPath)) {
        maps.set(spec.name, reusePinnedMap(spec, pinPath));
        pinnedByName.set(spec.name, pinPath);
        continue;
      }
      const ids = btf && !NO_BTF_TYPES.has(spec.type) ? mapBtfIds(object, spec) : undefined;
      const map = createKernelMap(spec, btf && ids ? { fd: btf.fd, ...ids } : undefined, options.innerMaps?.[spec.name]);
      maps.set(spec.name, map);
      const initialValue = spec.origin === 'kconfig' ? kconfig : spec.initialValue;
      if (initialValue && spec.type === MapType.array) {
        map.update(new Uint8Array(4), initialValue);
        if (spec.origin === 'rodata' || spec.origin === 'kconfig') map.freeze();
      }
      if (pinPath) {
        map.pin(pinPath);
        newPins.push(pinPath);
        pinnedByName.set(spec.name, pinPath);
      }
    }
    fillSlots(object, maps, maps);
    const wanted = options.programs ? new Set(options.programs) : undefined;
    for (const p of object.programs) {
      if (wanted && !wanted.has(p.name)) continue;
      programs.set(p.name, loadKernelProgram(object, p, maps, btf, options));
    }
    fillSlots(object, maps, programs);
  } catch (e) {
    for (const p of programs.values()) p.close();
    for (const m of maps.values()) m.close();
    btf?.close();
    for (const path of newPins) rmSync(path, { force: true });
    throw e;
  }
  return new KernelObject(object, maps, programs, btf, pinnedByName);
}

/**
 * Initial slots from the object (BTF `values` initialisers): inner maps of a map-in-map once the
 * maps exist, programs of a prog_array once they are loaded (libbpf fills both at load).
 */
function fillSlots(object: BpfObject, maps: ReadonlyMap<string, BpfMap>, members: ReadonlyMap<string, BpfMap | BpfProgram>): void {
  for (const spec of object.maps) {
    const holder = maps.get(spec.name);
    if (!holder || !spec.innerSlots) continue;
    if (spec.type !== MapType.prog_array && !isMapInMap(spec.type)) continue;
    for (const slot of spec.innerSlots) {
      const member = members.get(slot.map);
      const fits = spec.type === MapType.prog_array ? member instanceof BpfProgram : member instanceof BpfMap;
      if (member && fits) holder.update(new Uint8Array(new Uint32Array([slot.index]).buffer), new Uint8Array(new Uint32Array([member.fd]).buffer));
    }
  }
}

/** The object's BTF, if the kernel accepts it as is (objects from recent clang); else none. */
function loadBtf(object: BpfObject): BpfBtf | undefined {
  const raw = object.btfRaw;
  if (!raw) return undefined;
  try {
    return BpfBtf.load(raw);
  } catch {
    return undefined;
  }
}

function loadKernelProgram(object: BpfObject, p: ObjectProgram, maps: ReadonlyMap<string, BpfMap>, btf: BpfBtf | undefined, options: KernelObjectOptions): BpfProgram {
  if (p.error) throw p.error;
  const typeName = options.type ?? p.type;
  if (typeName === undefined) {
    throw new TsbpfError('linux/no-type', `program ${p.name}: section ${p.section} does not name a program type; pass one`);
  }
  const type = (ProgType as Readonly<Record<string, number>>)[typeName];
  if (type === undefined) throw new TsbpfError('linux/no-type', `program ${p.name}: unknown program type ${typeName}`);
  const insns = p.insns.map((i) => ({ ...i }));
  for (const ref of p.mapRefs) {
    const map = maps.get(ref.map);
    if (!map) throw new TsbpfError('linux/no-map', `program ${p.name} references map ${ref.map}, which was not created`);
    insns[ref.insn]!.src = ref.kind === 'fd' ? PseudoLdImm64.MAP_FD : PseudoLdImm64.MAP_VALUE;
    insns[ref.insn]!.imm = map.fd;
    if (ref.kind === 'value') insns[ref.insn + 1]!.imm = ref.offset;
  }
  bindKernelExterns(object, p, insns);
  const funcInfo = btf && object.btf ? funcInfoRecords(object, p) : undefined;
  const lineInfo = funcInfo ? lineInfoRecords(p) : undefined;
  const attach = p.sectionDef?.attach;
  // fentry/fexit/tp_btf/lsm programs are verified against their target's type in the kernel BTF.
  const attachBtfId = attachBtfIdForSection(p.section);
  return BpfProgram.load({
    type,
    insns,
    license: object.license || 'GPL',
    // A program named after its section ('cgroup/x' in objects without symbols) loses its slashes.
    name: kernelName(p.name),
    ...(attach !== undefined ? { expectedAttachType: (AttachType as Readonly<Record<string, number>>)[attach] ?? 0 } : {}),
    ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    ...(object.kernelVersion !== undefined ? { kernVersion: object.kernelVersion } : {}),
    ...(btf && funcInfo ? { btfFd: btf.fd, funcInfo } : {}),
    ...(lineInfo ? { lineInfo } : {}),
    ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
  });
}

/**
 * bpf_line_info records for the linked program (source lines in the kernel's log and in bpftool/tsbpf
 * prog dump). The kernel refuses line info that does not start at instruction 0 or misses the first
 * instruction of a function, so a program whose linking left such a gap loads without it.
 */
function lineInfoRecords(p: ObjectProgram): { recordSize: number; records: Uint8Array } | undefined {
  const entries = [...p.lineInfo].sort((a, b) => a[0] - b[0]);
  if (entries.length === 0 || entries[0]![0] !== 0) return undefined;
  if (p.functions.some((f) => !p.lineInfo.has(f.start))) return undefined;
  const records = new Uint8Array(16 * entries.length);
  const view = new DataView(records.buffer);
  for (const [i, [insn, line]] of entries.entries()) {
    view.setUint32(16 * i, insn, true);
    view.setUint32(16 * i + 4, line.fileNameOff, true);
    view.setUint32(16 * i + 8, line.lineOff, true);
    view.setUint32(16 * i + 12, (line.lineNumber << 10) | line.column, true);
  }
  return { recordSize: 16, records };
}

/** bpf_func_info records for the linked program: one per function, by its FUNC type in the BTF. */
function funcInfoRecords(object: BpfObject, p: ObjectProgram): { recordSize: number; records: Uint8Array } | undefined {
  const btf = object.btf!;
  const records = new Uint8Array(8 * p.functions.length);
  const view = new DataView(records.buffer);
  for (const [i, f] of p.functions.entries()) {
    const func = btf.findByName(f.name, 'FUNC');
    if (!func) return undefined;
    view.setUint32(8 * i, f.start, true);
    view.setUint32(8 * i + 4, func.id, true);
  }
  return { recordSize: 8, records };
}
