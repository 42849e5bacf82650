import { fieldAt, type ContextLayout } from '../progtypes/context.js';
import { MapFlag, type MapSpec } from '../maps/spec.js';
import { EXTRA_LAYOUTS, SKB_DENIED, SKB_EXTRA_WRITABLE, SOCK_ADDR_FIELD_HOOKS, WIDE_ARRAYS, sockAddrHook } from './ctx-rules.js';
import { LD_ABS_TYPES, MAX_STACK, MAX_VAR_OFF, PACKET_WRITERS, type VerifierContext } from './context.js';
import { Reject, referenceLeak } from './reject.js';
import {
  constBounds, constValue, isConst, isZeroConst, loadedBounds, sminUnbounded, sminValue, smaxValue, umaxValue,
} from './scalar.js';
import {
  EMPTY_SLOT, NOT_INIT, constReg, isPointer, makeSlot, pointerReg, scalarReg, typeName,
  type Frame, type Reg, type Slot, type State,
} from './state.js';
import { tnumAlignedAt, tnumFormat } from './tnum.js';
import { shr64, u64Out } from './u64.js';
import { checkStrictAlignment, formatVarOff } from './alignment.js';
import { checkValueFieldAccess, mapStructRead } from './map-btf.js';

/**
 * Loads and stores through typed pointers: stack (with spills), context (per program type), map
 * values, packets, ring buffer records (kernel check_mem_access and friends).
 */

export type AccessKind = 'read' | 'write';

/** Bytes [lo, hi) of the frame's stack (negative offsets from fp) as per-byte kinds. */
function stackByteKind(frame: Frame, off: number): string {
  const spi = Math.floor((-off - 1) / 8);
  const slot = frame.stack[spi] ?? EMPTY_SLOT;
  const within = off + 8 * (spi + 1);
  return slot.bytes[within]!;
}


function setSlot(frame: Frame, spi: number, slot: Slot): void {
  while (frame.stack.length <= spi) frame.stack.push(EMPTY_SLOT);
  frame.stack[spi] = slot;
}

function noteDepth(ctx: VerifierContext, state: State, frameNo: number, off: number): void {
  const subprog = state.frames[frameNo]!.subprog;
  const depth = Math.ceil(-off / 8) * 8;
  if ((ctx.stackDepth[subprog] ?? 0) < depth) ctx.stackDepth[subprog] = depth;
}

/** Mark bytes [off, off+size) written with misc (or zero) data, dropping spills they overlap. */
export function markStackWritten(state: State, frameNo: number, off: number, size: number, kind: 'm' | '0'): void {
  const frame = state.frames[frameNo]!;
  for (let a = off; a < off + size;) {
    const spi = Math.floor((-a - 1) / 8);
    const base = -8 * (spi + 1);
    const from = a - base;
    const to = Math.min(8, off + size - base);
    const old = frame.stack[spi] ?? EMPTY_SLOT;
    let bytes = old.spilled ? (old.spilled.type === 'scalar' ? old.bytes.replace(/r/g, 'm') : 'mmmmmmmm') : old.bytes;
    bytes = bytes.slice(0, from) + kind.repeat(to - from) + bytes.slice(to);
    setSlot(frame, spi, makeSlot(bytes));
    a = base + to;
  }
}

function checkStackBounds(regno: number, off: number, size: number, kind: AccessKind, at: number): void {
  if (off < -MAX_STACK || off + size > 0 || size <= 0) {
    throw new Reject(`invalid ${kind === 'write' ? 'write to' : 'read from'} stack R${regno} off=${off} size=${size}`, at);
  }
}

/** A variable stack offset must stay within ±2^29 before its bytes are checked (kernel check_stack_access_within_bounds). */
function checkStackOffsetBounded(regno: number, ptr: Reg, write: boolean, at: number): void {
  if (smaxValue(ptr.b) >= MAX_VAR_OFF || sminValue(ptr.b) <= -MAX_VAR_OFF) {
    throw new Reject(`invalid unbounded variable-offset ${write ? 'write to' : 'read from'} stack R${regno}`, at);
  }
}

