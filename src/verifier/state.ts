import type { MapSpec } from '../maps/spec.js';
import type { PreciseSet } from './precision.js';
import {
  boundsEqual, boundsWithin, constBounds, constBoundsOf, constValue, formatBounds, kernelSnum, isConst, isZeroConst, unknownBounds, type Bounds,
} from './scalar.js';

/**
 * Abstract machine state: registers, stack slots, call frames and acquired references. Registers and
 * slots are immutable values (replaced, never mutated once stored) so that copying a state for a
 * pending branch copies arrays of references, not the values.
 */

export type RegType =
  | 'not_init' | 'scalar' | 'ctx' | 'fp' | 'map_ptr' | 'map_value' | 'map_key' | 'pkt' | 'pkt_meta' | 'pkt_end'
  | 'mem' | 'func' | 'sock' | 'sock_common' | 'tcp_sock' | 'flow_keys' | 'btf_id';

export interface Reg {
  readonly type: RegType;
  /** `*_or_null`: must be compared with 0 before use. */
  readonly nullable: boolean;
  /** Fixed part of a pointer's offset. */
  readonly off: number;
  /** Scalar value, or a pointer's variable offset. */
  readonly b: Bounds;
  /** Shared by copies: a null check or a packet range proven on one applies to all. */
  readonly id: number;
  /** Reference (ringbuf record, socket) this pointer holds, 0 if none. */
  readonly refId: number;
  /** Packet pointers: bytes proven readable from this pointer. */
  readonly range: number;
  readonly map: MapSpec | undefined;
  /** Size of `mem` regions (ringbuf records), of map keys for callbacks. */
  readonly memSize: number;
  /** Frame a stack pointer points into. */
  readonly frame: number;
  /** Subprogram entry a `func` pointer refers to. */
  readonly subprog: number;
}

const ZERO_BOUNDS = constBounds(0, 0);

/**
 * Every register value is built here, its fields always set in this order, so that the engine gives
 * all of them one object shape. Copying one with a spread (`{ ...r, b }`) would not: V8 (Node 20)
 * gives each spread site its own copy of the source's shape, copies of copies multiply them (tens of
 * thousands over ebpf-samples), and every site reading a register goes megamorphic and deoptimises
 * as new shapes arrive, so a program's time depended on which programs ran before it.
 */
export function makeReg(
  type: RegType, nullable: boolean, off: number, b: Bounds, id: number, refId: number, range: number,
  map: MapSpec | undefined, memSize: number, frame: number, subprog: number,
): Reg {
  return { type, nullable, off, b, id, refId, range, map, memSize, frame, subprog };
}

export const NOT_INIT: Reg = makeReg('not_init', false, 0, ZERO_BOUNDS, 0, 0, 0, undefined, 0, 0, 0);

export const scalarReg = (b: Bounds = unknownBounds(), id = 0): Reg => makeReg('scalar', false, 0, b, id, 0, 0, undefined, 0, 0, 0);
/** A known scalar, given as a safe integer. */
export const constReg = (v: number): Reg => scalarReg(constBoundsOf(v));
export const UNKNOWN_SCALAR = scalarReg();

export function pointerReg(type: RegType, extra: Partial<Reg> = {}): Reg {
  return makeReg(
    type, extra.nullable ?? false, extra.off ?? 0, extra.b ?? ZERO_BOUNDS, extra.id ?? 0, extra.refId ?? 0, extra.range ?? 0,
    extra.map, extra.memSize ?? 0, extra.frame ?? 0, extra.subprog ?? 0,
  );
}

// Copies of a register with one part changed (never a spread: see makeReg).
export const withBounds = (r: Reg, b: Bounds): Reg => makeReg(r.type, r.nullable, r.off, b, r.id, r.refId, r.range, r.map, r.memSize, r.frame, r.subprog);
export const withOff = (r: Reg, off: number): Reg => makeReg(r.type, r.nullable, off, r.b, r.id, r.refId, r.range, r.map, r.memSize, r.frame, r.subprog);
export const withId = (r: Reg, id: number): Reg => makeReg(r.type, r.nullable, r.off, r.b, id, r.refId, r.range, r.map, r.memSize, r.frame, r.subprog);
export const withRange = (r: Reg, range: number): Reg => makeReg(r.type, r.nullable, r.off, r.b, r.id, r.refId, range, r.map, r.memSize, r.frame, r.subprog);
/** A null-checked pointer: no longer nullable, its id kept only where it still links something. */
export const withNonNull = (r: Reg, id: number): Reg => makeReg(r.type, false, r.off, r.b, id, r.refId, r.range, r.map, r.memSize, r.frame, r.subprog);

export const isPointer = (r: Reg): boolean => r.type !== 'scalar' && r.type !== 'not_init';
export const isNullConst = (r: Reg): boolean => r.type === 'scalar' && isZeroConst(r.b);

