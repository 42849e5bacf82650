import { TsbpfError } from '../errors.js';
import type { ExecEnv } from '../helpers/env.js';
import { denseHelperTable, helperImplementations } from '../helpers/index.js';
import { PACKET_HELPERS } from '../helpers/packet.js';
import { ABSENT_HELPERS } from '../helpers/absent.js';
import { helperAllowed, helperProto } from '../helpers/prototypes.js';
import type { Instruction } from '../isa/instruction.js';
import { ArrayMap, ObjectArrayMap } from '../maps/array.js';
import { HashMap } from '../maps/hash.js';
import { LpmTrieMap } from '../maps/lpm.js';
import { createMap } from '../maps/create.js';
import type { BpfMap } from '../maps/map.js';
import { Errno, MapError, type MapSpec } from '../maps/spec.js';
import { progTypeInfo, returnName, type ProgTypeInfo } from '../progtypes/table.js';
import { HELPER_NAMES, MapType } from '../uapi/index.js';
import type { HelperTable } from '../vm/abi.js';
import { kconfigValue, openObject, type BpfObject, type KernelDescription, type ObjectProgram } from '../object/index.js';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import type { Engine, ExecutableProgram, InlineMap } from '../vm/engine.js';
import { interpreter } from '../vm/interpreter.js';
import { jit } from '../vm/jit/index.js';
import { AddressSpace } from '../vm/memory.js';
import { relocateProgram, usedMaps } from './relocate.js';
import { loadableInstructions, VerifierRejectedError, verifyForLoad } from './verify-load.js';
import { programBtfFacts, type FunctionInfo, type GlobalFunction } from '../verifier/index.js';
import { DefaultServices, type ServicesOptions } from './services.js';
import { prepareRun, type TestRunInput } from './test-run.js';
import { bindRuntimeExterns, describeKernel } from './externs.js';

export { DEFAULT_KERNEL, describeKernel, ExternError } from './externs.js';

/**
 * The userspace kernel: creates maps, loads programs (relocating map references, checking helper
 * calls against the program type), and runs them like BPF_PROG_TEST_RUN. Everything lives in one
 * AddressSpace; "fds" are ids.
 */

export interface RuntimeOptions extends ServicesOptions {
  /** Possible CPUs (slots in per-CPU maps). Default 1. */
  cpus?: number;
  /** Execution engine. Default: the WebAssembly JIT where WebAssembly exists, else the interpreter. */
  engine?: Engine;
  space?: AddressSpace;
  /** The kernel `.kconfig` externs read (version, config, LINUX_ facts): fields given replace DEFAULT_KERNEL's. */
  kernel?: Partial<KernelDescription>;
}

export interface LoadProgramOptions {
  name?: string;
  /** Program type: name (`xdp`), kernel enum name or number. */
  type: string | number;
  license?: string;
  /** BPF_PROG_LOAD's fd_array, for LD_IMM64 MAP_IDX references. */
  fdArray?: readonly BpfMap[];
  /**
   * Run the verifier first, as BPF_PROG_LOAD does (default true); a rejection throws
   * VerifierRejectedError with the kernel's line and an explanation. `false` is for trusted or
   * hand-written code the verifier does not (yet) accept: it then runs in checked mode.
   */
  verify?: boolean;
  /** Bounds-check every memory access. Default: on exactly when the verifier was skipped. */
  checked?: boolean;
  engine?: Engine;
  /** line_info (instruction -> C source) for the verifier's explanations. */
  lineInfo?: ReadonlyMap<number, { fileName?: string; line?: string; lineNumber?: number; column?: number }>;
  /** Section attach type, for attach-dependent verifier rules. */
  attachType?: string;
  /** Global subprograms (from the object's BTF), verified on their own. */
  globalFunctions?: readonly GlobalFunction[];
  /** BTF func_info (from the object's BTF): LD_ABS and tail calls in subprograms are checked against it as the kernel does. */
  funcInfo?: readonly FunctionInfo[];
}