function stackAccess(
  ctx: VerifierContext, state: State, at: number, regno: number, ptr: Reg, insnOff: number, size: number,
  kind: AccessKind, value: Reg | undefined,
): Reg | undefined {
  const frame = state.frames[ptr.frame]!;
  // The stack is always strictly aligned, at variable offsets too, and that is checked before its bounds.
  const misaligned = isConst(ptr.b)
    ? (ptr.off + constValue(ptr.b) + insnOff) % size !== 0
    : !tnumAlignedAt(ptr.b, ptr.off + insnOff, size);
  if (misaligned) throw new Reject(`misaligned stack access off ${formatVarOff(ptr.b)}+${ptr.off}+${insnOff} size ${size}`, at);
  if (!isConst(ptr.b)) {
    // Variable offset: every byte it might touch must be in bounds (and initialised for reads).
    if (ctx.unpriv) throw new Reject(`R${regno} variable stack access prohibited for !root, var_off=${tnumFormat(ptr.b)} off=${ptr.off + insnOff}`, at);
    checkStackOffsetBounded(regno, ptr, kind === 'write', at);
    const lo = sminValue(ptr.b) + ptr.off + insnOff;
    const hi = smaxValue(ptr.b) + ptr.off + insnOff;
    if (sminValue(ptr.b) < -MAX_STACK || smaxValue(ptr.b) > MAX_STACK || lo < -MAX_STACK || hi + size > 0) {
      throw new Reject(`invalid variable-offset ${kind === 'write' ? 'write to' : 'read from'} stack R${regno} var_off=${tnumFormat(ptr.b)} off=${ptr.off + insnOff} size=${size}`, at);
    }
    noteDepth(ctx, state, ptr.frame, lo);
    if (kind === 'write') {
      markStackWritten(state, ptr.frame, lo, hi + size - lo, 'm');
      return undefined;
    }
    for (let a = lo; a < hi + size; a++) {
      if (stackByteKind(frame, a) === '?' && ctx.unpriv) throw new Reject(`invalid variable-offset read from stack R${regno} var_off=${tnumFormat(ptr.b)} off=${ptr.off + insnOff} size=${size}`, at);
    }
    return scalarReg(loadedBounds(size));
  }
  const off = ptr.off + constValue(ptr.b) + insnOff;
  checkStackBounds(regno, off, size, kind, at);
  noteDepth(ctx, state, ptr.frame, off);
  const spi = Math.floor((-off - 1) / 8);
  if (kind === 'write') {
    if (value && isPointer(value) && size !== 8) throw new Reject('invalid size of register spill', at);
    const old = frame.stack[spi];
    if (ctx.unpriv && old?.spilled && isPointer(old.spilled) && size !== 8) throw new Reject('attempt to corrupt spilled pointer on stack', at);
    if (value && value.type === 'fp' && ptr.frame !== state.frames.length - 1) throw new Reject('cannot spill pointers to stack into stack frame of the caller', at);
    if (value && size === 8) {
      setSlot(frame, spi, makeSlot('rrrrrrrr', value));
      return undefined;
    }
    const within = off + 8 * (spi + 1);
    if (value && value.type === 'scalar' && within === 0 && !ctx.unpriv) {
      // Narrow spill of a scalar keeps its bounds (when it fits the width).
      const fits = umaxValue(value.b) < 2 ** (size * 8);
      const spilled = fits ? value : scalarReg(loadedBounds(size));
      markStackWritten(state, ptr.frame, off, size, 'm');
      const cur = frame.stack[spi]!;
      setSlot(frame, spi, makeSlot('r'.repeat(size) + cur.bytes.slice(size), spilled));
      return undefined;
    }
    const zero = value && value.type === 'scalar' && isZeroConst(value.b);
    markStackWritten(state, ptr.frame, off, size, zero ? '0' : 'm');
    return undefined;
  }
  const slot = frame.stack[spi] ?? EMPTY_SLOT;
  const within = off + 8 * (spi + 1);
  const spillSize = slot.bytes.indexOf('r') === 0 ? slot.bytes.lastIndexOf('r') + 1 : 8;
  // Bytes past a narrow spill read as what they hold (zeros stay known).
  if (slot.spilled && within < spillSize) {
    if (size === spillSize && within === 0) return slot.spilled;
    // The low half of a spilled 64-bit scalar that fits in 32 bits is that scalar (and keeps its id).
    if (slot.spilled.type === 'scalar' && spillSize === 8 && size === 4 && within === 0 && slot.spilled.b.umaxHi === 0) return slot.spilled;
    if (slot.spilled.type !== 'scalar') throw new Reject('invalid size of register fill', at);
    // A narrow fill is at most 4 bytes: its bits are in the low word.
    const lowMask = 2 ** (size * 8) - 1;
    if (within === 0 && size < spillSize && (slot.spilled.b.maskLo & lowMask) === 0) {
      // Little-endian narrowing fill whose low bytes are known (kernel coerce_reg_to_size). Only
      // constants are kept: wider facts would split states that prune today, without precision tracking.
      return constReg((slot.spilled.b.valueLo & lowMask) >>> 0);
    }
    if (isConst(slot.spilled.b) && spillSize === 8) {
      // Any bytes of a spilled constant are known.
      shr64(slot.spilled.b.valueHi, slot.spilled.b.valueLo, within * 8);
      return constReg((u64Out.lo & lowMask) >>> 0);
    }
    const bytes = slot.bytes.slice(within, within + size);
    if (bytes.includes('?') && ctx.unpriv) throw new Reject(`invalid read from stack off ${off}+${bytes.indexOf('?')} size ${size}`, at);
    return scalarReg(loadedBounds(size));
  }
  const bytes = slot.bytes.slice(within, within + size);
  if (bytes.includes('?')) {
    if (ctx.unpriv) throw new Reject(`invalid read from stack off ${off}+${bytes.indexOf('?')} size ${size}`, at);
  }
  if (/^0+$/.test(bytes)) return constReg(0);
  return scalarReg(loadedBounds(size));
}

