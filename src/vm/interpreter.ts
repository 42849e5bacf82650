import type { Instruction } from '../isa/instruction.js';
import { HelperStatus, REGFILE_BYTES, argU32, type HelperCall, type HelperTable } from './abi.js';
import {
  EngineResult, ExecutionError, ExecutionLimitError, MAX_CALL_FRAMES, MAX_TAIL_CALLS, STACK_FRAME_BYTES,
  type Engine, type ExecutableProgram, type LoadOptions, type RunOptions, type RunResult,
} from './engine.js';
import {
  add64, bswap16, bswap32, mul64, neg64, sar64, sdiv64, shl64, shr64, smod64, splitValue, sub64,
  udiv64, umod64,
} from './int64.js';
import {
  ATOMIC_FETCH, AtomicKind, OP_MASK, decodeProgram,
} from './interpreter-decode.js';
import { PRIME_HELPER_IDS, PRIME_NEST_HELPER_ID, PRIME_PACKET_BYTES, primingProgram } from './interpreter-prime.js';
import { AddressSpace, MemoryAccessError, type Region } from './memory.js';

/**
 * The eBPF interpreter: one loop, one switch over pre-decoded opcodes, registers as int32 (lo, hi)
 * pairs in an Int32Array (r_i at 2i, 2i+1), no BigInt and no allocation per instruction. Memory is the
 * shared AddressSpace, read and written through its DataView; in checked mode every access is checked
 * against the space's regions first. Before the first program, every case of the loop runs once
 * (interpreter-prime.ts), so V8 compiles the loop once with feedback for all of them.
 */

/** Where LD_ABS / LD_IND read: a byte window of the address space. */
export interface PacketWindow {
  start: number;
  length: number;
}

export interface InterpreterRunOptions<Env = unknown> extends RunOptions<Env> {
  /**
   * The packet LD_ABS/LD_IND read. Default: the region holding r6 (the context, as in the kernel),
   * from r6 to the region's end. The conformance runner passes the `-- mem` buffer.
   */
  packet?: PacketWindow;
}

const DEFAULT_BUDGET = 2 ** 53;
/** Largest budget slice counted down as a small integer. */
const FUEL_CHUNK = 0x3fffffff;
/** The kernel's may_goto allowance per program run (BPF_MAX_LOOPS). */
const MAY_GOTO_LIMIT = 8 * 1024 * 1024;
/** Per saved frame: r6..r10 (10 words) and the return slot. */
const FRAME_WORDS = 11;
const STACK_BYTES = MAX_CALL_FRAMES * STACK_FRAME_BYTES;
const STACK_GUARD_BYTES = 64;

export class InterpretedProgram<Env = unknown> implements ExecutableProgram<Env> {
  readonly engine = 'interp' as const;
  readonly insns: readonly Instruction[];
  readonly name: string | undefined;
  /** Pre-decoded slots (see interpreter-decode.ts). */
  readonly code: Int32Array;
  readonly helpers: HelperTable<Env>;
  readonly checked: boolean;
  readonly space: AddressSpace;
  private stack: Region | undefined;
  private regfileRegion: Region | undefined;
  private guards: Region[] = [];
  /** Registers, saved frames: reused across runs. */
  private readonly regs = new Int32Array(22);
  private readonly frames = new Int32Array(MAX_CALL_FRAMES * FRAME_WORDS);
  private state: RunState<Env> | undefined;
  private busy = false;

