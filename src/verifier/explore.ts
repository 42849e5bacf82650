import { jumpTarget, type Instruction, type Op } from '../isa/instruction.js';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import { checkAlu } from './alu.js';
import { NEGATE, SWAP, branchTaken, refine, type Cond } from './branch.js';
import { checkHelperCall, heldLock, type CallbackCall } from './calls.js';
import { hasField } from './map-btf.js';
import { MAX_STACK, type VerifierContext, type VerifierSetup } from './context.js';
import { kernelInsnText } from './disasm.js';
import { SourceLineLog, StateNote, preambleLines, scratchedRegs, scratchedSlots, showsStateAfter, type SourceLine } from './log-format.js';
import { checkLdAbs, checkMemAccess } from './memory.js';
import {
  Backtracker, MAX_FRAMES, PreciseSet, historyEntry, linkedReg, linkedSlot, withAnySlot, withCallbackExit, withSpilledSlot, withStackSlot, type HistoryNode,
} from './precision.js';
import { Reject, referenceLeak } from './reject.js';
import { tnumAlignedAt, tnumCopy, tnumEq } from './tnum.js';
import { formatVarOff } from './alignment.js';
import {
  boundsEqual, constBounds, constValue, copyBounds, isConst, isEmpty, isZeroConst, loadedBounds, rangeBounds, signedRangeBounds,
  sminUnbounded, sminValue, smaxValue, umaxValue, unknownBounds, type Bounds,
} from './scalar.js';
import { formatS64, fromBig, u64Out } from './u64.js';
import {
  NOT_INIT, cloneState, constReg, curFrame, emptyRegs, formatFrameDump, formatState, isPointer, makeFrame, makeSlot, pointerReg,
  rewriteRegs, scalarReg, stateSafe, typeName, UNKNOWN_SCALAR, withBounds, withId, withNonNull, withRange, type Frame, type PathStep, type Reg,
  type State,
} from './state.js';

/** How the kernel names an exit from the program's outermost frame in its leak lines. */
const MAIN_EXIT = 'BPF_EXIT instruction in main prog';

/**
 * Path exploration (the kernel's do_check): one current state walks the program; the other side of
 * every undecided branch waits on a stack; states saved at prune points cut off paths that an
 * already-proven state subsumes.
 */

export const INSN_LIMIT = 1_000_000;
export const JMP_SEQ_LIMIT = 8192;
const MAX_CALL_FRAMES = MAX_FRAMES;
const UNPRIV_STATES_PER_INSN = 64;
/**
 * Acquired references all checkpoints together may hold. A loop that acquires a reference per turn
 * and never releases it makes every later checkpoint hold all of them (quadratic memory): Linux runs
 * out of memory on such a program (ENOMEM, after ~40 s here); tsbpf refuses it at this bound, far
 * above real programs (which hold a few references per state), instead of exhausting the heap.
 */
const MAX_CHECKPOINT_REFS = 1 << 22;
/** What a load of 1, 2, 4 or 8 bytes gives when nothing is known of the memory. */
const ANY_OF_WIDTH: Readonly<Record<number, Bounds>> = { 1: loadedBounds(1), 2: loadedBounds(2), 4: loadedBounds(4), 8: loadedBounds(8) };
/** A checkpoint none of whose scalars was found to matter yet. */
const NOTHING_PRECISE = new PreciseSet();
const NO_SLOTS: [number, number] = [0, 0];

interface Checkpoint extends HistoryNode {
  readonly parent: Checkpoint | undefined;
  hits: number;
  misses: number;
  /** Paths still running below this checkpoint; 0 once all were proven safe. */
  branches: number;
}

interface Pending {
  state: State;
  insn: number;
  parent: Checkpoint | undefined;
  /** The path's instructions since `parent`. */
  hist: number[];
  logPos: number;
  from: number;
}

export interface ExploreStats {
  processedInsns: number;
  maxStatesPerInsn: number;
  totalStates: number;
  peakStates: number;
}

export interface ExploreOptions {
  logLevel: 0 | 1 | 2;
  initialRegisters?: ReadonlyMap<number, { type: 'scalar' | 'ctx' | 'fp' | 'pkt' | 'pkt_end' | 'pkt_meta'; range?: readonly [bigint, bigint]; offset?: number }>;
  /** Insn limit (tests may lower it). */
  insnLimit?: number;
  /**
   * Verify one global function on its own (kernel "Validating f() func#N"): start at `insn` with R1-R5
   * set from its BTF arguments; at its exit R0 must be a scalar when it returns a value.
   */
  globalEntry?: { insn: number; args: readonly Reg[]; returnsValue: boolean };
  /** C source lines by instruction (BTF line_info), shown in the log before the instructions they start. */
  lineInfo?: ReadonlyMap<number, SourceLine>;
}

export class Explorer {
  /**
   * The log so far, an instruction's own line as its index (its text made only for the lines that
   * remain: level 1 drops every path that ends safely); `logLines()` gives the text.
   */
  private readonly log: (string | number)[] = [];
  /** States to print on lines of the log, formatted by `logLines()` for the lines that remain. */
  private readonly notes: (StateNote | undefined)[] = [];
  /** Index in `log` of the current instruction's line. */
  private insnLine = -1;
  /**
   * 1 for each instruction some explored path ran (both slots of an LD_IMM64); the rest is dead
   * code the kernel never checks and replaces before running the program.
   */
  readonly reached: Uint8Array;
  readonly stats: ExploreStats = { processedInsns: 0, maxStatesPerInsn: 0, totalStates: 0, peakStates: 0 };
  private readonly explored = new Map<number, Checkpoint[]>();
  private readonly pending: Pending[] = [];
  /** Checkpoints kept (the kernel's explored states, whose peak it reports). */
  private liveStates = 0;
  private readonly accessTypes = new Map<number, string>();
  private jumps = 0;
  private lastCheckpointJumps = 0;
  private checkpointRefs = 0;
  private lastCheckpointInsns = 0;
  /** The path of the state that failed (for explanations). */
  failedPath: readonly PathStep[] = [];
  failedState: State | undefined;
  private readonly ctx: VerifierContext;
  private readonly backtracker: Backtracker;
  /** The current path: its last checkpoint and the instructions it ran since (the current one last). */
  private parent: Checkpoint | undefined;
  private hist: number[] = [];
  /** Call depth of the instruction being checked. */
  private depth = 0;
  private readonly mask = new PreciseSet();
  private readonly sourceLines: SourceLineLog | undefined;