/**
 * Range check shared by map values and memory regions (kernel check_mem_region_access): the lowest
 * then the highest offset the pointer may hold, each failure logged as the out-of-range access
 * followed by which bound broke it.
 */
function regionAccess(regno: number, ptr: Reg, insnOff: number, size: number, limit: number, what: string, at: number): void {
  const off = ptr.off + insnOff;
  const b = ptr.b;
  const describe = (o: number): string => what === 'map value'
    ? `invalid access to map value, value_size=${limit} off=${o | 0} size=${size}`
    : `invalid access to memory, mem_size=${limit} off=${o | 0} size=${size}`;
  const smin = sminValue(b);
  if (smin < 0 && (sminUnbounded(b) || smin + off < 0 || smin + off !== ((smin + off) | 0))) {
    throw new Reject(`R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`, at);
  }
  const lo = smin + off;
  if (lo < 0 || lo + size > limit) throw new Reject(`R${regno} min value is outside of the allowed memory range`, at, describe(lo));
  if (umaxValue(b) >= MAX_VAR_OFF) throw new Reject(`R${regno} unbounded memory access, make sure to bounds check any such access`, at);
  const hi = umaxValue(b) + off;
  if (hi < 0 || hi + size > limit) throw new Reject(`R${regno} max value is outside of the allowed memory range`, at, describe(hi));
}

/** Every byte a map value access may touch stays clear of the value's special fields. */
function checkValueFields(ptr: Reg, insnOff: number, size: number, at: number): void {
  if (!ptr.map!.valueFields?.length) return;
  const off = ptr.off + insnOff;
  checkValueFieldAccess(ptr.map!, sminValue(ptr.b) + off, umaxValue(ptr.b) + off + size, size, at);
}