  constructor(insns: readonly Instruction[], options: LoadOptions<Env>) {
    this.insns = insns;
    this.name = options.name;
    this.code = decodeProgram(insns).code;
    this.helpers = options.helpers ?? [];
    this.checked = options.checked ?? false;
    this.space = options.space;
    // Read-only guards on both sides of the stack, so that in checked mode a store just past either
    // end is caught instead of landing in a neighbouring region.
    const stackName = options.name ? `stack of ${options.name}` : 'stack';
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard below ${stackName}`, false));
    this.stack = this.space.allocate(STACK_BYTES, 'stack', stackName);
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard above ${stackName}`, false));
    this.regfileRegion = this.space.allocate(REGFILE_BYTES, 'scratch', 'register file');
  }

  private get live(): { stack: Region; regfile: Region } {
    if (this.stack === undefined || this.regfileRegion === undefined) {
      throw new ExecutionError('vm/disposed', `program${this.name ? ' ' + this.name : ''} was disposed`, 0);
    }
    return { stack: this.stack, regfile: this.regfileRegion };
  }

  /** `repeat` runs of `run(options)`: the interpreter's per-run setup is small beside its execution. */
  runRepeated(options: InterpreterRunOptions<Env>, repeat: number, beforeRun?: () => void): RunResult {
    for (let run = 1; ; run++) {
      beforeRun?.();
      const result = this.run(options);
      if (run >= repeat) return result;
    }
  }

  run(options: InterpreterRunOptions<Env> = {}): RunResult {
    const { stack, regfile } = this.live;
    // Per-run state is reused (runs of small programs are dominated by setup otherwise); a run
    // started from inside a helper of a run of this same program gets its own.
    const reentrant = this.busy;
    const R = reentrant ? new Int32Array(22) : this.regs;
    const frames = reentrant ? new Int32Array(MAX_CALL_FRAMES * FRAME_WORDS) : this.frames;
    const ownStack = reentrant ? this.space.allocate(STACK_BYTES, 'stack', `nested stack of ${this.name ?? 'program'}`) : undefined;
    const run = reentrant
      ? this.newState(regfile.start, ownStack!.start + STACK_BYTES, R, frames)
      : this.state ??= this.newState(regfile.start, stack.start + STACK_BYTES, R, frames);
    R.fill(0);
    const args = options.args;
    if (args !== undefined) {
      for (let i = 0; i < 5 && i < args.length; i++) setRegister(R, i + 1, args[i]!);
    }
    R[20] = run.stackTop;
    run.program = this;
    run.budget = options.budget ?? DEFAULT_BUDGET;
    run.packet = options.packet;
    run.executed = 0;
    run.depth = 0;
    run.call.env = options.env as Env;
    run.call.tailCallTarget = undefined;
    this.busy = true;
    try {
      execute(run, R, frames, 0, 0);
    } finally {
      if (!reentrant) this.busy = false;
      if (ownStack !== undefined) this.space.release(ownStack);
    }
    return new EngineResult(run.r0lo, run.r0hi, run.executed);
  }

  private newState(regfile: number, stackTop: number, R: Int32Array, frames: Int32Array): RunState<Env> {
    const call: HelperCall<Env> = { space: this.space, regfile, insn: 0, env: undefined as Env, tailCallTarget: undefined };
    const run: RunState<Env> = {
      program: this, call, budget: DEFAULT_BUDGET, packet: undefined, executed: 0, depth: 0, r0lo: 0, r0hi: 0, stackTop, saves: [],
    };
    call.invoke = (target, callbackArgs) => invokeCallback(run, R, frames, target, callbackArgs);
    return run;
  }

  dispose(): void {
    if (this.stack) this.space.release(this.stack);
    if (this.regfileRegion) this.space.release(this.regfileRegion);
    for (const guard of this.guards) this.space.release(guard);
    this.guards = [];
    this.stack = undefined;
    this.regfileRegion = undefined;
    this.state = undefined;
  }
}

interface RunState<Env> {
  program: InterpretedProgram<Env>;
  /** Register save areas for callbacks, by depth. */
  readonly saves: Int32Array[];
  readonly call: HelperCall<Env>;
  budget: number;
  packet: PacketWindow | undefined;
  /** Instructions executed so far (kept current across helper calls, for nested callbacks). */
  executed: number;
  /** Call depth at the current helper call (callbacks run one frame deeper). */
  depth: number;
  r0lo: number;
  r0hi: number;
  readonly stackTop: number;
}

export const interpreter: Engine = {
  name: 'interp',
  load<Env>(insns: readonly Instruction[], options: LoadOptions<Env>): ExecutableProgram<Env> {
    if (!primed) primeRunLoop();
    return new InterpretedProgram<Env>(insns, options);
  },
};

let primed = false;
/** Runs of the priming program per mode: enough for V8 to allocate the loop's feedback and fill it. */
const PRIMING_RUNS = 4;

/**
 * Once per process, before the first program: every case of the run loop runs a few times, unchecked
 * and checked, in a small address space of its own (interpreter-prime.ts says why).
 */
function primeRunLoop(): void {
  primed = true;
  // One page: the first allocation grows the memory, which detaches its buffer. V8 then drops, once
  // per process, every compiled function that relied on no buffer ever being detached; this way it
  // happens now, not to a compiled run loop when some address space grows later.
  const space = new AddressSpace({ initialPages: 1, maximumPages: 2 });
  const { insns, callbackSlot } = primingProgram();
  const nest = (call: HelperCall): void => {
    const n = argU32(call, 1);
    if (n > 0) call.invoke?.(callbackSlot, [n - 1]);
  };
  const helperTables: HelperTable[] = [
    Object.assign([], { [PRIME_HELPER_IDS[0]]: () => HelperStatus.CONTINUE, [PRIME_HELPER_IDS[1]]: () => undefined, [PRIME_NEST_HELPER_ID]: nest }),
    [undefined, () => HelperStatus.CONTINUE, () => undefined, nest],
  ];
  const { start, size: length } = space.allocate(PRIME_PACKET_BYTES, 'packet', 'priming packet');
  // The helper tables, env and packet objects differ in shape between the two runs: the fields that
  // hold them then take any object from the start, and a caller's own objects change no field type
  // later (which would throw away the compiled loop as surely as a deopt).
  const options: InterpreterRunOptions<unknown>[] = [
    { packet: { start, length }, env: { priming: true } },
    { packet: { length, start }, env: { checked: true, priming: true } },
  ];
  options.forEach((option, k) => {
    const program = new InterpretedProgram(insns, { space, helpers: helperTables[k]!, checked: k === 1, name: 'priming' });
    program.runRepeated(option, PRIMING_RUNS);
    program.dispose();
  });
}