export class LoadError extends TsbpfError {
  override name = 'LoadError';
  constructor(program: string, message: string, insn?: number) {
    super('load/rejected', `program ${program}: ${message}`, insn === undefined ? {} : { insn });
  }
}

export interface TestRunOptions extends TestRunInput {
  /** Runs (BPF_PROG_TEST_RUN's repeat); duration is the average. Default 1. */
  repeat?: number;
  /** CPU the program runs on (bpf_get_smp_processor_id, per-CPU slots). */
  cpu?: number;
  /** Executed-instruction budget per run. */
  budget?: number;
}

export interface TestRunResult {
  /** r0 truncated to 32 bits, as BPF_PROG_TEST_RUN reports it. */
  retval: number;
  /** r0 in full. */
  r0: bigint;
  /** Meaning of retval for the program type (XDP_PASS, TC_ACT_SHOT ...). */
  verdict: string;
  dataOut?: Uint8Array;
  ctxOut?: Uint8Array;
  /** Average ns per run. */
  durationNs: number;
  /** Instructions executed in the last run (interpreter). */
  executed: number;
  redirect?: ExecEnv['redirect'];
}

export interface LoadObjectOptions {
  fileName?: string;
  /** Program type for programs whose section name does not say (cilium's `2/1`, `from-netdev`), as libbpf's bpf_program__set_type. */
  type?: string;
  /** Load only these programs (by function name); default all. */
  programs?: readonly string[];
  /** As LoadProgramOptions.verify (default true). */
  verify?: boolean;
  checked?: boolean;
  engine?: Engine;
}

/** An object loaded into the runtime: its maps and programs by name. */
export class LoadedObject {
  constructor(
    readonly object: BpfObject,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, LoadedProgram>,
  ) {}

  program(name: string): LoadedProgram {
    const p = this.programs.get(name) ?? [...this.programs.values()].find((q) => q.section === name);
    if (!p) {
      throw new TsbpfError('runtime/no-program', `no program ${name} in ${this.object.fileName ?? 'the object'} (programs: ${[...this.programs.keys()].join(', ') || 'none'})`);
    }
    return p;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new TsbpfError('runtime/no-map', `no map ${name} in ${this.object.fileName ?? 'the object'} (maps: ${[...this.maps.keys()].join(', ') || 'none'})`);
    return m;
  }
}

/**
 * What libbpf (and iproute2) fill in before creating a map: perf event arrays default to 4-byte keys
 * and values and one slot per CPU; a ring buffer's BTF value type is documentation, its sizes are 0;
 * map-in-map values are 4-byte ids.
 */
export function withLibbpfDefaults(spec: MapSpec, cpus: number): MapSpec {
  switch (spec.type) {
    case MapType.perf_event_array:
      return { ...spec, keySize: spec.keySize || 4, valueSize: spec.valueSize || 4, maxEntries: spec.maxEntries || cpus };
    case MapType.ringbuf:
      return { ...spec, keySize: 0, valueSize: 0 };
    case MapType.array_of_maps:
    case MapType.hash_of_maps:
      return { ...spec, valueSize: spec.valueSize || 4 };
    default:
      return spec;
  }
}

/**
 * What engines may do instead of calling map_lookup_elem on `map` (same semantics): inline an
 * array's lookup, call a hash or LPM map's lookup directly.
 */
function inlineMap(map: BpfMap | undefined): InlineMap | undefined {
  if (map instanceof HashMap || map instanceof LpmTrieMap) {
    return { kind: 'lookup', lookup: (keyAddress, cpu) => map.lookupElem(keyAddress, cpu) };
  }
  if (!(map instanceof ArrayMap)) return undefined;
  const values = map.valueAddress(0, 0);
  return {
    kind: map.perCpu ? 'percpu_array' : 'array',
    values,
    valueSize: map.spec.valueSize,
    elemStride: map.valueAddress(1, 0) - values,
    cpuStride: map.perCpu ? map.valueAddress(0, 1) - values : 0,
    maxEntries: map.spec.maxEntries,
  };
}