/** A program's read-only or write-only map (kernel check_map_access_type); `off` is the fixed offset. */
function checkMapAccessType(map: MapSpec, write: boolean, off: number, size: number, at: number): void {
  const forbidden = write ? MapFlag.RDONLY_PROG : MapFlag.WRONLY_PROG;
  if ((map.flags ?? 0) & forbidden) {
    throw new Reject(`${write ? 'write into' : 'read from'} map forbidden, value_size=${map.valueSize} off=${off} size=${size}`, at);
  }
}

/** The context pointer itself, not moved by a fixed or variable offset (kernel check_ptr_off_reg). */
export function checkCtxUnmodified(regno: number, ptr: Reg, at: number): void {
  if (ptr.off < 0) throw new Reject(`negative offset ctx ptr R${regno} off=${ptr.off} disallowed`, at);
  if (ptr.off !== 0) throw new Reject(`dereference of modified ctx ptr R${regno} off=${ptr.off} disallowed`, at);
  if (!isZeroConst(ptr.b)) throw new Reject(`variable ctx access var_off=${tnumFormat(ptr.b)} disallowed`, at);
}

/** Whether the attach point (when known) has the `bpf_sock_addr` address field. */
function sockAddrFieldOk(ctx: VerifierContext, layout: ContextLayout, name: string): boolean {
  const hooks = layout.struct === 'bpf_sock_addr' ? SOCK_ADDR_FIELD_HOOKS[name] : undefined;
  return !hooks || ctx.attachType === undefined || hooks.test(sockAddrHook(ctx.attachType));
}

function ctxAccess(ctx: VerifierContext, at: number, regno: number, ptr: Reg, insnOff: number, size: number, kind: AccessKind): Reg | undefined {
  checkCtxUnmodified(regno, ptr, at);
  const off = insnOff;
  const bad = (): never => { throw new Reject(`invalid bpf_context access off=${off} size=${size}`, at); };
  const layout = ctx.prog.context ?? EXTRA_LAYOUTS[ctx.prog.name];
  if (!layout) {
    // BPF_PROG_TYPE_SYSCALL's context is whatever user space passes: any aligned access below 64 KiB.
    const limit = ctx.prog.name === 'syscall' ? 0xffff : ctx.prog.rawContextSize ?? 0;
    // A tracepoint record starts with the common fields (type, flags, pid), which are not the program's.
    const first = ctx.prog.name === 'tracepoint' ? 8 : 0;
    if (off < first || off + size > limit || off % size !== 0) bad();
    // Writable raw contexts: raw_tracepoint_writable's buffer and the syscall program's own argument block.
    if (kind === 'write' && ctx.prog.name !== 'raw_tracepoint_writable' && ctx.prog.name !== 'syscall') bad();
    return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
  }
  let hit = fieldAt(layout, off, size);
  if (!hit) {
    // Wide and narrow accesses inside cb[] and similar arrays.
    const array = layout.fields.find((f) => WIDE_ARRAYS.has(f.name) && off >= f.offset && off + size <= f.offset + f.size * (f.count ?? 1));
    if (!array || off % size !== 0 || !sockAddrFieldOk(ctx, layout, array.name)) return bad();
    if (kind === 'write' && !(array.writableBy?.includes(ctx.prog.name))) bad();
    return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
  }
  if (!sockAddrFieldOk(ctx, layout, hit.field.name)) bad();
  if (WIDE_ARRAYS.has(hit.field.name) && off % size !== 0) bad();
  if (WIDE_ARRAYS.has(hit.field.name)) {
    if (kind === 'write' && !(hit.field.writableBy?.includes(ctx.prog.name))) bad();
    if (kind === 'write') return undefined;
    hit = { ...hit };
  }
  const { field } = hit;
  if (layout.struct === '__sk_buff' && SKB_DENIED[ctx.prog.name]?.includes(field.name)) bad();
  // xdp_md: whole u32 loads only; egress_ifindex exists for devmap programs alone (kernel xdp_is_valid_access).
  if (layout.struct === 'xdp_md' && (size !== 4 || (field.name === 'egress_ifindex' && !/devmap/.test(ctx.attachType ?? '')))) bad();
  if (field.kind === 'ptr' && size !== field.size) bad();
  const elementOff = (off - field.offset) % field.size;
  if (size !== field.size && !WIDE_ARRAYS.has(field.name)) {
    if (!field.narrow || size > field.size || kind === 'write') bad();
    if (elementOff % size !== 0) bad();
  }
  if (kind === 'write') {
    const extra = layout.struct === '__sk_buff' ? SKB_EXTRA_WRITABLE[field.name] : undefined;
    if (!field.writableBy?.includes(ctx.prog.name) && !extra?.includes(ctx.prog.name)) bad();
    return undefined;
  }
  if (field.kind === 'scalar') return scalarReg(loadedBounds(size));
  if (field.kind === 'pkt_data' || field.kind === 'pkt_end' || field.kind === 'pkt_meta') {
    if ((!ctx.prog.packet && layout.struct !== 'bpf_sockopt' && layout.struct !== 'bpf_sock_ops') || (field.kind === 'pkt_meta' && !['xdp', 'sched_cls', 'sched_act'].includes(ctx.prog.name))) bad();
    if (ctx.prog.name === 'socket_filter' || ctx.prog.name === 'cgroup_skb' && field.kind === 'pkt_meta') bad();
    const type = field.kind === 'pkt_data' ? 'pkt' : field.kind;
    return pointerReg(type, { b: constBounds(0, 0) });
  }
  if (field.name === 'sk') return pointerReg(layout.struct === '__sk_buff' ? 'sock_common' : 'sock', { nullable: true, id: ctx.newId(), b: constBounds(0, 0) });
  if (field.name === 'flow_keys') {
    if (ctx.prog.name !== 'flow_dissector') bad();
    return pointerReg('flow_keys', { b: constBounds(0, 0) });
  }
  return scalarReg(loadedBounds(size));
}