  constructor(ctx: VerifierSetup, private readonly options: ExploreOptions) {
    // Every field named, attachType too when absent: one object shape whatever the setup's (see makeReg).
    this.ctx = {
      insns: ctx.insns, cfg: ctx.cfg, prog: ctx.prog, returnRange: ctx.returnRange, unpriv: ctx.unpriv, attachType: ctx.attachType,
      strictAlignment: ctx.strictAlignment, sleepable: ctx.sleepable, mapAt: ctx.mapAt, hasArena: ctx.hasArena, globalFunctionEntries: ctx.globalFunctionEntries, newId: ctx.newId, stackDepth: ctx.stackDepth,
      markPrecise: (regno) => this.markPrecise(regno), markSlotPrecise: (frame, slot) => this.markSlotPrecise(frame, slot),
    };
    this.backtracker = new Backtracker(ctx.insns, ctx.cfg.ops);
    this.reached = new Uint8Array(ctx.insns.length);
    this.sourceLines = options.lineInfo ? new SourceLineLog(options.lineInfo) : undefined;
  }

  private get insns(): readonly Instruction[] { return this.ctx.insns; }

  run(): void {
    const regs = emptyRegs();
    regs[1] = pointerReg('ctx', { b: constBounds(0, 0) });
    regs[10] = pointerReg('fp', { b: constBounds(0, 0), frame: 0 });
    if (this.options.initialRegisters) {
      regs[1] = NOT_INIT;
      for (const [r, init] of this.options.initialRegisters) {
        if (r < 0 || r > 9) continue;
        if (init.type === 'scalar') {
          const range = init.range;
          if (range) {
            fromBig(range[0]);
            const minHi = u64Out.hi, minLo = u64Out.lo;
            fromBig(range[1]);
            regs[r] = scalarReg(range[0] === range[1] ? constBounds(minHi, minLo) : signedRangeBounds(minHi, minLo, u64Out.hi, u64Out.lo));
          } else regs[r] = scalarReg();
        } else {
          regs[r] = pointerReg(init.type, { b: constBounds(0, 0), off: init.offset ?? 0, ...(init.type === 'pkt' ? { id: 0 } : {}) });
        }
      }
    }
    const globalEntry = this.options.globalEntry;
    if (globalEntry) for (let r = 1; r <= 5; r++) regs[r] = globalEntry.args[r - 1] ?? NOT_INIT;
    const subprog = globalEntry ? this.ctx.cfg.subprogOf[globalEntry.insn]! : 0;
    let state: State = { frames: [makeFrame(regs, [], -1, subprog, undefined)], refs: [], path: undefined };
    let insn = globalEntry?.insn ?? 0;
    /** The branch a path taken from the stack came from (-1 while a path runs on). */
    let poppedFrom = -1;
    const limit = this.options.insnLimit ?? INSN_LIMIT;
    const logLevel = this.options.logLevel;
    if (logLevel === 2 && !globalEntry) this.log.push(...preambleLines(this.insns, this.ctx.cfg));
    if (logLevel >= 1) this.log.push(`${insn}: ${formatState(state)}`);
    for (;;) {
      this.stats.processedInsns++;
      if (this.stats.processedInsns > limit) {
        throw new Reject(`BPF program is too large. Processed ${limit + 1} insn`, insn);
      }
      let pathEnded = false;
      if (this.ctx.cfg.prunePoint[insn]) {
        if (this.visit(state, insn)) {
          if (logLevel >= 1) {
            if (poppedFrom >= 0) this.log.push('', `from ${poppedFrom} to ${insn}: safe`);
            else this.log.push(`${insn}: safe`);
          }
          pathEnded = true;
        }
      }
      // Like the kernel's log: a path taken from the stack shows its state unless pruned at once.
      if (!pathEnded && poppedFrom >= 0 && logLevel >= 1) this.logPoppedPath(state, poppedFrom, insn);
      poppedFrom = -1;
      if (!pathEnded) {
        let next: number | 'end';
        this.depth = state.frames.length - 1;
        this.hist.push(historyEntry(insn, this.depth));
        this.reached[insn] = 1;
        if (this.ctx.cfg.ops[insn]!.kind === 'ld_imm64') this.reached[insn + 1] = 1;
        if (logLevel >= 1) {
          this.sourceLines?.logBefore(insn, this.log);
          this.insnLine = this.log.push(insn) - 1;
        }
        try {
          next = this.step(state, insn);
        } catch (e) {
          if (e instanceof Reject) {
            this.failedPath = pathList(state.path);
            this.failedState = state;
          }
          throw e;
        }
        if (next !== 'end') {
          insn = next;
          continue;
        }
      }
      // Path finished: every checkpoint on it loses one running branch.
      let node = this.parent;
      while (node) {
        node.branches--;
        if (node.branches > 0) break;
        node = node.parent;
      }
      const nextPath = this.pending.pop();
      if (!nextPath) return;
      state = nextPath.state;
      insn = nextPath.insn;
      this.parent = nextPath.parent;
      this.hist = nextPath.hist;
      if (logLevel === 1 && this.log.length > nextPath.logPos) {
        this.log.length = nextPath.logPos;
        this.notes.length = Math.min(this.notes.length, nextPath.logPos);
      }
      poppedFrom = nextPath.from;
    }
  }