export class LoadedProgram {
  section = '';
  constructor(
    readonly runtime: Runtime,
    readonly id: number,
    readonly name: string,
    readonly type: ProgTypeInfo,
    readonly insns: readonly Instruction[],
    readonly maps: readonly BpfMap[],
    readonly executable: ExecutableProgram<ExecEnv>,
    readonly license: string,
  ) {}

  testRun(options: TestRunOptions = {}): TestRunResult {
    return this.runtime.testRun(this, options);
  }
}

/**
 * Initial slots from the object's `.values` initialisers, as libbpf fills them at load: inner maps
 * of a map-in-map once the maps exist, programs of a prog_array once they are loaded (slots naming
 * a program that was not loaded stay empty).
 */
function fillSlots(object: BpfObject, maps: ReadonlyMap<string, BpfMap>, members: ReadonlyMap<string, BpfMap | LoadedProgram>): void {
  const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
  for (const spec of object.maps) {
    const holder = maps.get(spec.name);
    if (!holder || !spec.innerSlots) continue;
    const wantsPrograms = spec.type === MapType.prog_array;
    for (const slot of spec.innerSlots) {
      const member = members.get(slot.map);
      if (member && (member instanceof LoadedProgram) === wantsPrograms) holder.update(u32(slot.index), u32(member.id));
    }
  }
}

export class Runtime {
  readonly space: AddressSpace;
  readonly cpus: number;
  readonly services: DefaultServices;
  readonly engine: Engine;
  readonly kernel: KernelDescription;
  private readonly helpers: HelperTable<ExecEnv>;
  private nextId = 1;
  private readonly maps = new Map<number, BpfMap>();
  private readonly programs = new Map<number, LoadedProgram>();

  constructor(options: RuntimeOptions = {}) {
    this.space = options.space ?? new AddressSpace();
    this.cpus = options.cpus ?? 1;
    this.services = new DefaultServices(options);
    this.engine = options.engine ?? (typeof WebAssembly === 'object' ? jit : interpreter);
    this.kernel = describeKernel(options.kernel);
    this.helpers = denseHelperTable(helperImplementations(PACKET_HELPERS, ABSENT_HELPERS));
  }

  /** BPF_MAP_CREATE. The map's id is what programs' LD_IMM64 map_fd immediates name. */
  createMap(spec: MapSpec): BpfMap {
    const resolve = (id: number): unknown => {
      if (spec.type === MapType.prog_array) return this.programs.get(id)?.executable;
      if (spec.type === MapType.array_of_maps || spec.type === MapType.hash_of_maps) return this.maps.get(id);
      return id; // devmap/cpumap/xskmap: the ifindex/queue itself
    };
    const map = createMap(spec, { space: this.space, cpus: this.cpus }, resolve);
    map.id = this.nextId++;
    this.maps.set(map.id, map);
    this.services.register(map);
    return map;
  }

  /**
   * A map of an object, created as libbpf does: when the map type refuses the value's special fields
   * (EOPNOTSUPP), again without BTF, so programs that use those fields are refused by the verifier.
   */
  private createObjectMap(spec: MapSpec): BpfMap {
    try {
      return this.createMap(spec);
    } catch (e) {
      if (!(e instanceof MapError && e.errno === Errno.EOPNOTSUPP && spec.valueFields)) throw e;
      const { btfKeyTypeId: _key, btfValueTypeId: _value, valueFields: _fields, ...withoutBtf } = spec;
      return this.createMap(withoutBtf);
    }
  }

  mapById(id: number): BpfMap | undefined {
    return this.maps.get(id);
  }
  programById(id: number): LoadedProgram | undefined {
    return this.programs.get(id);
  }
  listMaps(): BpfMap[] {
    return [...this.maps.values()];
  }
  listPrograms(): LoadedProgram[] {
    return [...this.programs.values()];
  }