/** r`n` = a safe integer (negatives as two's complement) or a bigint. */
function setRegister(R: Int32Array, n: number, value: number | bigint): void {
  if (typeof value === 'number' && value >= -0x80000000 && value <= 0xffffffff && Number.isInteger(value)) {
    R[2 * n] = value;
    R[2 * n + 1] = value < 0 ? -1 : 0;
    return;
  }
  const { lo, hi } = splitValue(value);
  R[2 * n] = lo;
  R[2 * n + 1] = hi;
}

/** Checked mode: the full 64-bit address base + off must lie inside one region. */
function checkAccess(space: AddressSpace, lo: number, hi: number, off: number, size: number, write: boolean, insn: number): void {
  let a = (lo >>> 0) + off;
  let h = hi | 0;
  if (a > 0xffffffff) { a -= 4294967296; h = (h + 1) | 0; }
  else if (a < 0) { a += 4294967296; h = (h - 1) | 0; }
  space.check(a, h, size, write, insn);
}

/** Unsigned 64-bit a < b on pairs. */
function ult(al: number, ah: number, bl: number, bh: number): boolean {
  return ah === bh ? (al >>> 0) < (bl >>> 0) : (ah >>> 0) < (bh >>> 0);
}
/** Signed 64-bit a < b on pairs. */
function slt(al: number, ah: number, bl: number, bh: number): boolean {
  return ah === bh ? (al >>> 0) < (bl >>> 0) : ah < bh;
}

/**
 * A callback helper (bpf_loop, for_each_map_elem ...) runs the BPF function at `target` one frame
 * deeper than the helper call, with r1..r5 = args; the caller's registers are restored afterwards.
 */
function invokeCallback<Env>(run: RunState<Env>, R: Int32Array, F: Int32Array, target: number, args: ArrayLike<number>): number {
  const program = run.program;
  const depth = run.depth + 1;
  const insn = run.call.insn;
  if (!Number.isInteger(target) || target < 0 || target >= program.insns.length) {
    throw new ExecutionError('vm/bad-callback', `callback target ${target} is outside the program`, insn);
  }
  if (depth >= MAX_CALL_FRAMES) throw new ExecutionError('vm/call-depth', `call depth exceeds ${MAX_CALL_FRAMES} frames`, insn);
  // One save area per depth, reused: callbacks run in tight loops (bpf_loop) and must not allocate.
  const saved = (run.saves[depth] ??= new Int32Array(R.length));
  saved.set(R);
  for (let i = 0; i < 5; i++) setRegister(R, i + 1, i < args.length ? args[i]! : 0);
  R[20] = saved[20]! - STACK_FRAME_BYTES;
  try {
    execute(run, R, F, target, depth);
    return (run.r0hi | 0) * 4294967296 + (run.r0lo >>> 0);
  } finally {
    R.set(saved);
    run.depth = depth - 1;
    run.call.insn = insn;
  }
}

/**
 * The run loop, from slot `startPc` at call depth `baseDepth` (0 for a program run, deeper for a
 * callback). `R` holds the registers, `F` the saved frames. Returns when the function at the base
 * depth exits (r0 in run.r0lo/r0hi); throws ExecutionError, ExecutionLimitError or MemoryAccessError.
 */