/** The kernel's type name in messages: `map_value_or_null`, `scalar`, `fp` ... */
export function typeName(r: Reg): string {
  // A map-in-map lookup is a map value until null-checked into the inner map's pointer.
  if (r.type === 'map_ptr' && r.nullable) return 'map_value_or_null';
  // A ring buffer record is the only memory tsbpf gives that holds a reference (the kernel's MEM_RINGBUF).
  const base = r.type === 'not_init' ? 'inv' : r.type === 'btf_id' ? 'ptr_' : r.type === 'mem' && r.refId ? 'ringbuf_mem' : r.type;
  return r.nullable ? `${base}_or_null` : base;
}

/** One 8-byte stack slot: per-byte kinds (`?` invalid, `m` misc, `0` zero, `r` spilled register). */
export interface Slot {
  readonly bytes: string;
  readonly spilled?: Reg;
}

/** Slots are built here, both fields always set: one object shape (see makeReg). */
export const makeSlot = (bytes: string, spilled: Reg | undefined = undefined): Slot => ({ bytes, spilled });

export const EMPTY_SLOT: Slot = makeSlot('????????');
export const MISC_SLOT: Slot = makeSlot('mmmmmmmm');

export interface Frame {
  regs: Reg[];
  /** slots[i] covers fp-8*(i+1) .. fp-8*i-1. */
  stack: Slot[];
  /** Instruction after the call that created this frame (-1 for the main frame). */
  returnTo: number;
  subprog: number;
  /** A callback frame: the helper's own return value replaces R0 on return; `async` runs later, on its own (a timer's). */
  callback?: { retMin: number; retMax: number; async: boolean };
}

/**
 * An acquired reference, or a held bpf_spin_lock (`lock`: the map whose value holds it; `id` is then
 * the value pointer's id, 0 for a global's).
 */
export interface Reference { id: number; insn: number; lock?: MapSpec }

export interface State {
  frames: Frame[];
  refs: Reference[];
  /** Branch decisions that led here (insn, taken), for explanations. */
  path: PathStep | undefined;
}

export interface PathStep { insn: number; taken: boolean; next: PathStep | undefined }

/** A register file with nothing initialised: an array literal, so every frame's registers have one array kind. */
export const emptyRegs = (): Reg[] => [NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT];

/**
 * Passes every register and spilled register of the state through `fix`, in place (a state owns its
 * arrays; `.map` copies would allocate and vary the arrays' kinds). A spill `fix` changes keeps its
 * bytes, or with `dropChangedSpills` becomes plain misc bytes.
 */
export function rewriteRegs(state: State, fix: (r: Reg) => Reg, dropChangedSpills = false): void {
  for (const frame of state.frames) {
    const regs = frame.regs;
    for (let i = 0; i < regs.length; i++) regs[i] = fix(regs[i]!);
    const stack = frame.stack;
    for (let i = 0; i < stack.length; i++) {
      const old = stack[i]!.spilled;
      if (!old) continue;
      const now = fix(old);
      if (now !== old) stack[i] = dropChangedSpills ? MISC_SLOT : makeSlot(stack[i]!.bytes, now);
    }
  }
}

/** Frames are built here, every field always set: one object shape (see makeReg). */
export function makeFrame(regs: Reg[], stack: Slot[], returnTo: number, subprog: number, callback: Frame['callback']): Frame {
  return { regs, stack, returnTo, subprog, callback };
}

export function cloneFrame(f: Frame): Frame {
  return makeFrame(f.regs.slice(), f.stack.slice(), f.returnTo, f.subprog, f.callback);
}

export function cloneState(s: State): State {
  return { frames: s.frames.map(cloneFrame), refs: s.refs.slice(), path: s.path };
}

export const curFrame = (s: State): Frame => s.frames[s.frames.length - 1]!;

/**
 * Maps ids of an old state to ids of the current one, so that sharing must match. One instance is
 * reused by every comparison (pruning compares states millions of times): `reset` empties it.
 */
class IdMap {
  private readonly old: number[] = [];
  private readonly cur: number[] = [];
  private size = 0;
  private fresh = 0;
  reset(): void { this.size = 0; this.fresh = 0; }
  check(oldId: number, curId: number): boolean {
    if (oldId === 0) return true;
    if (curId === 0) return false;
    for (let i = 0; i < this.size; i++) if (this.old[i] === oldId) return this.cur[i] === curId;
    this.old[this.size] = oldId;
    this.cur[this.size] = curId;
    this.size++;
    return true;
  }
  /** Scalars (the kernel's check_scalar_ids): a current one without an id is linked to nothing, so it may stand for one old id. */
  checkScalar(oldId: number, curId: number): boolean {
    return this.check(oldId, curId === 0 ? --this.fresh : curId);
  }
}

const sharedIds = new IdMap();