  /** Put `program` at `index` of a prog_array map (what user space does with the program's fd). */
  setTailCall(map: BpfMap, index: number, program: LoadedProgram | undefined): void {
    if (!(map instanceof ObjectArrayMap) || map.spec.type !== MapType.prog_array) {
      throw new TsbpfError('runtime/not-prog-array', `map ${map.name} is not a prog_array`);
    }
    map.set(index, program?.executable, program?.id ?? 0);
  }

  /** BPF_PROG_LOAD: relocate, check helper calls, prepare the engine. */
  loadProgram(insns: readonly Instruction[], options: LoadProgramOptions): LoadedProgram {
    const name = options.name ?? 'prog';
    const type = progTypeInfo(options.type);
    if (!type) throw new LoadError(name, `unknown program type ${String(options.type)}`);
    const verified = options.verify ?? true;
    let loadable = insns;
    if (verified) {
      const result = verifyForLoad(insns, {
        name,
        type: type.name,
        mapById: (id) => this.maps.get(id),
        ...(options.fdArray ? { fdArray: options.fdArray } : {}),
        ...(options.lineInfo ? { lineInfo: options.lineInfo } : {}),
        ...(options.attachType ? { attachType: options.attachType } : {}),
        ...(options.globalFunctions ? { globalFunctions: options.globalFunctions } : {}),
        ...(options.funcInfo ? { funcInfo: options.funcInfo } : {}),
      });
      if (result.verdict === 'reject') throw new VerifierRejectedError(name, result);
      loadable = loadableInstructions(insns, result);
    }
    const mapContext = { mapById: (id: number) => this.maps.get(id), fdArray: options.fdArray, program: name };
    const maps = usedMaps(insns, mapContext);
    const relocated = relocateProgram(loadable, mapContext);
    this.checkHelperCalls(name, type, relocated);
    const executable = (options.engine ?? this.engine).load<ExecEnv>(relocated, {
      space: this.space,
      helpers: this.helpers,
      checked: options.checked ?? !verified,
      name,
      describeMap: (handle) => inlineMap(this.services.mapByHandle(handle)),
      cpuOf: (env) => env.cpu,
    });
    const program = new LoadedProgram(this, this.nextId++, name, type, relocated, maps, executable, options.license ?? 'GPL');
    this.programs.set(program.id, program);
    return program;
  }

  /**
   * Helper calls must name helpers this program type may call and the runtime implements. A verified
   * program's dead code is gone by now (the kernel accepts anything there, and it never runs).
   */
  private checkHelperCalls(name: string, type: ProgTypeInfo, insns: readonly Instruction[]): void {
    for (let i = 0; i < insns.length; i++) {
      if (insns[i]!.code !== 0x85 || insns[i]!.src !== 0) continue;
      const id = insns[i]!.imm;
      const helperName = HELPER_NAMES[id];
      if (helperName === undefined || id === 0) throw new LoadError(name, `invalid func unknown#${id}`, i);
      const proto = helperProto(id);
      if (proto && !helperAllowed(proto, type.name)) {
        throw new LoadError(name, `program of this type cannot use helper bpf_${helperName}#${id}`, i);
      }
      if (this.helpers[id] === undefined) {
        throw new LoadError(name, `calls helper bpf_${helperName}#${id}, which the userspace runtime does not implement`, i);
      }
    }
  }

  /** BPF_PROG_TEST_RUN. */
  testRun(program: LoadedProgram, options: TestRunOptions = {}): TestRunResult {
    const repeat = Math.max(1, options.repeat ?? 1);
    const prepared = prepareRun(this.space, this.services, program.type, options, options.cpu ?? 0);
    try {
      // Built once: the repeat loop is what BPF_PROG_TEST_RUN's duration measures.
      const runOptions = {
        args: [prepared.ctx],
        env: prepared.env,
        ...(options.budget !== undefined ? { budget: options.budget } : {}),
        ...(prepared.packet ? { packet: prepared.packet } : {}),
      };
      const executable = program.executable;
      const env = prepared.env;
      const start = performance.now();
      // Each run starts with its own tail-call count, as each kernel run does.
      const result = executable.runRepeated(runOptions, repeat, () => { env.tailCalls = 0; });
      const durationNs = ((performance.now() - start) * 1e6) / repeat;
      const out = prepared.finish();
      const retval = result.r0lo >>> 0;
      return {
        retval,
        r0: result.r0,
        verdict: returnName(program.type, retval | 0),
        ...(out.data ? { dataOut: options.dataSizeOut !== undefined ? out.data.subarray(0, options.dataSizeOut) : out.data } : {}),
        ...(out.ctx ? { ctxOut: out.ctx } : {}),
        durationNs,
        executed: result.executed,
        ...(prepared.env.redirect ? { redirect: prepared.env.redirect } : {}),
      };
    } finally {
      prepared.release();
    }
  }

