import { TsbpfError } from '../errors.js';
import type { Instruction } from '../isa/instruction.js';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import { MapType } from '../uapi/index.js';
import type { MapSpec } from '../maps/spec.js';
import { progTypeInfo, type ProgTypeInfo } from '../progtypes/table.js';
import { buildCfg, type Cfg } from './cfg.js';
import type { VerifierSetup } from './context.js';
import { MAX_STACK, MAX_VAR_OFF } from './context.js';
import { Explorer, INSN_LIMIT } from './explore.js';
import { subprogramLines } from './log-format.js';
import { checkMapProgCompatibility } from './map-btf.js';
import { K_CALL_LOCAL, K_LD_IMM64 } from './op-kinds.js';
import { Reject } from './reject.js';
import { constBounds } from './scalar.js';
import { formatState, pointerReg, scalarReg, type Reg } from './state.js';

/** A map reference of an instruction: by index into `maps` or by map name (object programs). */
export interface VerifierMapRef {
  insn: number;
  map: number | string;
  /** `fd` (default): the map; `value`: a pointer into its first value at `offset`. */
  kind?: 'fd' | 'value';
  offset?: number;
}

export interface VerifierProgram {
  insns: Instruction[];
  /** Program type name (`xdp`) or number. */
  type: string | number;
  /**
   * Maps the program refers to. Without `mapRefs`, an LD_IMM64 with src 1/5 (2/6 for values) takes
   * its `imm` as an index into this array (a raw bundle); with `mapRefs`, the references say which.
   */
  maps?: readonly MapSpec[];
  mapRefs?: readonly VerifierMapRef[];
  /** C source lines by instruction (BTF line_info), for explanations. */
  lineInfo?: ReadonlyMap<number, { fileName?: string; line?: string; lineNumber?: number; column?: number }>;
  name?: string;
  /**
   * Global (non-static) functions among the subprograms, with their BTF argument kinds: the kernel
   * verifies each on its own, not knowing the caller's values, besides checking its calls.
   */
  globalFunctions?: readonly GlobalFunction[];
  /**
   * The program's BTF func_info, when it is loaded with one (`funcInfoFromBtf`): each function's first
   * instruction and whether its prototype returns a scalar. Without it the kernel refuses LD_ABS and
   * tail calls in subprograms; with it, only in subprograms that return something else.
   */
  funcInfo?: readonly FunctionInfo[];
  /** Section name or attach type (`cgroup/recvmsg4`, `cgroup_skb/egress`): some return ranges depend on it. */
  attachType?: string;
}

/** One function of a program's BTF func_info: where it starts, and whether it returns an int or enum (of at most 8 bytes). */
export interface FunctionInfo { insn: number; scalarReturn: boolean }

/** What the kernel assumes of a global function's argument, from its BTF type. */
export type GlobalArg = { kind: 'scalar' } | { kind: 'ctx' } | { kind: 'mem_or_null'; size: number };

export interface GlobalFunction {
  /** First instruction of the function in `insns`. */
  insn: number;
  name?: string;
  args: readonly GlobalArg[];
  returnsValue: boolean;
}

export interface VerifierOptions {
  mode?: 'priv' | 'unpriv';
  logLevel?: 0 | 1 | 2;
  /** BPF_F_STRICT_ALIGNMENT. */
  strictAlignment?: boolean;
  insnLimit?: number;
  /** BPF_F_SLEEPABLE. */
  sleepable?: boolean;
  /**
   * Start from these register values instead of the program entry's (R1 = context): for checking
   * code fragments (PREVAIL-style tests). Scalars may give a signed range; pointers an offset.
   */
  initialRegisters?: ReadonlyMap<number, InitialRegister>;
}

export interface InitialRegister {
  type: 'scalar' | 'ctx' | 'fp' | 'pkt' | 'pkt_end' | 'pkt_meta';
  /** Scalars: signed [min, max]. */
  range?: readonly [bigint, bigint];
  /** Pointers: fixed offset. */
  offset?: number;
}

export interface VerifierError {
  /** The kernel's log line for the rejection. */
  message: string;
  insn: number;
  /** Plain words: where it happened, the path that led there, the source line. */
  explanation: string;
}