/** Is every concrete value `cur` allows for this register covered by what `old` was proven safe with? */
function regSafe(old: Reg, cur: Reg, ids: IdMap, exact: boolean): boolean {
  if (old.type === 'not_init') return exact ? cur.type === 'not_init' : true;
  if (cur.type !== old.type || cur.nullable !== old.nullable) return false;
  if (old.type === 'scalar') {
    if (exact) return boundsEqual(old.b, cur.b) && ids.check(old.id, cur.id);
    return boundsWithin(old.b, cur.b) && ids.checkScalar(old.id, cur.id);
  }
  if (old.off !== cur.off || old.map !== cur.map || old.memSize !== cur.memSize || old.frame !== cur.frame || old.subprog !== cur.subprog) return false;
  if (!(exact ? boundsEqual(old.b, cur.b) : boundsWithin(old.b, cur.b))) return false;
  if (old.type === 'pkt' || old.type === 'pkt_meta') {
    if (exact ? old.range !== cur.range : old.range > cur.range) return false;
  }
  if (!ids.check(old.id, cur.id)) return false;
  return ids.check(old.refId, cur.refId);
}

/** Leading bytes a spill covers ('r'), 0 for none. */
function spillLength(bytes: string): number {
  let n = 0;
  while (n < 8 && bytes[n] === 'r') n++;
  return n;
}

/** Is byte `c` of the current slot as good as byte `o` of the old one (outside spilled registers)? */
function byteSafe(o: string, c: string, exact: boolean, unpriv: boolean, curSpilledScalar: boolean): boolean {
  if (o === c) return true;
  if (exact) return false;
  if (o === '?') return true;
  // Privileged programs may read uninitialised stack, so misc bytes in old stand for anything but a pointer.
  if (o === 'm' && !unpriv && (c !== 'r' || curSpilledScalar)) return true;
  if (o === 'm' && c === '0') return true;
  return o === 'm' && c === 'r' && curSpilledScalar;
}

function slotSafe(old: Slot, cur: Slot, ids: IdMap, exact: boolean, unpriv = true): boolean {
  if (old === cur) return true;
  const curSpilledScalar = cur.spilled?.type === 'scalar';
  if (!exact && !unpriv && old.bytes === 'mmmmmmmm' && !old.spilled && (!cur.spilled || curSpilledScalar)) return true;
  if (old.spilled) {
    // The same spill (width and value), and the bytes beyond a narrow one as good as old's.
    const n = spillLength(old.bytes);
    if (!cur.spilled || spillLength(cur.bytes) !== n || !regSafe(old.spilled, cur.spilled, ids, exact)) return false;
    for (let i = n; i < 8; i++) if (!byteSafe(old.bytes[i]!, cur.bytes[i]!, exact, unpriv, false)) return false;
    return true;
  }
  for (let i = 0; i < 8; i++) if (!byteSafe(old.bytes[i]!, cur.bytes[i]!, exact, unpriv, curSpilledScalar)) return false;
  return true;
}

/** A slot whose reads can only produce scalars. */
const scalarish = (s: Slot): boolean => !s.spilled || s.spilled.type === 'scalar';

/**
 * Does `old` (a state whose every continuation was proven safe) subsume `cur`? Registers not live at
 * this instruction (per `liveRegs` bit set of the innermost frame) and slots not live (`slotsLo/Hi`)
 * are ignored; scalars `precise` does not mark are any scalar (undefined: every scalar is precise).
 */
export function stateSafe(
  old: State, cur: State, liveRegs: number, exact = false, precise: PreciseSet | undefined = undefined, unpriv = false,
  slotsLo = -1, slotsHi = -1,
): boolean {
  if (old.frames.length !== cur.frames.length || old.refs.length !== cur.refs.length) return false;
  const ids = sharedIds;
  ids.reset();
  for (let f = 0; f < old.frames.length; f++) {
    const of = old.frames[f]!, cf = cur.frames[f]!;
    if (of.returnTo !== cf.returnTo || of.subprog !== cf.subprog) return false;
    const innermost = f === old.frames.length - 1;
    const loose = !exact && precise !== undefined;
    for (let r = 0; r < 10; r++) {
      if (innermost && !(liveRegs & (1 << r)) && !exact) continue;
      const o = of.regs[r]!, c = cf.regs[r]!;
      // The same value, linked to nothing: safe, and nothing for the id maps to learn.
      if (o === c && o.id === 0 && o.refId === 0) continue;
      if (loose && o.type === 'scalar' && c.type === 'scalar' && !precise.hasReg(f, r)) continue;
      if (!regSafe(o, c, ids, exact)) return false;
    }
    const n = Math.max(of.stack.length, cf.stack.length);
    for (let i = 0; i < n; i++) {
      if (innermost && !exact && !((i < 32 ? slotsLo >>> i : slotsHi >>> (i - 32)) & 1)) continue;
      const os = of.stack[i] ?? EMPTY_SLOT, cs = cf.stack[i] ?? EMPTY_SLOT;
      // Privileged reads of any scalar-holding slot give some scalar: equal unless its value mattered.
      if (loose && !unpriv && !precise.hasSlot(f, i) && scalarish(os) && scalarish(cs)) continue;
      if (!slotSafe(os, cs, ids, exact, unpriv)) return false;
    }
  }
  for (let i = 0; i < old.refs.length; i++) {
    if (!ids.check(old.refs[i]!.id, cur.refs[i]!.id) || old.refs[i]!.lock !== cur.refs[i]!.lock) return false;
  }
  return true;
}