function packetAccess(ctx: VerifierContext, at: number, regno: number, ptr: Reg, insnOff: number, size: number, kind: AccessKind): void {
  if (kind === 'write' && !PACKET_WRITERS.has(ctx.prog.name)) throw new Reject(`cannot write into packet`, at);
  if (sminValue(ptr.b) < 0) throw new Reject(`R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`, at);
  const off = ptr.off + insnOff;
  if (off < 0 || off + size > ptr.range) {
    const detail = `invalid access to packet, off=${off} size=${size}, R${regno}(id=${ptr.id},off=${ptr.off},r=${ptr.range})`;
    throw new Reject(`R${regno} offset is outside of the packet`, at, detail);
  }
}

/**
 * Check one load or store through register `regno` (holding `ptr`) at insn offset `off`. For reads,
 * returns what the destination register becomes.
 */
export function checkMemAccess(
  ctx: VerifierContext, state: State, at: number, regno: number, ptr: Reg, off: number, size: number,
  kind: AccessKind, value?: Reg,
): Reg | undefined {
  if (ptr.type === 'not_init') throw new Reject(`R${regno} !read_ok`, at);
  if (ptr.nullable) throw new Reject(`R${regno} invalid mem access '${typeName(ptr)}'`, at);
  if (ptr.type !== 'scalar') checkStrictAlignment(ctx, at, ptr, off, size);
  switch (ptr.type) {
    case 'fp':
      return stackAccess(ctx, state, at, regno, ptr, off, size, kind, value);
    case 'ctx':
      if (kind === 'write' && value && isPointer(value) && ctx.unpriv) throw new Reject(`R${regno} leaks addr into ctx`, at);
      return ctxAccess(ctx, at, regno, ptr, off, size, kind);
    case 'map_value': {
      const map = ptr.map!;
      checkMapAccessType(map, kind === 'write', ptr.off + off, size, at);
      if (kind === 'write' && value && isPointer(value) && ctx.unpriv) throw new Reject(`R${regno} leaks addr into map`, at);
      regionAccess(regno, ptr, off, size, map.valueSize, 'map value', at);
      checkValueFields(ptr, off, size, at);
      if (kind === 'read' && ((map.flags ?? 0) & MapFlag.RDONLY_PROG) && map.initialValue && isConst(ptr.b)) {
        // Frozen read-only data: the kernel reads the actual bytes.
        const start = ptr.off + off + constValue(ptr.b);
        if (start >= 0 && start + size <= map.initialValue.length) {
          // Little-endian bytes into (hi, lo) words.
          let hi = 0, lo = 0;
          for (let i = size - 1; i >= 0; i--) {
            hi = ((hi << 8) | (lo >>> 24)) >>> 0;
            lo = ((lo << 8) | map.initialValue[start + i]!) >>> 0;
          }
          return scalarReg(constBounds(hi, lo));
        }
      }
      return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
    }
    case 'map_key':
      if (kind === 'write') throw new Reject(`R${regno} cannot write into map_key`, at);
      regionAccess(regno, ptr, off, size, ptr.memSize, 'memory', at);
      return scalarReg(loadedBounds(size));
    case 'mem':
      regionAccess(regno, ptr, off, size, ptr.memSize, 'memory', at);
      return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
    case 'pkt':
    case 'pkt_meta':
      packetAccess(ctx, at, regno, ptr, off, size, kind);
      if (kind === 'write' && value && isPointer(value) && ctx.unpriv) throw new Reject(`R${regno} leaks addr into packet`, at);
      return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
    case 'flow_keys': {
      const o = ptr.off + off;
      if (!isConst(ptr.b) || o < 0 || o + size > 56) throw new Reject(`invalid access to flow keys off=${o} size=${size}`, at);
      return kind === 'read' ? scalarReg(loadedBounds(size)) : undefined;
    }
    case 'sock':
    case 'sock_common':
    case 'tcp_sock': {
      const o = ptr.off + off;
      // bpf_sock: dst_port's padding (74..75); sock_common lacks type..priority (8..23).
      const hole = ptr.type !== 'tcp_sock' && ((o >= 50 && o < 52) || (ptr.type === 'sock_common' && o >= 8 && o < 24));
      if (kind === 'write' || hole || !isConst(ptr.b) || o < 0 || o + size > (ptr.type === 'tcp_sock' ? 100 : 80) || o % size !== 0) {
        throw new Reject(`R${regno} invalid ${ptr.type} access off=${o} size=${size}`, at);
      }
      return scalarReg(loadedBounds(size));
    }
    case 'map_ptr':
      if (!isConst(ptr.b)) throw new Reject(`R${regno} invalid mem access '${typeName(ptr)}'`, at);
      return mapStructRead(ptr.map!, regno, ptr.off + constValue(ptr.b) + off, size, kind === 'write', ctx.unpriv, at);
    default:
      throw new Reject(`R${regno} invalid mem access '${typeName(ptr)}'`, at);
  }
}