  /**
   * At a prune point: true to prune when a finished state covers this one (its precise values then
   * become precise on this path too), else maybe record a checkpoint the path continues from.
   */
  private visit(state: State, insn: number): boolean {
    let list = this.explored.get(insn);
    const cfg = this.ctx.cfg;
    const live = cfg.live[insn]!;
    const slotsLo = cfg.slotsLo[insn]!, slotsHi = cfg.slotsHi[insn]!;
    const unpriv = this.ctx.unpriv;
    // Like the kernel: do not checkpoint every instruction of a straight run, nor every loop turn.
    let addNew = this.jumps - this.lastCheckpointJumps >= 2 && this.stats.processedInsns - this.lastCheckpointInsns >= 8;
    // The kernel's max_states_per_insn: the most states a visit that then added one had compared against.
    const compared = list ? list.length : 0;
    if (list) {
      for (let i = 0; i < list.length; i++) {
        const cp = list[i]!;
        if (cp.branches > 0) {
          if (stateSafe(cp.state, state, live, true)) {
            throw new Reject(`infinite loop detected at insn ${insn}`, insn, undefined, [`cur state: ${formatFrameDump(state)}`, `old state: ${formatFrameDump(cp.state, cp.precise)}`]);
          }
          if (this.jumps - this.lastCheckpointJumps < 20 && this.stats.processedInsns - this.lastCheckpointInsns < 100) addNew = false;
          if (addNew) cp.misses++;
          if (cp.misses > cp.hits * 3 + 3) {
            list.splice(i, 1);
            i--;
            this.liveStates--;
          }
          continue;
        }
        if (stateSafe(cp.state, state, live, false, unpriv ? undefined : cp.precise ?? NOTHING_PRECISE, unpriv, slotsLo, slotsHi)) {
          cp.hits++;
          if (!unpriv && cp.precise) this.inheritPrecision(cp.precise, state, live, slotsLo, slotsHi);
          return true;
        }
        if (addNew) cp.misses++;
        if (cp.misses > cp.hits * 3 + 3) {
          list.splice(i, 1);
          i--;
          this.liveStates--;
        }
      }
    }
    if (!addNew) return false;
    if (unpriv && list && list.length >= UNPRIV_STATES_PER_INSN) return false;
    this.lastCheckpointJumps = this.jumps;
    this.lastCheckpointInsns = this.stats.processedInsns;
    this.checkpointRefs += state.refs.length;
    if (this.checkpointRefs > MAX_CHECKPOINT_REFS) {
      throw new Reject(`out of memory: the verifier's states hold more than ${MAX_CHECKPOINT_REFS} acquired references (the kernel fails this with ENOMEM)`, insn);
    }
    const cp: Checkpoint = { state: cloneState(state), hist: this.hist, parent: this.parent, precise: undefined, branches: 1, hits: 0, misses: 0 };
    this.parent = cp;
    this.hist = [];
    if (!list) {
      list = [];
      this.explored.set(insn, list);
    }
    list.push(cp);
    this.stats.totalStates++;
    if (compared > this.stats.maxStatesPerInsn) this.stats.maxStatesPerInsn = compared;
    this.liveStates++;
    if (this.liveStates > this.stats.peakStates) this.stats.peakStates = this.liveStates;
    return false;
  }

  /**
   * The current path was pruned by a state whose precise values its safety relied on: so does this
   * path, for those still live here (a dead copy linked to a live value may be marked too).
   */
  private inheritPrecision(precise: PreciseSet, state: State, live: number, slotsLo: number, slotsHi: number): void {
    const mask = this.scratchMask();
    const innermost = state.frames.length - 1;
    for (let f = 0; f <= innermost; f++) {
      mask.regs[f] = precise.regs[f]! & (f === innermost ? live : -1);
      mask.lo[f] = precise.lo[f]! & (f === innermost ? slotsLo : -1);
      mask.hi[f] = precise.hi[f]! & (f === innermost ? slotsHi : -1);
    }
    if (!mask.isEmpty()) this.backtracker.propagate(mask, state.frames.length - 1, this.hist, this.hist.length, this.parent);
  }

  /** Register `regno` of the current frame decides something at the current instruction: make its origins precise. */
  private markPrecise(regno: number): void {
    if (this.ctx.unpriv) return;
    const mask = this.scratchMask();
    mask.setReg(this.depth, regno);
    this.propagateFromHere(mask);
  }

  /** The same for stack slot `slot` of call frame `frame`. */
  private markSlotPrecise(frame: number, slot: number): void {
    if (this.ctx.unpriv || slot >= 64) return;
    const mask = this.scratchMask();
    mask.setSlot(frame, slot);
    this.propagateFromHere(mask);
  }

  /** The one mask every walk starts from, emptied: a walk consumes its mask and keeps no reference to it. */
  private scratchMask(): PreciseSet {
    this.mask.clear();
    return this.mask;
  }

  private propagateFromHere(mask: PreciseSet): void {
    // The current instruction is the last history entry: start before it.
    this.backtracker.propagate(mask, this.depth, this.hist, this.hist.length - 1, this.parent, this.options.logLevel === 2 ? this.log : undefined);
  }

  /**
   * A path taken from the stack: level 2 shows its state on a line of its own and again as the
   * instruction's; level 1, which cut the log back to the branch, shows it after the branch's text.
   */
  private logPoppedPath(state: State, from: number, insn: number): void {
    const text = formatState(state);
    if (this.options.logLevel === 2) {
      this.log.push('', `from ${from} to ${insn}: ${text}`, `${insn}: ${text}`);
      return;
    }
    const last = this.log.length - 1;
    if (last >= 0 && this.log[last] === from) {
      this.log[last] = `${this.insnText(from)} ${insn}: ${text}`;
      this.notes[last] = undefined;
    } else {
      this.log.push(`${insn}: ${text}`);
    }
  }

  /**
   * After instruction `at` (its line already logged): the registers and slots it touched, after a
   * `;` in the kernel's column when its line is still the last, else on a line of their own.
   */
  private logStateAfter(state: State, at: number, op: Op, next: number | 'end', slots: [number, number]): void {
    const regs = scratchedRegs(this.insns[at]!, op);
    if (this.log.length - 1 === this.insnLine) {
      this.notes[this.insnLine] = new StateNote(state, regs, slots[0], slots[1], false);
    } else if (next !== 'end') {
      // After lines in between (mark_precise), a line of its own: named for the next instruction, or for a branch the branch's.
      this.notes[this.log.length] = new StateNote(state, regs, slots[0], slots[1], true);
      this.log.push(`${op.kind === 'jcond' ? at : next}:`);
    }
  }

  /** The log with the states noted on its lines. */
  logLines(): string[] {
    const notes = this.notes;
    return this.log.map((entry, i) => {
      const line = typeof entry === 'number' ? this.insnText(entry) : entry;
      return i < notes.length && notes[i] ? notes[i]!.apply(line) : line;
    });
  }

  private insnText(insn: number): string {
    return `${insn}: ${kernelInsnText(this.insns, insn, this.ctx.cfg.ops[insn]!)}`;
  }