export interface VerifierResult {
  verdict: 'accept' | 'reject';
  error?: VerifierError;
  log: string;
  /** Accepted programs: the helper calls (instruction indexes, ascending) the verifier reached. */
  reachedHelperCalls?: readonly number[];
  /**
   * Accepted programs: the instructions (indexes, ascending) no explored path reached. The kernel
   * never checks them and, before running the program, overwrites each with `ja -1`
   * (sanitize_dead_code); the runtime's load does the same (`loadableInstructions`).
   */
  deadInsns?: readonly number[];
  stats: { processedInsns: number; maxStatesPerInsn: number; totalStates: number; peakStates: number; timeUs: number };
}

function resolveMaps(program: VerifierProgram): (insn: number) => { map: MapSpec; value: boolean; offset: number } | undefined {
  const maps = program.maps ?? [];
  const byName = new Map(maps.map((m) => [m.name, m]));
  const lookup = (key: number | string): MapSpec | undefined => (typeof key === 'number' ? maps[key] : byName.get(key));
  if (program.mapRefs) {
    const refs = new Map(program.mapRefs.map((r) => [r.insn, r]));
    return (insn) => {
      const ref = refs.get(insn);
      if (!ref) return undefined;
      const map = lookup(ref.map);
      return map ? { map, value: ref.kind === 'value', offset: ref.offset ?? 0 } : undefined;
    };
  }
  return (insn) => {
    const first = program.insns[insn]!;
    const second = program.insns[insn + 1];
    const map = maps[first.imm];
    if (!map) return undefined;
    const value = first.src === PseudoLdImm64.MAP_VALUE || first.src === PseudoLdImm64.MAP_IDX_VALUE;
    return { map, value, offset: value ? (second?.imm ?? 0) : 0 };
  };
}

const MAP_PSEUDOS: ReadonlySet<number> = new Set([PseudoLdImm64.MAP_FD, PseudoLdImm64.MAP_IDX, PseudoLdImm64.MAP_VALUE, PseudoLdImm64.MAP_IDX_VALUE]);

/**
 * Like the kernel (resolve_pseudo_ldimm64), every LD_IMM64 reference is resolved before exploring,
 * reachable or not, in program order. Returns whether one of them names an arena map.
 */
function checkLdImm64References(insns: readonly Instruction[], cfg: Cfg, mapAt: VerifierSetup['mapAt'], progName: string): boolean {
  let hasArena = false;
  for (let i = 0; i < insns.length; i++) {
    if (cfg.kinds[i] !== K_LD_IMM64) continue;
    const pseudo = insns[i]!.src;
    if (pseudo === PseudoLdImm64.BTF_ID) checkBtfIdReference(insns[i]!, insns[i + 1]!, i);
    if (!MAP_PSEUDOS.has(pseudo)) continue;
    const ref = mapAt(i);
    if (!ref) throw new Reject(`fd ${insns[i]!.imm} is not pointing to valid bpf_map`, i);
    checkMapProgCompatibility(ref.map, progName, i);
    if (ref.map.type === MapType.arena) hasArena = true;
    if (!ref.value) continue;
    if (ref.offset >>> 0 >= MAX_VAR_OFF) throw new Reject(`direct value offset of ${ref.offset >>> 0} is not allowed`, i);
    // Only single-element array maps (and arenas) give out a value address (kernel map_direct_value_addr).
    const array = ref.map.type === MapType.array;
    if (!array && ref.map.type !== MapType.arena) throw new Reject('no direct value access support for this map type', i);
    if ((array && ref.map.maxEntries !== 1) || ref.offset < 0 || ref.offset >= ref.map.valueSize) {
      throw new Reject(`invalid access to map value pointer, value_size=${ref.map.valueSize} off=${ref.offset >>> 0}`, i);
    }
  }
  return hasArena;
}

/**
 * A ksym's BTF id (kernel check_pseudo_btf_id). Without vmlinux BTF only the one verdict that needs
 * none is given: id 0 of vmlinux (no module BTF fd) is `void`, neither a variable nor a function.
 */
function checkBtfIdReference(first: Instruction, second: Instruction, at: number): void {
  if (first.imm === 0 && second.imm === 0) throw new Reject("pseudo btf_id 0 in ldimm64 isn't KIND_VAR or KIND_FUNC", at);
}