/**
 * LD_ABS / LD_IND: R6 must hold the skb context; R0 gets the loaded value, R1-R5 are clobbered.
 * `fieldError` is the reserved-field line, which the kernel gives after the program-type check.
 */
export function checkLdAbs(ctx: VerifierContext, state: State, at: number, srcReg: number | undefined, fieldError?: string): void {
  if (!LD_ABS_TYPES.has(ctx.prog.name)) throw new Reject('BPF_LD_[ABS|IND] instructions not allowed for this program type', at);
  if (fieldError !== undefined) throw new Reject(fieldError, at);
  const frame = state.frames[state.frames.length - 1]!;
  if (frame.regs[6]!.type === 'not_init') throw new Reject('R6 !read_ok', at);
  // The load may end the program: no lock or reference may be held (kernel check_resource_leak).
  if (state.refs.some((r) => r.lock)) throw new Reject('BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region', at);
  if (state.refs.length) throw referenceLeak(state.refs, at, 'BPF_LD_[ABS|IND]');
  if (frame.regs[6]!.type !== 'ctx') throw new Reject('at the time of BPF_LD_ABS|IND R6 != pointer to skb', at);
  if (srcReg !== undefined) {
    const src = frame.regs[srcReg]!;
    if (src.type === 'not_init') throw new Reject(`R${srcReg} !read_ok`, at);
    // The kernel reads any register as the offset; tsbpf keeps pointers out of unprivileged ones.
    if (ctx.unpriv && src.type !== 'scalar') throw new Reject(`R${srcReg} pointer in LD_IND`, at);
  }
  checkCtxUnmodified(6, frame.regs[6]!, at);
  for (let r = 1; r <= 5; r++) frame.regs[r] = NOT_INIT;
  // The kernel marks R0 unknown: the load width does not bound it (kernel check_ld_abs).
  frame.regs[0] = scalarReg();
}