  /** A call into a subprogram: both frames, then the callee's whole state as its first instruction's. */
  private logCall(state: State, entry: number): void {
    // The kernel shows the caller with all its caller-saved registers cleared, R0 too.
    const caller = state.frames[state.frames.length - 2]!;
    const regs = caller.regs.slice();
    regs[0] = NOT_INIT;
    const callerView: State = { frames: [...state.frames.slice(0, -2), makeFrame(regs, caller.stack, caller.returnTo, caller.subprog, caller.callback)], refs: state.refs, path: undefined };
    this.log.push('caller:', ` ${formatState(callerView)}`, 'callee:', ` ${formatState(state)}`, `${entry}: ${formatState(state)}`);
  }

  /**
   * The other side of an undecided branch at `at`: `other` (a copy of `state`) waits on the stack to
   * continue at `target`, while `state` falls through.
   */
  private fork(state: State, other: State, at: number, target: number): void {
    if (this.pending.length >= JMP_SEQ_LIMIT) throw new Reject(`The sequence of ${JMP_SEQ_LIMIT} jumps is too complex.`, at);
    other.path = { insn: at, taken: true, next: state.path };
    const parent = this.parent;
    if (parent) parent.branches++;
    this.pending.push({ state: other, insn: target, parent, hist: this.hist.slice(), logPos: this.log.length, from: at });
    state.path = { insn: at, taken: false, next: state.path };
  }

  private read(frame: Frame, r: number, at: number): Reg {
    const reg = frame.regs[r]!;
    if (reg.type === 'not_init') throw new Reject(`R${r} !read_ok`, at);
    return reg;
  }

  /** Execute one instruction on `state`; returns the next instruction or 'end' for a finished path. */
  private step(state: State, at: number): number | 'end' {
    const insn = this.insns[at]!;
    const op = this.ctx.cfg.ops[at]!;
    const frame = curFrame(state);
    const logging = this.options.logLevel >= 1;
    /** Stack slots the instruction touches, for the log. */
    let slots: [number, number] = NO_SLOTS;
    let next: number | 'end' = at + 1;
    // Reserved fields are the first thing do_check looks at, except LD_ABS's program-type check.
    const fieldError = this.ctx.cfg.fieldErrors.get(at);
    if (fieldError !== undefined && op.kind !== 'ld_abs' && op.kind !== 'ld_ind') throw new Reject(fieldError, at);
    if (op.kind === 'ldx' || op.kind === 'stx' || op.kind === 'st' || op.kind === 'atomic') {
      const base = op.kind === 'ldx' || (op.kind === 'atomic' && op.op === 'load_acq') ? insn.src : insn.dst;
      this.notePointerType(at, frame.regs[base]!);
      this.noteStackAccess(state, at, frame.regs[base]!, insn.off, op.width, op.kind === 'stx' || op.kind === 'st');
      if (logging) {
        const ptr = frame.regs[base]!;
        slots = scratchedSlots(ptr, isConst(ptr.b) ? constValue(ptr.b) : undefined, insn.off, op.width);
      }
    }
    switch (op.kind) {
      case 'alu':
        checkAlu(this.ctx, frame, at, insn, op);
        break;
      case 'ldx': {
        const ptr = this.read(frame, insn.src, at);
        if (insn.dst === 10) throw new Reject('frame pointer is read only', at);
        let value = checkMemAccess(this.ctx, state, at, insn.src, ptr, insn.off, op.width, 'read')!;
        // A context field that loads as a pointer (packet data, data_end, data_meta) has no sign-extending form.
        if (op.signed && ptr.type === 'ctx' && value.type !== 'scalar') throw new Reject(`invalid bpf_context access off=${insn.off} size=${op.width}`, at);
        if (op.signed && value.type === 'scalar') value = scalarReg(loadedBounds(op.width, true));
        else if (value.type === 'scalar' && op.width < 8 && !isConst(value.b) && umaxValue(value.b) >= 2 ** (op.width * 8)) {
          value = scalarReg(rangeBounds(0, 2 ** (op.width * 8) - 1));
        }
        // "Any value of its width" owes nothing to what the slot held: precision stops here.
        if (value.type === 'scalar' && value.id === 0 && !isConst(value.b) && (op.signed || boundsEqual(value.b, ANY_OF_WIDTH[op.width]!))) {
          this.hist[this.hist.length - 1] = historyEntry(at, this.depth);
        }
        frame.regs[insn.dst] = value;
        break;
      }
      case 'stx': {
        const ptr = this.read(frame, insn.dst, at);
        let value = this.read(frame, insn.src, at);
        if (ptr.type === 'fp' && value.type === 'scalar' && value.id === 0 && !isConst(value.b)) {
          // A spilled scalar stays linked to its register: a later check on the fill narrows both.
          value = withId(value, this.ctx.newId());
          frame.regs[insn.src] = value;
        }
        checkMemAccess(this.ctx, state, at, insn.dst, ptr, insn.off, op.width, 'write', value);
        break;
      }
      case 'st': {
        const ptr = this.read(frame, insn.dst, at);
        const imm = op.width === 8 ? insn.imm : (insn.imm >>> 0) % 2 ** (op.width * 8);
        checkMemAccess(this.ctx, state, at, insn.dst, ptr, insn.off, op.width, 'write', constReg(imm));
        break;
      }
      case 'atomic':
        this.atomic(state, frame, at, insn, op);
        break;
      case 'ld_imm64':
        if (insn.dst === 10) throw new Reject('frame pointer is read only', at);
        frame.regs[insn.dst] = this.ldImm64(state, at, insn, op.pseudo);
        next = at + 2;
        break;
      case 'ld_abs':
      case 'ld_ind':
        checkLdAbs(this.ctx, state, at, op.kind === 'ld_ind' ? insn.src : undefined, fieldError);
        break;
      case 'ja':
        this.jumps++;
        next = jumpTarget(insn, op, at)!;
        break;
      case 'may_goto': {
        // The loop may stop at any iteration: both ways are explored.
        const target = jumpTarget(insn, op, at)!;
        this.fork(state, cloneState(state), at, target);
        break;
      }
      case 'jcond':
        this.jumps++;
        next = this.condJump(state, frame, at, insn, op);
        break;
      case 'call':
        this.jumps++;
        if (op.target === 'helper' && this.ctx.cfg.stack.observed[at] === 1) this.noteHelperStackArgs(state, frame, at);
        next = this.call(state, frame, at, insn, op.target);
        break;
      case 'callx':
        // Refused while decoding (cfg.ts) as the kernel does; the case keeps the switch exhaustive.
        throw new Reject(`unknown opcode ${insn.code.toString(16)}`, at);
      case 'exit':
        if (frame.callback) this.hist[this.hist.length - 1] = withCallbackExit(this.hist[this.hist.length - 1]!);
        if (logging && state.frames.length > 1) {
          const callee = formatState(state);
          next = this.exit(state, at);
          this.log.push('returning from callee:', ` ${callee}`, `to caller at ${next}:`, ` ${formatState(state)}`);
          if (this.options.logLevel === 2) this.log.push('', `from ${at} to ${next}: ${formatState(state)}`);
        } else {
          next = this.exit(state, at);
        }
        break;
    }
    if (logging) {
      if (op.kind === 'call' && state.frames.length > this.depth + 1) this.logCall(state, next as number);
      else if (showsStateAfter(op)) this.logStateAfter(state, at, op, next, slots);
    }
    return next;
  }