  /**
   * Load an ELF object (or an opened one): create its maps with their initial contents, then load
   * each program with its map references bound to the new maps.
   */
  loadObject(input: Uint8Array | BpfObject, options: LoadObjectOptions = {}): LoadedObject {
    // isView, not instanceof: bytes may come from another realm (a worker, an iframe, node:vm).
    const object = ArrayBuffer.isView(input) ? openObject(input, options.fileName === undefined ? {} : { fileName: options.fileName }) : input;
    const kconfig = kconfigValue(object, this.kernel);
    const maps = new Map<string, BpfMap>();
    for (const spec of object.maps) {
      const initial = spec.origin === 'kconfig' && kconfig ? { ...spec, initialValue: kconfig } : spec;
      maps.set(spec.name, this.createObjectMap(withLibbpfDefaults(initial, this.cpus)));
    }
    fillSlots(object, maps, maps);
    const programs = new Map<string, LoadedProgram>();
    const wanted = options.programs ? new Set(options.programs) : undefined;
    for (const p of object.programs) {
      if (wanted && !wanted.has(p.name)) continue;
      const loaded = this.loadObjectProgram(object, p, maps, options);
      programs.set(p.name, loaded);
    }
    fillSlots(object, maps, programs);
    return new LoadedObject(object, maps, programs);
  }

  private loadObjectProgram(object: BpfObject, p: ObjectProgram, maps: ReadonlyMap<string, BpfMap>, options: LoadObjectOptions): LoadedProgram {
    if (p.error) throw p.error;
    const type = p.type ?? options.type;
    if (type === undefined) {
      throw new LoadError(p.name, `section ${p.section} does not name a program type; pass one (--type xdp, sched_cls ...)`);
    }
    const insns = p.insns.map((i) => ({ ...i }));
    for (const ref of p.mapRefs) {
      const map = maps.get(ref.map);
      if (!map) throw new LoadError(p.name, `references map ${ref.map}, which the object does not define`, ref.insn);
      insns[ref.insn]!.src = ref.kind === 'fd' ? PseudoLdImm64.MAP_FD : PseudoLdImm64.MAP_VALUE;
      insns[ref.insn]!.imm = map.id;
      if (ref.kind === 'value') insns[ref.insn + 1]!.imm = ref.offset;
    }
    bindRuntimeExterns(object, p, insns);
    const loaded = this.loadProgram(insns, {
      name: p.name,
      type,
      license: object.license,
      lineInfo: p.lineInfo,
      // Global functions and the func_info the Linux backend loads the program with (kernel-object.ts).
      ...programBtfFacts(object.btf, p.functions),
      ...(p.sectionDef?.attach ? { attachType: p.sectionDef.attach } : {}),
      ...(options.verify === undefined ? {} : { verify: options.verify }),
      ...(options.checked === undefined ? {} : { checked: options.checked }),
      ...(options.engine ? { engine: options.engine } : {}),
    });
    loaded.section = p.section;
    return loaded;
  }

  /** Free every map and program. */
  close(): void {
    for (const program of this.programs.values()) program.executable.dispose();
    for (const map of this.maps.values()) {
      this.services.unregister(map);
      map.dispose();
    }
    this.programs.clear();
    this.maps.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