/**
 * `R1=ctx()`, `R0=map_value_or_null(id=1,map=m,ks=4,vs=8)`, `R2=scalar(smin=0,smax=umax=255,var_off=(0x0; 0xff))`.
 * `depth`: the frame the register belongs to, when known: a stack pointer into another frame is `fp[0]-8`.
 */
export function formatReg(r: Reg, depth = r.frame): string {
  if (r.type === 'scalar') {
    const inner = formatBounds(r.b);
    // A known value prints as the number, as in the kernel's log (a linked copy's id is not shown).
    if (isConst(r.b)) return inner;
    return r.id ? `scalar(id=${r.id}${inner ? `,${inner}` : ''})` : `scalar(${inner})`;
  }
  if (r.type === 'fp' && isConst(r.b)) return `fp${r.frame !== depth ? `[${r.frame}]` : ''}${r.off + constValue(r.b)}`;
  const parts: string[] = [];
  if (r.id) parts.push(`id=${r.id}`);
  if (r.refId) parts.push(`ref_obj_id=${r.refId}`);
  // The kernel keeps 15 characters of a map's name.
  if (r.map) parts.push(`map=${r.map.name.slice(0, 15)}`, `ks=${r.map.keySize}`, `vs=${r.map.valueSize}`);
  if (r.off) parts.push(`off=${kernelSnum(r.off < 0 ? -1 : 0, r.off | 0)}`);
  if (r.type === 'pkt' || r.type === 'pkt_meta') parts.push(`r=${r.range}`);
  if (r.type === 'mem') parts.push(`sz=${r.memSize}`);
  if (!isConst(r.b)) parts.push(formatBounds(r.b));
  return `${typeName(r)}(${parts.join(',')})`;
}

/**
 * One stack slot as the kernel's log shows it: byte kinds highest address first, a spill's bytes
 * (the lowest) replaced by the spilled register's value.
 */
export function formatSlot(slot: Slot, depth: number): string {
  const spill = slot.spilled ? spillLength(slot.bytes) : 0;
  const rest = [...slot.bytes.slice(spill)].reverse().join('');
  return slot.spilled ? rest + formatReg(slot.spilled, depth) : rest;
}

/**
 * The innermost frame as the kernel's log prints a state (print_verifier_state): `frame1: ` when not
 * the main frame, its registers and used stack slots, then the held references (`refs=2,4`).
 */
export function formatState(s: State): string {
  const depth = s.frames.length - 1;
  const frame = s.frames[depth]!;
  const own: string[] = [];
  for (let i = 0; i < frame.regs.length; i++) {
    const r = frame.regs[i]!;
    if (r.type !== 'not_init') own.push(`R${i}=${formatReg(r, depth)}`);
  }
  for (let i = 0; i < frame.stack.length; i++) {
    const slot = frame.stack[i]!;
    if (slot.bytes !== '????????') own.push(`fp${-8 * (i + 1)}=${formatSlot(slot, depth)}`);
  }
  const refs = s.refs.filter((r) => !r.lock).map((r) => r.id);
  if (refs.length) own.push(`refs=${refs.join(',')}`);
  return (depth ? `frame${depth}: ` : '') + own.join(' ');
}

/**
 * The innermost frame as the kernel dumps a state after an error (print_verifier_state, every
 * register): ` frame1:` when not the main frame, `P` before scalars the state holds precise.
 */
export function formatFrameDump(s: State, precise?: { hasReg(frame: number, r: number): boolean }): string {
  const depth = s.frames.length - 1;
  const frame = s.frames[depth]!;
  const own: string[] = depth ? [`frame${depth}:`] : [];
  frame.regs.forEach((r, i) => {
    if (r.type === 'not_init') return;
    own.push(`R${i}=${r.type === 'scalar' && precise?.hasReg(depth, i) ? 'P' : ''}${formatReg(r, depth)}`);
  });
  frame.stack.forEach((slot, i) => {
    if (slot.bytes === '????????') return;
    own.push(`fp${-8 * (i + 1)}=${formatSlot(slot, depth)}`);
  });
  return own.join(' ');
}