  /**
   * Which stack slot a load or store touches, in the history (a fill's value comes from its spill).
   * A store at a slot's start that leaves no known zero bytes beside it replaces everything a later
   * read of the slot can see (kernel check_stack_write_fixed_off spills): it is recorded as such, so
   * precision stops there instead of reaching what the slot held before. Reads the static stack
   * liveness could not place are reported to it.
   */
  private noteStackAccess(state: State, at: number, ptr: Reg, off: number, width: number, store: boolean): void {
    if (ptr.type !== 'fp') return;
    const last = this.hist.length - 1;
    const observed = !store && ptr.frame === state.frames.length - 1 && this.ctx.cfg.stack.observed[at] === 1;
    if (!isConst(ptr.b)) {
      if (observed) this.ctx.cfg.stack.observe(at, undefined, width);
      this.hist[last] = withAnySlot(this.hist[last]!);
      return;
    }
    const start = ptr.off + constValue(ptr.b) + off;
    if (observed) this.ctx.cfg.stack.observe(at, start, width);
    const slot = Math.floor((-start - 1) / 8);
    const lastSlot = Math.floor((-(start + width - 1) - 1) / 8);
    if (slot !== lastSlot || slot < 0 || slot >= 64) {
      this.hist[last] = withAnySlot(this.hist[last]!);
      return;
    }
    const rest = state.frames[ptr.frame]!.stack[slot]?.bytes.slice(width) ?? '';
    const replaces = store && start % 8 === 0 && !rest.includes('0');
    this.hist[last] = replaces ? withSpilledSlot(this.hist[last]!, ptr.frame, slot) : withStackSlot(this.hist[last]!, ptr.frame, slot);
  }

  /** Pointers into this frame's stack a helper is given, where the static liveness left them to exploration. */
  private noteHelperStackArgs(state: State, frame: Frame, at: number): void {
    for (let r = 1; r <= 5; r++) {
      const ptr = frame.regs[r]!;
      if (ptr.type !== 'fp' || ptr.frame !== state.frames.length - 1) continue;
      if (isConst(ptr.b)) this.ctx.cfg.stack.observeHelperArg(at, r, ptr.off + constValue(ptr.b));
      else this.ctx.cfg.stack.observe(at, undefined, 0);
    }
  }

  /** One load/store instruction may not see a context/socket pointer on one path and another pointer on another (the kernel rewrites it per type). */
  private notePointerType(at: number, reg: Reg): void {
    if (reg.type === 'not_init' || reg.type === 'scalar') return;
    const type = typeName(reg);
    const prev = this.accessTypes.get(at);
    if (prev === undefined) {
      this.accessTypes.set(at, type);
      return;
    }
    const special = (t: string): boolean => /^(ctx|sock|sock_common|tcp_sock|ptr_|flow_keys)/.test(t);
    if (prev !== type && (special(prev) || special(type))) throw new Reject('same insn cannot be used with different pointers', at);
  }

  private atomic(state: State, frame: Frame, at: number, insn: Instruction, op: Extract<Op, { kind: 'atomic' }>): void {
    if (op.op === 'load_acq') {
      const ptr = this.read(frame, insn.src, at);
      frame.regs[insn.dst] = checkMemAccess(this.ctx, state, at, insn.src, ptr, insn.off, op.width, 'read')!;
      return;
    }
    if (op.op === 'store_rel') {
      checkMemAccess(this.ctx, state, at, insn.dst, this.read(frame, insn.dst, at), insn.off, op.width, 'write', this.read(frame, insn.src, at));
      return;
    }
    const ptr = this.read(frame, insn.dst, at);
    const src = this.read(frame, insn.src, at);
    if (op.op === 'cmpxchg') this.read(frame, 0, at);
    if (isPointer(src) && this.ctx.unpriv) throw new Reject(`R${insn.src} leaks addr into mem`, at);
    if (ptr.type === 'ctx' || ptr.type === 'pkt' || ptr.type === 'pkt_meta' || ptr.type === 'flow_keys' || ptr.type === 'sock' || ptr.type === 'sock_common' || ptr.type === 'tcp_sock') {
      throw new Reject(`BPF_ATOMIC stores into R${insn.dst} ${typeName(ptr)} is not allowed`, at);
    }
    if (op.fetch && op.op !== 'cmpxchg' && insn.src === 10) throw new Reject('frame pointer is read only', at);
    // The kernel marks the register the old value goes to as written before either access
    // (check_reg_arg DST_OP): when it is the address register too, both go through an unknown scalar.
    const address = op.fetch && (op.op === 'cmpxchg' ? 0 : insn.src) === insn.dst ? UNKNOWN_SCALAR : ptr;
    checkAtomicAlignment(at, address, insn.off, op.width);
    const before = checkMemAccess(this.ctx, state, at, insn.dst, address, insn.off, op.width, 'read');
    if (this.ctx.unpriv && before && isPointer(before)) throw new Reject(`R${insn.dst} leaks addr into mem`, at);
    if (op.fetch) {
      const width = op.width;
      // The old memory value: a spilled pointer stays a pointer.
      const result = before ?? scalarReg(width === 8 ? undefined : rangeBounds(0, 2 ** (width * 8) - 1));
      frame.regs[op.op === 'cmpxchg' ? 0 : insn.src] = result;
    }
    // The kernel checks the store through the address register as it is after the fetch (which may
    // have overwritten it).
    const target = frame.regs[insn.dst]!;
    checkAtomicAlignment(at, target, insn.off, op.width);
    checkMemAccess(this.ctx, state, at, insn.dst, target, insn.off, op.width, 'write', scalarReg());
  }