function explain(program: VerifierProgram, reject: Reject, explorer: Explorer | undefined): string {
  const lines: string[] = [];
  lines.push(`The verifier stopped at instruction ${reject.at}: ${reject.line}${reject.detail ? ` (${reject.detail})` : ''}.`);
  const src = program.lineInfo?.get(reject.at) ?? nearestLine(program, reject.at);
  if (src?.line) lines.push(`Source: ${src.fileName ?? ''}${src.lineNumber !== undefined ? `:${src.lineNumber}` : ''}: ${src.line.trim()}`);
  if (explorer && explorer.failedPath.length) {
    const steps = explorer.failedPath.slice(-12).map((s) => `insn ${s.insn} ${s.taken ? 'jumped' : 'fell through'}`);
    lines.push(`Path: ${explorer.failedPath.length > 12 ? '... ' : ''}${steps.join(', ')}.`);
  }
  if (explorer?.failedState) lines.push(`State there: ${formatState(explorer.failedState)}`);
  return lines.join('\n');
}

function nearestLine(program: VerifierProgram, insn: number): { fileName?: string; line?: string; lineNumber?: number } | undefined {
  if (!program.lineInfo) return undefined;
  for (let i = insn; i >= 0; i--) {
    const hit = program.lineInfo.get(i);
    if (hit) return hit;
  }
  return undefined;
}

/** Combined stack of every call chain (frames rounded as the kernel rounds them for the JIT) within 512 bytes. */
function checkCallChains(ctx: VerifierSetup): void {
  const { cfg, insns } = ctx;
  const callees: number[][] = cfg.subprogs.map(() => []);
  for (let i = 0; i < insns.length; i++) {
    if (cfg.kinds[i] === K_CALL_LOCAL) callees[cfg.subprogOf[i]!]!.push(cfg.subprogOf[i + 1 + insns[i]!.imm]!);
  }
  // A JITed program's frames are rounded to 16 bytes (the kernel's round_up_stack_depth with jit_requested).
  const round = (d: number): number => Math.ceil(d / 16) * 16;
  const walk = (s: number, total: number, depth: number): void => {
    // The kernel counts frames from 0 (main) and refuses the call that makes the count reach 8.
    if (depth >= 8) throw new Reject(`the call stack of ${depth} frames is too deep !`, cfg.subprogs[s]!);
    const here = total + round(ctx.stackDepth[s] ?? 0);
    if (here > MAX_STACK) throw new Reject(`combined stack size of ${depth + 1} calls is ${here}. Too large`, cfg.subprogs[s]!);
    for (const c of callees[s]!) walk(c, here, depth + 1);
  };
  walk(0, 0, 0);
}

/** The kernel's exit range for R0, refined by the attach point where it matters. */
function returnRangeFor(info: ProgTypeInfo, attach: string | undefined): readonly [number, number] | undefined {
  const a = attach ?? '';
  if (info.name === 'cgroup_sock_addr') {
    if (/recvmsg|getpeername|getsockname/.test(a)) return [1, 1];
    if (/bind/.test(a)) return [0, 3];
  }
  if (info.name === 'cgroup_skb' && /egress/.test(a)) return [0, 3];
  return info.returnRange;
}

function globalArgReg(arg: GlobalArg, newId: () => number): Reg {
  if (arg.kind === 'scalar') return scalarReg();
  if (arg.kind === 'ctx') return pointerReg('ctx', { b: constBounds(0, 0) });
  return pointerReg('mem', { b: constBounds(0, 0), nullable: true, id: newId(), memSize: arg.size });
}

/** Tracing attach points that never sleep: raw tracepoints (BTF-enabled or not) run with preemption off. */
const RAW_TRACEPOINT_ATTACH = /^(trace_raw_tp$|tp_btf(\/|$)|raw_tp(\.w)?(\/|$)|raw_tracepoint(\.w)?(\/|$))/;

/** The kernel's can_be_sleepable(): tracing programs sleep only at fentry/fexit/fmod_ret/iter, never at a raw tracepoint. */
function canBeSleepable(info: ProgTypeInfo, attach: string | undefined): boolean {
  if (info.name === 'tracing') return attach === undefined || !RAW_TRACEPOINT_ATTACH.test(attach);
  return ['lsm', 'struct_ops', 'syscall', 'kprobe'].includes(info.name);
}

