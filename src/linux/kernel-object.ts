import { PseudoLdImm64 } from '../isa/opcodes.js';
import type { BpfObject, ObjectMap, ObjectProgram } from '../object/types.js';
import { TsbpfError } from '../errors.js';
import { ProgType } from '../uapi/prog-types.js';
import { AttachType } from '../uapi/attach-types.js';
import { MapType } from '../uapi/map-types.js';
import { BpfBtf } from './btf-object.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';

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
}

/** Kernel map names: at most 15 characters of [A-Za-z0-9_.]. */
export function kernelMapName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15);
}

export class KernelObject {
  constructor(
    readonly object: BpfObject,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
    private readonly btf: BpfBtf | undefined,
  ) {}

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

  close(): void {
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btf?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function createKernelMap(spec: ObjectMap): BpfMap {
  const inner = spec.innerMap ? createKernelMap({ ...spec.innerMap, origin: 'btf', section: '.maps' } as ObjectMap) : undefined;
  try {
    return BpfMap.create({
      type: spec.type,
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
      flags: spec.flags ?? 0,
      name: kernelMapName(spec.name),
      ...(inner ? { innerMap: inner } : {}),
      ...(spec.mapExtra !== undefined ? { extra: spec.mapExtra } : {}),
    });
  } finally {
    inner?.close();
  }
}

export function loadObjectIntoKernel(object: BpfObject, options: KernelObjectOptions = {}): KernelObject {
  const maps = new Map<string, BpfMap>();
  const programs = new Map<string, BpfProgram>();
  let btf: BpfBtf | undefined;
  try {
    for (const spec of object.maps) {
      const map = createKernelMap(spec);
      maps.set(spec.name, map);
      if (spec.initialValue && spec.type === MapType.array) {
        map.update(new Uint8Array(4), spec.initialValue);
        if (spec.origin === 'rodata') map.freeze();
      }
    }
    for (const spec of object.maps) {
      for (const slot of spec.innerSlots ?? []) {
        const inner = maps.get(slot.map);
        if (inner) maps.get(spec.name)!.update(new Uint8Array(new Uint32Array([slot.index]).buffer), new Uint8Array(new Uint32Array([inner.fd]).buffer));
      }
    }
    btf = loadBtf(object);
    const wanted = options.programs ? new Set(options.programs) : undefined;
    for (const p of object.programs) {
      if (wanted && !wanted.has(p.name)) continue;
      programs.set(p.name, loadKernelProgram(object, p, maps, btf, options));
    }
  } catch (e) {
    for (const p of programs.values()) p.close();
    for (const m of maps.values()) m.close();
    btf?.close();
    throw e;
  }
  return new KernelObject(object, maps, programs, btf);
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
  const funcInfo = btf && object.btf ? funcInfoRecords(object, p) : undefined;
  const attach = p.sectionDef?.attach;
  return BpfProgram.load({
    type,
    insns,
    license: object.license || 'GPL',
    name: p.name.slice(0, 15),
    ...(attach !== undefined ? { expectedAttachType: (AttachType as Readonly<Record<string, number>>)[attach] ?? 0 } : {}),
    ...(object.kernelVersion !== undefined ? { kernVersion: object.kernelVersion } : {}),
    ...(btf && funcInfo ? { btfFd: btf.fd, funcInfo } : {}),
    ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
  });
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