  private ldImm64(state: State, at: number, insn: Instruction, pseudo: number): Reg {
    const second = this.insns[at + 1]!;
    switch (pseudo) {
      case PseudoLdImm64.IMM:
        return scalarReg(constBounds(second.imm, insn.imm));
      case PseudoLdImm64.MAP_FD:
      case PseudoLdImm64.MAP_IDX:
      case PseudoLdImm64.MAP_VALUE:
      case PseudoLdImm64.MAP_IDX_VALUE: {
        if ((pseudo === PseudoLdImm64.MAP_FD || pseudo === PseudoLdImm64.MAP_IDX) && second.imm !== 0) throw new Reject('unrecognized bpf_ld_imm64 insn', at);
        const ref = this.ctx.mapAt(at);
        if (!ref) throw new Reject(`fd ${insn.imm} is not pointing to valid bpf_map`, at);
        if (ref.value) {
          // Checked for every instruction before exploring (verify.ts checkMapReferences).
          return pointerReg('map_value', { map: ref.map, off: ref.offset, b: constBounds(0, 0) });
        }
        return pointerReg('map_ptr', { map: ref.map, b: constBounds(0, 0) });
      }
      case PseudoLdImm64.FUNC: {
        const target = at + 1 + insn.imm;
        return pointerReg('func', { subprog: target, b: constBounds(0, 0) });
      }
      default:
        void state;
        throw new Reject('invalid bpf_ld_imm64 insn', at);
    }
  }

  private condJump(
    state: State, frame: Frame, at: number, insn: Instruction, op: Extract<Op, { kind: 'jcond' }>,
  ): number {
    const target = at + 1 + insn.off;
    const dst = this.read(frame, insn.dst, at);
    const src = op.useReg ? this.read(frame, insn.src, at) : constReg(op.is32 ? insn.imm >>> 0 : insn.imm);
    const cond: Cond = op.cond;
    const fall = at + 1;
    const srcno = op.useReg ? insn.src : -1;

    if (dst.type === 'scalar' && src.type === 'scalar') {
      const taken = branchTaken(dst.b, src.b, cond, op.is32);
      if (taken !== -1) {
        // The operands' values decided the branch.
        this.markPrecise(insn.dst);
        if (srcno >= 0) this.markPrecise(srcno);
        return taken === 1 ? target : fall;
      }
      if (dst.id || src.id) this.noteLinked(state, dst.id, src.id, insn.dst, srcno);
      const other = cloneState(state);
      this.refineScalars(other, insn.dst, srcno, dst, src, cond, op.is32);
      this.refineScalars(state, insn.dst, srcno, dst, src, NEGATE[cond], op.is32);
      this.fork(state, other, at, target);
      return fall;
    }
    if (this.ctx.unpriv && !(isNullCompare(dst, src, cond)) && (isPointer(dst) || isPointer(src))) {
      throw new Reject(`R${isPointer(dst) ? insn.dst : insn.src} pointer comparison prohibited`, at);
    }
    // Null checks of *_or_null pointers.
    if ((cond === 'jeq' || cond === 'jne') && !op.is32) {
      // Only `if rX == 0` with an immediate is a null check to the kernel.
      const ptrSide = dst.nullable && !op.useReg && isZero(src) ? dst : undefined;
      if (ptrSide) {
        const other = cloneState(state);
        const eqState = cond === 'jeq' ? other : state;
        const neState = cond === 'jeq' ? state : other;
        markNull(eqState, ptrSide, true, this.ctx.unpriv);
        markNull(neState, ptrSide, false, this.ctx.unpriv);
        this.fork(state, other, at, target);
        return fall;
      }
      // Equal to a non-null pointer of the same type: not null either.
      if (isPointer(dst) && isPointer(src) && dst.type === src.type && dst.nullable !== src.nullable) {
        const maybeNull = dst.nullable ? dst : src;
        const other = cloneState(state);
        markNull(cond === 'jeq' ? other : state, maybeNull, false, this.ctx.unpriv);
        this.fork(state, other, at, target);
        return fall;
      }
      // A pointer known non-null compared with 0 is decided.
      const nonNull = (r: Reg): boolean => !r.nullable && ['map_value', 'map_key', 'sock', 'sock_common', 'tcp_sock', 'mem', 'map_ptr'].includes(r.type);
      if ((nonNull(dst) && isZero(src)) || (nonNull(src) && isZero(dst))) {
        if (op.useReg) this.markPrecise(nonNull(dst) ? insn.src : insn.dst);
        return cond === 'jeq' ? fall : target;
      }
    }
    // Packet range discovery.
    if (!op.is32 && op.useReg) {
      const other = cloneState(state);
      const pktTaken = this.packetCompare(other, dst, src, cond);
      const pktFall = this.packetCompare(state, dst, src, NEGATE[cond]);
      if (pktTaken || pktFall) {
        this.fork(state, other, at, target);
        return fall;
      }
    }
    const other = cloneState(state);
    this.fork(state, other, at, target);
    void frame;
    return fall;
  }

  /** The branch narrows every scalar sharing an id with its operands: their precision goes together. */
  private noteLinked(state: State, dstId: number, srcId: number, dstno: number, srcno: number): void {
    const codes = new Set([linkedReg(this.depth, dstno)]);
    if (srcno >= 0) codes.add(linkedReg(this.depth, srcno));
    const operands = codes.size;
    const linked = (r: Reg | undefined): boolean => r !== undefined && r.type === 'scalar' && r.id !== 0 && (r.id === dstId || r.id === srcId);
    state.frames.forEach((frame, f) => {
      for (let i = 0; i < 10; i++) if (linked(frame.regs[i])) codes.add(linkedReg(f, i));
      frame.stack.forEach((slot, i) => { if (linked(slot.spilled)) codes.add(linkedSlot(f, i)); });
    });
    if (codes.size === operands) return;
    const last = this.hist.length - 1;
    this.hist[last] = this.backtracker.linkedEntry(this.hist[last]!, [...codes]);
  }