/**
 * A helper reads (or writes) `size` bytes at `ptr` (kernel check_helper_mem_access). `size` may be a
 * range: every size up to `maxSize` must be valid.
 */
export function checkHelperMem(
  ctx: VerifierContext, state: State, at: number, regno: number, ptr: Reg, maxSize: number, write: boolean,
): void {
  // Zero bytes are still bounds-checked: the pointer itself must be inside the region.
  switch (ptr.type) {
    case 'fp': {
      const frame = state.frames[ptr.frame]!;
      let lo: number, hi: number;
      if (isConst(ptr.b)) {
        lo = ptr.off + constValue(ptr.b);
        hi = lo;
      } else {
        if (ctx.unpriv) throw new Reject(`R${regno} variable stack access prohibited for !root, var_off=${tnumFormat(ptr.b)} off=${ptr.off}`, at);
        lo = ptr.off + sminValue(ptr.b);
        hi = ptr.off + smaxValue(ptr.b);
      }
      if (!isConst(ptr.b)) checkStackOffsetBounded(regno, ptr, write, at);
      if (lo < -MAX_STACK || lo >= 0 || hi + maxSize > 0 || sminValue(ptr.b) < -MAX_STACK) {
        const direction = write ? 'write to' : 'read from';
        throw new Reject(isConst(ptr.b)
          ? `invalid ${direction} stack R${regno} off=${lo} size=${maxSize}`
          : `invalid variable-offset ${direction} stack R${regno} var_off=${tnumFormat(ptr.b)} off=${ptr.off} size=${maxSize}`, at);
      }
      noteDepth(ctx, state, ptr.frame, lo);
      if (write) {
        markStackWritten(state, ptr.frame, lo, hi + maxSize - lo, 'm');
        return;
      }
      for (let a = lo; a < hi + maxSize; a++) {
        if (stackByteKind(frame, a) === '?') {
          // Privileged programs may read uninitialised stack, at a variable offset too (allow_uninit_stack).
          if (ctx.unpriv) throw new Reject(`invalid ${isConst(ptr.b) ? '' : 'variable-offset '}indirect read from stack R${regno} off ${lo}+${a - lo} size ${maxSize}`, at);
        }
      }
      // Privileged reads of uninitialised bytes are allowed and make them misc.
      if (!ctx.unpriv) {
        for (let a = lo; a < hi + maxSize; a++) {
          if (stackByteKind(frame, a) === '?') markStackWritten(state, ptr.frame, a, 1, 'm');
        }
      }
      return;
    }
    case 'map_value':
      checkMapAccessType(ptr.map!, write, ptr.off, maxSize, at);
      regionAccess(regno, ptr, 0, maxSize, ptr.map!.valueSize, 'map value', at);
      checkValueFields(ptr, 0, maxSize, at);
      return;
    case 'map_key':
      if (write) throw new Reject(`R${regno} cannot write into map_key`, at);
      regionAccess(regno, ptr, 0, maxSize, ptr.memSize, 'memory', at);
      return;
    case 'mem':
      regionAccess(regno, ptr, 0, maxSize, ptr.memSize, 'memory', at);
      return;
    case 'pkt':
    case 'pkt_meta':
      packetAccess(ctx, at, regno, ptr, 0, maxSize, write ? 'write' : 'read');
      return;
    case 'ctx':
      throw new Reject(`R${regno} type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_`, at);
    default:
      throw new Reject(`R${regno} type=${typeName(ptr)} expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_`, at);
  }
}