function execute<Env>(run: RunState<Env>, R: Int32Array, F: Int32Array, startPc: number, baseDepth: number): void {
  let program = run.program;
  let P = program.code;
  let helpers = program.helpers;
  const space = program.space;
  const checked = program.checked;
  const budget = run.budget;
  let view = space.view;
  // The budget is spent in int32 chunks of `fuel` so the per-instruction count stays a small-integer
  // decrement; instructions executed so far = base + chunk - fuel.
  let base = run.executed;
  let chunk = Math.max(0, Math.min(budget - base, FUEL_CHUNK));
  let fuel = chunk;
  let pc = startPc;
  let depth = baseDepth;
  let mayGoto = MAY_GOTO_LIMIT;
  let tailCalls = 0;
  // The packet window LD_ABS/LD_IND read, resolved on first use.
  let packetStart = run.packet ? run.packet.start : -1;
  let packetLength = run.packet ? run.packet.length : 0;

  try {
    for (;;) {
      if (fuel === 0) {
        base += chunk;
        if (base >= budget) throw new ExecutionLimitError(budget, pc);
        chunk = fuel = Math.min(budget - base, FUEL_CHUNK);
      }
      fuel--;
      const b = pc << 2;
      const w = P[b]!;
      const d = (w >>> 10) & 0x1f; // DST_SHIFT, REG_MASK
      const s = w >>> 15; // SRC_SHIFT
      pc++;
      switch (w & 0x3ff) { // OP_MASK; literal case labels let V8 build a jump table
        // ---- ALU64, immediate operand (sign-extended) ----
        case 0x07: add64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x17: sub64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x27: mul64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x37: udiv64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x47: R[d] |= P[b + 2]!; R[d + 1] |= P[b + 3]!; break;
        case 0x57: R[d] &= P[b + 2]!; R[d + 1] &= P[b + 3]!; break;
        case 0x67: shl64(R, d, R[d]!, R[d + 1]!, P[b + 2]! & 63); break;
        case 0x77: shr64(R, d, R[d]!, R[d + 1]!, P[b + 2]! & 63); break;
        case 0x87: neg64(R, d, R[d]!, R[d + 1]!); break;
        case 0x97: umod64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0xa7: R[d] ^= P[b + 2]!; R[d + 1] ^= P[b + 3]!; break;
        case 0xb7: R[d] = P[b + 2]!; R[d + 1] = P[b + 3]!; break;
        case 0xc7: sar64(R, d, R[d]!, R[d + 1]!, P[b + 2]! & 63); break;
        // ---- ALU64, register operand ----
        case 0x0f: add64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x1f: sub64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x2f: mul64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x3f: udiv64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x4f: R[d] |= R[s]!; R[d + 1] |= R[s + 1]!; break;
        case 0x5f: R[d] &= R[s]!; R[d + 1] &= R[s + 1]!; break;
        case 0x6f: shl64(R, d, R[d]!, R[d + 1]!, R[s]! & 63); break;
        case 0x7f: shr64(R, d, R[d]!, R[d + 1]!, R[s]! & 63); break;
        case 0x9f: umod64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0xaf: R[d] ^= R[s]!; R[d + 1] ^= R[s + 1]!; break;
        case 0xbf: R[d] = R[s]!; R[d + 1] = R[s + 1]!; break;
        case 0xcf: sar64(R, d, R[d]!, R[d + 1]!, R[s]! & 63); break;
        case 0x100: /* SDIV64_K */ sdiv64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x101: /* SDIV64_X */ sdiv64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x102: /* SMOD64_K */ smod64(R, d, R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!); break;
        case 0x103: /* SMOD64_X */ smod64(R, d, R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); break;
        case 0x108: /* MOVSX64_8 */ { const v = (R[s]! << 24) >> 24; R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x109: /* MOVSX64_16 */ { const v = (R[s]! << 16) >> 16; R[d] = v; R[d + 1] = v >> 31; break; }
        case 0x10a: /* MOVSX64_32 */ { const v = R[s]!; R[d] = v; R[d + 1] = v >> 31; break; }
        // ---- ALU32: every result zero-extends ----
        case 0x04: R[d] = R[d]! + P[b + 2]!; R[d + 1] = 0; break;
        case 0x14: R[d] = R[d]! - P[b + 2]!; R[d + 1] = 0; break;
        case 0x24: R[d] = Math.imul(R[d]!, P[b + 2]!); R[d + 1] = 0; break;
        case 0x34: { const k = P[b + 2]! >>> 0; R[d] = k === 0 ? 0 : (R[d]! >>> 0) / k; R[d + 1] = 0; break; }
        case 0x44: R[d] |= P[b + 2]!; R[d + 1] = 0; break;
        case 0x54: R[d] &= P[b + 2]!; R[d + 1] = 0; break;
        case 0x64: R[d] <<= P[b + 2]!; R[d + 1] = 0; break;
        case 0x74: R[d] = R[d]! >>> P[b + 2]!; R[d + 1] = 0; break;
        case 0x84: R[d] = -R[d]!; R[d + 1] = 0; break;
        case 0x94: { const k = P[b + 2]! >>> 0; if (k !== 0) R[d] = (R[d]! >>> 0) % k; R[d + 1] = 0; break; }
        case 0xa4: R[d] ^= P[b + 2]!; R[d + 1] = 0; break;
        case 0xb4: R[d] = P[b + 2]!; R[d + 1] = 0; break;
        case 0xc4: R[d] >>= P[b + 2]!; R[d + 1] = 0; break;
        case 0x0c: R[d] = R[d]! + R[s]!; R[d + 1] = 0; break;
        case 0x1c: R[d] = R[d]! - R[s]!; R[d + 1] = 0; break;
        case 0x2c: R[d] = Math.imul(R[d]!, R[s]!); R[d + 1] = 0; break;
        case 0x3c: { const k = R[s]! >>> 0; R[d] = k === 0 ? 0 : (R[d]! >>> 0) / k; R[d + 1] = 0; break; }
        case 0x4c: R[d] |= R[s]!; R[d + 1] = 0; break;
        case 0x5c: R[d] &= R[s]!; R[d + 1] = 0; break;
        case 0x6c: R[d] <<= R[s]!; R[d + 1] = 0; break;
        case 0x7c: R[d] = R[d]! >>> R[s]!; R[d + 1] = 0; break;
        case 0x9c: { const k = R[s]! >>> 0; if (k !== 0) R[d] = (R[d]! >>> 0) % k; R[d + 1] = 0; break; }
        case 0xac: R[d] ^= R[s]!; R[d + 1] = 0; break;
        case 0xbc: R[d] = R[s]!; R[d + 1] = 0; break;
        case 0xcc: R[d] >>= R[s]!; R[d + 1] = 0; break;
        case 0x104: /* SDIV32_K */ { const k = P[b + 2]!; R[d] = k === 0 ? 0 : R[d]! / k; R[d + 1] = 0; break; }
        case 0x105: /* SDIV32_X */ { const k = R[s]!; R[d] = k === 0 ? 0 : R[d]! / k; R[d + 1] = 0; break; }
        case 0x106: /* SMOD32_K */ { const k = P[b + 2]!; if (k !== 0) R[d] = R[d]! % k; R[d + 1] = 0; break; }
        case 0x107: /* SMOD32_X */ { const k = R[s]!; if (k !== 0) R[d] = R[d]! % k; R[d + 1] = 0; break; }
        case 0x10b: /* MOVSX32_8 */ R[d] = (R[s]! << 24) >> 24; R[d + 1] = 0; break;
        case 0x10c: /* MOVSX32_16 */ R[d] = (R[s]! << 16) >> 16; R[d + 1] = 0; break;
        // ---- Byte order ----
        case 0x10d: /* LE16 */ R[d] &= 0xffff; R[d + 1] = 0; break;
        case 0x10e: /* LE32 */ R[d + 1] = 0; break;
        case 0x10f: /* LE64 */ break;
        case 0x110: /* BE16 */ R[d] = bswap16(R[d]!); R[d + 1] = 0; break;
        case 0x111: /* BE32 */ R[d] = bswap32(R[d]!); R[d + 1] = 0; break;
        case 0x112: /* BE64 */ { const lo = R[d]!; R[d] = bswap32(R[d + 1]!); R[d + 1] = bswap32(lo); break; }
        // ---- Loads ----
        case 0x18: R[d] = P[b + 2]!; R[d + 1] = P[b + 3]!; pc++; break;
        case 0x61: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 4, false, pc - 1);
          R[d] = view.getInt32((R[s]! + off) >>> 0, true); R[d + 1] = 0; break;
        }
        case 0x69: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 2, false, pc - 1);
          R[d] = view.getUint16((R[s]! + off) >>> 0, true); R[d + 1] = 0; break;
        }
        case 0x71: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 1, false, pc - 1);
          R[d] = view.getUint8((R[s]! + off) >>> 0); R[d + 1] = 0; break;
        }
        case 0x79: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 8, false, pc - 1);
          const a = (R[s]! + off) >>> 0;
          R[d] = view.getInt32(a, true); R[d + 1] = view.getInt32(a + 4, true); break;
        }
        case 0x81: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 4, false, pc - 1);
          const v = view.getInt32((R[s]! + off) >>> 0, true); R[d] = v; R[d + 1] = v >> 31; break;
        }
        case 0x89: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 2, false, pc - 1);
          const v = view.getInt16((R[s]! + off) >>> 0, true); R[d] = v; R[d + 1] = v >> 31; break;
        }
        case 0x91: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, 1, false, pc - 1);
          const v = view.getInt8((R[s]! + off) >>> 0); R[d] = v; R[d + 1] = v >> 31; break;
        }
        // ---- Stores of an immediate ----
        case 0x62: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 4, true, pc - 1);
          view.setInt32((R[d]! + off) >>> 0, P[b + 2]!, true); break;
        }
        case 0x6a: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 2, true, pc - 1);
          view.setInt16((R[d]! + off) >>> 0, P[b + 2]!, true); break;
        }
        case 0x72: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 1, true, pc - 1);
          view.setInt8((R[d]! + off) >>> 0, P[b + 2]!); break;
        }
        case 0x7a: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 8, true, pc - 1);
          const a = (R[d]! + off) >>> 0;
          view.setInt32(a, P[b + 2]!, true); view.setInt32(a + 4, P[b + 3]!, true); break;
        }
        // ---- Stores of a register ----
        case 0x63: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 4, true, pc - 1);
          view.setInt32((R[d]! + off) >>> 0, R[s]!, true); break;
        }
        case 0x6b: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 2, true, pc - 1);
          view.setInt16((R[d]! + off) >>> 0, R[s]!, true); break;
        }
        case 0x73: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 1, true, pc - 1);
          view.setInt8((R[d]! + off) >>> 0, R[s]!); break;
        }
        case 0x7b: {
          const off = P[b + 1]!;
          if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, 8, true, pc - 1);
          const a = (R[d]! + off) >>> 0;
          view.setInt32(a, R[s]!, true); view.setInt32(a + 4, R[s + 1]!, true); break;
        }
        case 0x115: /* ATOMIC */
          atomic(R, view, space, checked, d, s, P[b + 1]!, P[b + 2]!, P[b + 3]!, pc - 1);
          break;
        // ---- Packet loads (LD_ABS / LD_IND): big-endian, out of bounds ends the program with 0 ----
        case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: {
          const op = w & OP_MASK;
          const size = (op & 0x18) === 0x00 ? 4 : (op & 0x18) === 0x08 ? 2 : 1;
          const off = (op & 0xe0) === 0x40 ? (R[s]! + P[b + 2]!) | 0 : P[b + 2]!;
          if (packetStart < 0) {
            const region = space.regionAt(R[12]! >>> 0);
            if (region === undefined || R[13] !== 0) {
              throw new ExecutionError('vm/no-packet', 'LD_ABS/LD_IND: r6 does not point at a context or packet', pc - 1);
            }
            packetStart = R[12]! >>> 0;
            packetLength = region.start + region.size - packetStart;
          }
          if (off < 0 || off + size > packetLength) {
            run.r0lo = 0; run.r0hi = 0; run.executed = base + chunk - fuel;
            return;
          }
          const a = packetStart + off;
          R[0] = size === 4 ? view.getInt32(a, false) : size === 2 ? view.getUint16(a, false) : view.getUint8(a);
          R[1] = 0;
          break;
        }
        // ---- Jumps ----
        case 0x05: pc = P[b + 1]!; break;
        case 0x06: pc = P[b + 1]!; break;
        case 0xe5:
          // may_goto: fall through while the allowance lasts, then take the jump.
          if (mayGoto === 0) pc = P[b + 1]!; else mayGoto--;
          break;
        case 0x15: if (R[d] === P[b + 2] && R[d + 1] === P[b + 3]) pc = P[b + 1]!; break;
        case 0x1d: if (R[d] === R[s] && R[d + 1] === R[s + 1]) pc = P[b + 1]!; break;
        case 0x55: if (R[d] !== P[b + 2] || R[d + 1] !== P[b + 3]) pc = P[b + 1]!; break;
        case 0x5d: if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) pc = P[b + 1]!; break;
        case 0x45: if ((R[d]! & P[b + 2]!) !== 0 || (R[d + 1]! & P[b + 3]!) !== 0) pc = P[b + 1]!; break;
        case 0x4d: if ((R[d]! & R[s]!) !== 0 || (R[d + 1]! & R[s + 1]!) !== 0) pc = P[b + 1]!; break;
        case 0x25: if (ult(P[b + 2]!, P[b + 3]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0x2d: if (ult(R[s]!, R[s + 1]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0x35: if (!ult(R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!)) pc = P[b + 1]!; break;
        case 0x3d: if (!ult(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!)) pc = P[b + 1]!; break;
        case 0xa5: if (ult(R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!)) pc = P[b + 1]!; break;
        case 0xad: if (ult(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!)) pc = P[b + 1]!; break;
        case 0xb5: if (!ult(P[b + 2]!, P[b + 3]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0xbd: if (!ult(R[s]!, R[s + 1]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0x65: if (slt(P[b + 2]!, P[b + 3]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0x6d: if (slt(R[s]!, R[s + 1]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0x75: if (!slt(R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!)) pc = P[b + 1]!; break;
        case 0x7d: if (!slt(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!)) pc = P[b + 1]!; break;
        case 0xc5: if (slt(R[d]!, R[d + 1]!, P[b + 2]!, P[b + 3]!)) pc = P[b + 1]!; break;
        case 0xcd: if (slt(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!)) pc = P[b + 1]!; break;
        case 0xd5: if (!slt(P[b + 2]!, P[b + 3]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        case 0xdd: if (!slt(R[s]!, R[s + 1]!, R[d]!, R[d + 1]!)) pc = P[b + 1]!; break;
        // ---- JMP32: low halves only ----
        case 0x16: if (R[d] === P[b + 2]) pc = P[b + 1]!; break;
        case 0x1e: if (R[d] === R[s]) pc = P[b + 1]!; break;
        case 0x56: if (R[d] !== P[b + 2]) pc = P[b + 1]!; break;
        case 0x5e: if (R[d] !== R[s]) pc = P[b + 1]!; break;
        case 0x46: if ((R[d]! & P[b + 2]!) !== 0) pc = P[b + 1]!; break;
        case 0x4e: if ((R[d]! & R[s]!) !== 0) pc = P[b + 1]!; break;
        case 0x26: if ((R[d]! >>> 0) > (P[b + 2]! >>> 0)) pc = P[b + 1]!; break;
        case 0x2e: if ((R[d]! >>> 0) > (R[s]! >>> 0)) pc = P[b + 1]!; break;
        case 0x36: if ((R[d]! >>> 0) >= (P[b + 2]! >>> 0)) pc = P[b + 1]!; break;
        case 0x3e: if ((R[d]! >>> 0) >= (R[s]! >>> 0)) pc = P[b + 1]!; break;
        case 0xa6: if ((R[d]! >>> 0) < (P[b + 2]! >>> 0)) pc = P[b + 1]!; break;
        case 0xae: if ((R[d]! >>> 0) < (R[s]! >>> 0)) pc = P[b + 1]!; break;
        case 0xb6: if ((R[d]! >>> 0) <= (P[b + 2]! >>> 0)) pc = P[b + 1]!; break;
        case 0xbe: if ((R[d]! >>> 0) <= (R[s]! >>> 0)) pc = P[b + 1]!; break;
        case 0x66: if (R[d]! > P[b + 2]!) pc = P[b + 1]!; break;
        case 0x6e: if (R[d]! > R[s]!) pc = P[b + 1]!; break;
        case 0x76: if (R[d]! >= P[b + 2]!) pc = P[b + 1]!; break;
        case 0x7e: if (R[d]! >= R[s]!) pc = P[b + 1]!; break;
        case 0xc6: if (R[d]! < P[b + 2]!) pc = P[b + 1]!; break;
        case 0xce: if (R[d]! < R[s]!) pc = P[b + 1]!; break;
        case 0xd6: if (R[d]! <= P[b + 2]!) pc = P[b + 1]!; break;
        case 0xde: if (R[d]! <= R[s]!) pc = P[b + 1]!; break;
        // ---- Calls and exit ----
        case 0x113: /* CALL_LOCAL */ {
          if (depth + 1 >= MAX_CALL_FRAMES) {
            throw new ExecutionError('vm/call-depth', `call depth exceeds ${MAX_CALL_FRAMES} frames`, pc - 1);
          }
          const f = depth * FRAME_WORDS;
          for (let i = 0; i < 10; i++) F[f + i] = R[12 + i]!;
          F[f + 10] = pc;
          depth++;
          R[20] = R[20]! - STACK_FRAME_BYTES;
          pc = P[b + 1]!;
          break;
        }
        case 0x95: {
          if (depth === baseDepth) {
            run.r0lo = R[0]!; run.r0hi = R[1]!; run.executed = base + chunk - fuel;
            return;
          }
          depth--;
          const f = depth * FRAME_WORDS;
          for (let i = 0; i < 10; i++) R[12 + i] = F[f + i]!;
          pc = F[f + 10]!;
          break;
        }
        case 0x85: case 0x8d: {
          let id: number;
          if ((w & OP_MASK) === 0x85) id = P[b + 2]!;
          else {
            // callx: the register holds a helper id (the bpf_conformance / uBPF convention).
            if (R[d + 1] !== 0) throw new ExecutionError('vm/bad-callx', `callx target 0x${(R[d + 1]! >>> 0).toString(16)}${(R[d]! >>> 0).toString(16).padStart(8, '0')} is not a helper id`, pc - 1);
            id = R[d]!;
          }
          const helper = helpers[id];
          if (helper === undefined) throw new ExecutionError('vm/unknown-helper', `call to unknown helper ${id >>> 0}`, pc - 1);
          const call = run.call;
          const rf = call.regfile;
          for (let i = 1; i <= 5; i++) {
            view.setInt32(rf + 8 * i, R[2 * i]!, true);
            view.setInt32(rf + 8 * i + 4, R[2 * i + 1]!, true);
          }
          view.setInt32(rf, 0, true);
          view.setInt32(rf + 4, 0, true);
          call.insn = pc - 1;
          call.tailCallTarget = undefined;
          run.executed = base + chunk - fuel;
          run.depth = depth;
          const status = helper(call);
          // Callbacks the helper ran counted their instructions; a helper may grow the memory.
          base = run.executed;
          chunk = fuel = Math.max(0, Math.min(budget - base, FUEL_CHUNK));
          view = space.view;
          R[0] = view.getInt32(rf, true);
          R[1] = view.getInt32(rf + 4, true);
          // Packet-changing helpers (vlan push, change_tail ...) move the skb's data: re-read the window.
          if (run.packet) {
            packetStart = run.packet.start;
            packetLength = run.packet.length;
          }
          if (status === HelperStatus.STOP) {
            run.r0lo = R[0]!; run.r0hi = R[1]!; run.executed = base + chunk - fuel;
            return;
          }
          if (status === HelperStatus.TAIL_CALL && tailCalls < MAX_TAIL_CALLS && baseDepth === 0) {
            const target = call.tailCallTarget;
            if (!(target instanceof InterpretedProgram) || target.space !== space) {
              throw new ExecutionError('vm/bad-tail-call', 'tail-call target is not a program of this interpreter and address space', pc - 1);
            }
            tailCalls++;
            program = target as InterpretedProgram<Env>;
            run.program = program;
            P = program.code;
            helpers = program.helpers;
            // The callee replaces this program: its frames are gone, r1 (the context) survives.
            depth = 0;
            R[20] = run.stackTop;
            R[21] = 0;
            pc = 0;
          }
          break;
        }
        case 0x114: /* CALL_KFUNC */
          throw new ExecutionError('vm/kfunc', `kfunc call (btf id ${P[b + 2]!}) is not supported by the interpreter`, pc - 1);
        default:
          if (pc - 1 === program.insns.length) {
            throw new ExecutionError('vm/fell-off', 'execution ran past the last instruction (no exit)', pc - 2);
          }
          throw new ExecutionError('vm/bad-opcode', `cannot execute opcode 0x${(w & OP_MASK).toString(16)}`, pc - 1);
      }
    }
  } catch (err) {
    if (err instanceof RangeError) {
      // Only reachable unchecked: an address outside the linear memory.
      throw new MemoryAccessError(`access outside the address space (${err.message})`, 0, 0, false, pc - 1);
    }
    throw err;
  } finally {
    run.executed = base + chunk - fuel;
  }
}

/** Atomic read-modify-write (single-threaded, so plain loads and stores are atomic). */
function atomic(
  R: Int32Array, view: DataView, space: AddressSpace, checked: boolean,
  d: number, s: number, off: number, widthAndFetch: number, kind: number, insn: number,
): void {
  const width = widthAndFetch & 0x0f;
  const fetch = (widthAndFetch & ATOMIC_FETCH) !== 0;
  if (kind === AtomicKind.LOAD_ACQ) {
    if (checked) checkAccess(space, R[s]!, R[s + 1]!, off, width, false, insn);
    const a = (R[s]! + off) >>> 0;
    R[d] = width === 8 || width === 4 ? view.getInt32(a, true) : width === 2 ? view.getUint16(a, true) : view.getUint8(a);
    R[d + 1] = width === 8 ? view.getInt32(a + 4, true) : 0;
    return;
  }
  if (checked) checkAccess(space, R[d]!, R[d + 1]!, off, width, true, insn);
  const a = (R[d]! + off) >>> 0;
  if (kind === AtomicKind.STORE_REL) {
    if (width === 8) { view.setInt32(a, R[s]!, true); view.setInt32(a + 4, R[s + 1]!, true); }
    else if (width === 4) view.setInt32(a, R[s]!, true);
    else if (width === 2) view.setInt16(a, R[s]!, true);
    else view.setInt8(a, R[s]!);
    return;
  }
  const wide = width === 8;
  const oldLo = view.getInt32(a, true);
  const oldHi = wide ? view.getInt32(a + 4, true) : 0;
  let newLo: number;
  let newHi = 0;
  switch (kind) {
    case AtomicKind.ADD: {
      const sum = (oldLo >>> 0) + (R[s]! >>> 0);
      newLo = sum | 0;
      newHi = (oldHi + R[s + 1]! + (sum > 0xffffffff ? 1 : 0)) | 0;
      break;
    }
    case AtomicKind.OR: newLo = oldLo | R[s]!; newHi = oldHi | R[s + 1]!; break;
    case AtomicKind.AND: newLo = oldLo & R[s]!; newHi = oldHi & R[s + 1]!; break;
    case AtomicKind.XOR: newLo = oldLo ^ R[s]!; newHi = oldHi ^ R[s + 1]!; break;
    case AtomicKind.XCHG: newLo = R[s]!; newHi = R[s + 1]!; break;
    default: {
      // cmpxchg: compare with r0 (its low half for the 32-bit form), r0 gets the old value.
      const equal = wide ? oldLo === R[0] && oldHi === R[1] : oldLo === R[0];
      newLo = equal ? R[s]! : oldLo;
      newHi = equal ? R[s + 1]! : oldHi;
      R[0] = oldLo;
      R[1] = oldHi;
      break;
    }
  }
  view.setInt32(a, newLo, true);
  if (wide) view.setInt32(a + 4, newHi, true);
  if (fetch && kind !== AtomicKind.CMPXCHG) {
    R[s] = oldLo;
    R[s + 1] = oldHi;
  }
}