  /**
   * Narrow the scalars of a comparison on one outcome. Bounds that contradict each other are not
   * taken as proof the outcome is impossible: like 6.18 (reg_bounds_sanity_check), the register
   * keeps its known bits, loses its ranges, and the outcome is explored.
   */
  private refineScalars(state: State, dstno: number, srcno: number, dst: Reg, src: Reg, cond: Cond, is32: boolean): void {
    const a = copyBounds(dst.b);
    const b = copyBounds(src.b);
    refine(a, b, cond, is32);
    const frame = curFrame(state);
    const nd = withBounds(dst, unboundedIfEmpty(a));
    frame.regs[dstno] = nd;
    propagateScalar(state, nd);
    if (srcno >= 0) {
      const ns = withBounds(src, unboundedIfEmpty(b));
      frame.regs[srcno] = ns;
      propagateScalar(state, ns);
    }
  }

  /**
   * `pkt OP pkt_end` (or pkt_meta OP pkt): on the outcome where the pointer is proven not past the
   * end, every packet pointer with its id gains the range. Returns true if it applied.
   */
  private packetCompare(state: State, dst: Reg, src: Reg, cond: Cond): boolean {
    let ptr: Reg, c: Cond;
    // pkt_meta is bounded only by the packet start itself (kernel reg_is_init_pkt_pointer), not data+N.
    const packetStart = (r: Reg): boolean => r.type === 'pkt' && r.off === 0 && isZeroConst(r.b);
    const endOf = (p: Reg, e: Reg): boolean => (p.type === 'pkt' && e.type === 'pkt_end') || (p.type === 'pkt_meta' && packetStart(e));
    if (endOf(dst, src)) {
      ptr = dst;
      c = cond;
    } else if (endOf(src, dst)) {
      ptr = src;
      c = SWAP[cond];
    } else {
      return false;
    }
    // c: ptr C end. ptr <= end -> range off; ptr < end -> range off+1.
    let range: number;
    if (c === 'jle') range = ptr.off;
    else if (c === 'jlt') range = ptr.off + 1;
    else return dst.type !== src.type;
    // `data < data_end` proves nothing at offset 0 in the kernel (find_good_pkt_pointers).
    if (ptr.off < 0 || (ptr.off === 0 && c === 'jlt') || umaxValue(ptr.b) + ptr.off > 0xffff) return true;
    for (const frame of state.frames) {
      const { regs, stack } = frame;
      for (let i = 0; i < regs.length; i++) {
        const r = regs[i]!;
        if (r.type === ptr.type && r.id === ptr.id && r.range < range && isSameBase(r, ptr)) regs[i] = withRange(r, range);
      }
      for (let i = 0; i < stack.length; i++) {
        const s = stack[i]!;
        if (s.spilled && s.spilled.type === ptr.type && s.spilled.id === ptr.id && s.spilled.range < range) stack[i] = makeSlot(s.bytes, withRange(s.spilled, range));
      }
    }
    return true;
  }

  private call(state: State, frame: Frame, at: number, insn: Instruction, target: 'helper' | 'local' | 'kfunc'): number {
    if (target === 'kfunc') {
      throw new Reject(insn.imm === 0 && insn.off === 0 ? 'invalid kernel function call not eliminated in verifier pass' : 'calling kernel function is not allowed', at);
    }
    if (target === 'local') {
      const entry = at + 1 + insn.imm;
      // A global function is verified without its caller's state, so it cannot know of a held lock.
      if (heldLock(state) && this.ctx.globalFunctionEntries?.has(entry)) {
        throw new Reject('use static function instead', at, 'global function calls are not allowed while holding a lock,');
      }
      return this.enterFrame(state, at, entry, frame.regs.slice(1, 6), undefined);
    }
    const callback = checkHelperCall(this.ctx, state, at, insn.imm);
    if (callback) return this.enterCallback(state, at, callback);
    return at + 1;
  }

  private enterFrame(state: State, at: number, entry: number, args: Reg[], callback: Frame['callback']): number {
    if (state.frames.length >= MAX_CALL_FRAMES) throw new Reject(`the call stack of ${state.frames.length + 1} frames is too deep`, at);
    const regs = emptyRegs();
    args.forEach((r, i) => { regs[i + 1] = r; });
    regs[10] = pointerReg('fp', { b: constBounds(0, 0), frame: state.frames.length });
    const subprog = this.ctx.cfg.subprogOf[entry]!;
    state.frames.push(makeFrame(regs, [], at + 1, subprog, callback));
    const caller = state.frames[state.frames.length - 2]!;
    if (!callback) for (let r = 1; r <= 5; r++) caller.regs[r] = NOT_INIT;
    return entry;
  }

  private enterCallback(state: State, at: number, cb: CallbackCall): number {
    return this.enterFrame(state, at, cb.entry, cb.args, { retMin: cb.retMin, retMax: cb.retMax, async: cb.async });
  }