/** Statically verify one program the way Linux's verifier does. Never throws on a bad program. */
export function verify(program: VerifierProgram, options: VerifierOptions = {}): VerifierResult {
  // performance.now(), not process.hrtime: the verifier runs in browsers too.
  const started = performance.now();
  const info: ProgTypeInfo | undefined = progTypeInfo(program.type);
  if (!info) throw new TsbpfError('verifier/unknown-type', `unknown program type ${program.type}`);
  const logLevel = options.logLevel ?? 0;
  let idGen = 0;
  let explorer: Explorer | undefined;
  const elapsed = (): number => Math.round((performance.now() - started) * 1000);
  const emptyStats = { processedInsns: 0, maxStatesPerInsn: 0, totalStates: 0, peakStates: 0 };
  try {
    const unpriv = options.mode === 'unpriv';
    if (unpriv && program.insns.length > 4096) throw new Reject(`BPF program is too large. Processed ${program.insns.length} insn`, 0);
    if (options.sleepable && !canBeSleepable(info, program.attachType)) {
      throw new Reject('Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable', 0);
    }
    const mapAt = resolveMaps(program);
    const cfg = buildCfg(program.insns, unpriv, (i) => { const ref = mapAt(i); return ref && !ref.value ? ref.map : undefined; }, program.funcInfo);
    const hasArena = checkLdImm64References(program.insns, cfg, mapAt, info.name);
    const ctx: VerifierSetup = {
      insns: program.insns, cfg, prog: info, unpriv, returnRange: returnRangeFor(info, program.attachType), strictAlignment: options.strictAlignment ?? false,
      sleepable: options.sleepable ?? false,
      mapAt, hasArena, newId: () => ++idGen, stackDepth: [],
      ...(program.globalFunctions ? { globalFunctionEntries: new Set(program.globalFunctions.map((f) => f.insn)) } : {}),
      ...(program.attachType === undefined ? {} : { attachType: program.attachType }),
    };
    explorer = new Explorer(ctx, {
      logLevel, insnLimit: options.insnLimit ?? INSN_LIMIT, ...(options.initialRegisters ? { initialRegisters: options.initialRegisters } : {}),
      ...(logLevel && program.lineInfo ? { lineInfo: program.lineInfo } : {}),
    });
    explorer.run();
    for (const fn of program.globalFunctions ?? []) {
      if (fn.insn <= 0 || fn.insn >= program.insns.length) continue;
      const args = fn.args.map((a) => globalArgReg(a, ctx.newId));
      const separate = new Explorer({ ...ctx, returnRange: undefined }, {
        logLevel: 0, insnLimit: options.insnLimit ?? INSN_LIMIT, globalEntry: { insn: fn.insn, args, returnsValue: fn.returnsValue },
      });
      try {
        separate.run();
      } finally {
        explorer.stats.processedInsns += separate.stats.processedInsns;
      }
      const reached = explorer.reached;
      separate.reached.forEach((hit, at) => { if (hit) reached[at] = 1; });
    }
    checkCallChains(ctx);
    const stats = { ...explorer.stats, timeUs: elapsed() };
    // Level 1 keeps only a failing path's trace: a program that passes logs its statistics alone.
    const log = [...(logLevel === 2 ? explorer.logLines() : []), summary(stats)].join('\n') + '\n';
    const reachedHelperCalls: number[] = [];
    const deadInsns: number[] = [];
    explorer.reached.forEach((hit, at) => {
      const op = cfg.ops[at];
      if (!hit) deadInsns.push(at);
      else if (op?.kind === 'call' && op.target === 'helper') reachedHelperCalls.push(at);
    });
    return { verdict: 'accept', log: logLevel ? log : '', reachedHelperCalls, deadInsns, stats };
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    const stats = { ...(explorer?.stats ?? emptyStats), timeUs: elapsed() };
    // Refused before the walk: level 2 has printed the subprograms already.
    const body = explorer?.logLines() ?? (logLevel === 2 ? subprogramLines(program.insns) : []);
    const log = [...body, ...(e.detail ? [e.detail] : []), e.line, ...e.after, summary(stats)].join('\n') + '\n';
    return {
      verdict: 'reject',
      error: { message: e.line, insn: e.at, explanation: explain(program, e, explorer) },
      log,
      stats,
    };
  }
}

function summary(s: { processedInsns: number; maxStatesPerInsn: number; totalStates: number; peakStates: number }): string {
  return `processed ${s.processedInsns} insns (limit ${INSN_LIMIT}) max_states_per_insn ${s.maxStatesPerInsn} total_states ${s.totalStates} peak_states ${s.peakStates} mark_read 0`;
}