  private exit(state: State, at: number): number | 'end' {
    const frame = curFrame(state);
    const r0 = frame.regs[0]!;
    const globalEntry = this.options.globalEntry;
    if (globalEntry && state.frames.length === 1) {
      if (globalEntry.returnsValue && r0.type === 'not_init') throw new Reject('R0 !read_ok', at);
      if (globalEntry.returnsValue && r0.type !== 'scalar') throw new Reject(`At subprogram exit the register R0 is not a scalar value (${typeName(r0)})`, at);
      checkNoLockAtExit(state, at);
      if (state.refs.length) throw referenceLeak(state.refs, at, MAIN_EXIT);
      this.checkStackDepth(at);
      return 'end';
    }
    if (r0.type === 'not_init' && (state.frames.length === 1 || frame.callback)) throw new Reject('R0 !read_ok', at);
    if (state.frames.length > 1) {
      // Any stack pointer, even one into a caller's frame (kernel prepare_func_exit is conservative).
      if (r0.type === 'fp') throw new Reject('cannot return stack pointer to the caller', at);
      if (frame.callback) {
        const what = frame.callback.async ? 'async callback' : 'callback';
        if (r0.type !== 'scalar') throw new Reject(`At ${what} return the register R0 is not a known value (${typeName(r0)})`, at);
        this.markPrecise(0);
        if (sminValue(r0.b) < frame.callback.retMin || smaxValue(r0.b) > frame.callback.retMax) {
          throw new Reject(`At ${what} return the register R0 has ${rangeText(r0.b)} should have been in [${frame.callback.retMin}, ${frame.callback.retMax}]`, at);
        }
        // The kernel verifies an async callback as a program of its own: its exit is a main one.
        if (frame.callback.async) checkNoLockAtExit(state, at);
      }
      state.frames.pop();
      const caller = curFrame(state);
      caller.regs[0] = frame.callback ? scalarReg() : r0;
      for (let r = 1; r <= 5; r++) caller.regs[r] = NOT_INIT;
      return frame.returnTo;
    }
    checkNoLockAtExit(state, at);
    if (state.refs.length) throw referenceLeak(state.refs, at, MAIN_EXIT);
    const range = this.ctx.returnRange;
    if (range) {
      if (r0.type !== 'scalar') throw new Reject(`At program exit the register R0 is not a known value (${typeName(r0)})`, at);
      this.markPrecise(0);
      if (sminValue(r0.b) < range[0] || smaxValue(r0.b) > range[1]) {
        throw new Reject(`At program exit the register R0 has ${rangeText(r0.b)} should have been in [${range[0]}, ${range[1]}]`, at);
      }
    } else if (this.ctx.unpriv && isPointer(r0)) {
      throw new Reject('R0 leaks addr as return value', at);
    }
    this.checkStackDepth(at);
    return 'end';
  }

  private checkStackDepth(at: number): void {
    // Checked again on the whole call graph at the end; here only the single-frame limit.
    for (const depth of this.ctx.stackDepth) {
      if ((depth ?? 0) > MAX_STACK) throw new Reject(`stack depth ${depth} exceeds ${MAX_STACK}`, at);
    }
  }
}

/** A program (or an async callback) may not end holding a bpf_spin_lock (kernel check_resource_leak). */
function checkNoLockAtExit(state: State, at: number): void {
  if (heldLock(state)) throw new Reject(`${MAIN_EXIT} cannot be used inside bpf_spin_lock-ed region`, at);
}

/** Atomics are always alignment-checked, variable offsets included (kernel strict_alignment_once); the stack checks its own. */
function checkAtomicAlignment(at: number, ptr: Reg, off: number, width: number): void {
  if (ptr.type === 'fp') return;
  if (!tnumAlignedAt(ptr.b, ptr.off + off, width)) {
    const what = ptr.type === 'map_value' ? 'value ' : ptr.type === 'mem' ? 'mem ' : '';
    throw new Reject(`misaligned ${what}access off ${formatVarOff(ptr.b)}+${ptr.off}+${off} size ${width}`, at);
  }
}

/** Contradictory bounds (a refinement the kernel does not prune on) become unbounded, known bits kept. */
function unboundedIfEmpty(b: Bounds): Bounds {
  if (!isEmpty(b)) return b;
  const out = unknownBounds();
  tnumCopy(out, b);
  return out;
}

/** The kernel's verbose_invalid_scalar: only the signed bounds R0 has, else "unknown scalar value". */
function rangeText(b: Bounds): string {
  const parts: string[] = [];
  if (!sminUnbounded(b)) parts.push(`smin=${formatS64(b.sminHi, b.sminLo)}`);
  if ((b.smaxHi | 0) !== 0x7fffffff || (b.smaxLo | 0) !== -1) parts.push(`smax=${formatS64(b.smaxHi, b.smaxLo)}`);
  return parts.length ? parts.join(' ') : 'unknown scalar value';
}

function isZero(r: Reg): boolean {
  return r.type === 'scalar' && isZeroConst(r.b);
}

function isNullCompare(dst: Reg, src: Reg, cond: Cond): boolean {
  return (cond === 'jeq' || cond === 'jne') && ((dst.nullable && isZero(src)) || (src.nullable && isZero(dst)));
}

function isSameBase(r: Reg, ptr: Reg): boolean {
  return tnumEq(r.b, ptr.b) || r.id !== 0;
}

/** After `if (p == NULL)`: on the null side every copy of p is 0, on the other it is a plain pointer. */
function markNull(state: State, ptr: Reg, isNull: boolean, unpriv: boolean): void {
  const id = ptr.id;
  const fix = (r: Reg): Reg => {
    if (r.id !== id || !r.nullable || r.type === 'scalar') return r;
    if (isNull) return constReg(0);
    if (r.type === 'map_ptr') return withNonNull(r, 0);
    // A value holding a bpf_spin_lock keeps its id: the lock is known by it.
    const keepId = r.type === 'mem' || r.type.startsWith('sock') || r.type === 'tcp_sock' || (r.type === 'map_value' && hasField(r.map!, 'spin_lock'));
    return withNonNull(r, keepId ? r.id : 0);
  };
  rewriteRegs(state, fix);
  if (isNull && ptr.refId) {
    const idx = state.refs.findIndex((r) => r.id === ptr.refId);
    if (idx >= 0) state.refs.splice(idx, 1);
  }
  void unpriv;
}

/** Scalars sharing an id are copies: bounds learned on one hold for all. */
function propagateScalar(state: State, reg: Reg): void {
  if (reg.id === 0) return;
  for (const frame of state.frames) {
    for (let i = 0; i < frame.regs.length; i++) {
      const r = frame.regs[i]!;
      if (r.type === 'scalar' && r.id === reg.id && r !== reg) frame.regs[i] = withBounds(r, reg.b);
    }
    for (let i = 0; i < frame.stack.length; i++) {
      const s = frame.stack[i]!;
      if (s.spilled && s.spilled.type === 'scalar' && s.spilled.id === reg.id) frame.stack[i] = makeSlot(s.bytes, withBounds(s.spilled, reg.b));
    }
  }
}

function pathList(path: PathStep | undefined): PathStep[] {
  const out: PathStep[] = [];
  for (let p = path; p; p = p.next) out.push(p);
  return out.reverse();
}

