import type { Instruction, Op } from '../isa/instruction.js';
import { MAX_VAR_OFF, type VerifierContext } from './context.js';
import { Reject } from './reject.js';
import {
  constBounds, constBoundsOf, constValue, isConst, scalarAlu, scalarMovsx, sminUnbounded, sminValue, unknownBounds, zext32,
  type Bounds,
} from './scalar.js';
import { isPointer, scalarReg, typeName, withBounds, withId, withOff, withRange, type Frame, type Reg } from './state.js';
import { toBigS } from './u64.js';

/**
 * ALU instructions on scalars and pointers (kernel check_alu_op / adjust_ptr_min_max_vals /
 * adjust_scalar_min_max_vals).
 */

const BITWISE = new Set(['and', 'or', 'xor']);

/** Pointer types on which add/sub of a scalar is allowed. */
const ARITH_OK = new Set(['fp', 'map_value', 'map_key', 'pkt', 'pkt_meta', 'mem', 'ctx', 'flow_keys', 'btf_id']);

function checkRead(frame: Frame, r: number, at: number): Reg {
  const reg = frame.regs[r]!;
  if (reg.type === 'not_init') throw new Reject(`R${r} !read_ok`, at);
  return reg;
}

/** The kernel's check_reg_sane_offset: an offset or pointer bounded well inside ±2^29. */
function checkSaneOffset(b: Bounds, off: number, type: string, at: number): void {
  if (isConst(b)) {
    // A number (exact within 2^53, its order kept beyond) for the check; BigInt only for the message.
    const value = constValue(b);
    if (value >= MAX_VAR_OFF || value <= -MAX_VAR_OFF) throw new Reject(`math between ${type} pointer and ${toBigS(b.valueHi, b.valueLo)} is not allowed`, at);
  }
  if (off >= MAX_VAR_OFF || off <= -MAX_VAR_OFF) throw new Reject(`${type} pointer offset ${off} is not allowed`, at);
  if (sminUnbounded(b)) throw new Reject(`math between ${type} pointer and register with unbounded min value is not allowed`, at);
  const smin = sminValue(b);
  if (smin >= MAX_VAR_OFF || smin <= -MAX_VAR_OFF) throw new Reject(`value ${toBigS(b.sminHi, b.sminLo)} makes ${type} pointer be out of bounds`, at);
}

/** `ptr op scalar` in the kernel's order (adjust_ptr_min_max_vals): null, type, operands, operator, result. */
function pointerArithmetic(ctx: VerifierContext, at: number, dstno: number, ptr: Reg, scalar: Bounds, name: string, scalarIsDst: boolean): Reg {
  if (ptr.nullable) throw new Reject(`R${dstno} pointer arithmetic on ${typeName(ptr)} prohibited, null-check it first`, at);
  const known = isConst(scalar);
  // Adding a known zero to a map pointer is the one arithmetic the kernel lets it take.
  const zeroToMap = ptr.type === 'map_ptr' && name === 'add' && known && constValue(scalar) === 0;
  const knownFlowKeys = ptr.type === 'flow_keys' && known;
  if (!ARITH_OK.has(ptr.type) && !zeroToMap || ptr.type === 'flow_keys' && !knownFlowKeys) {
    throw new Reject(`R${dstno} pointer arithmetic on ${typeName(ptr)} prohibited`, at);
  }
  const type = typeName(ptr);
  checkSaneOffset(scalar, 0, type, at);
  checkSaneOffset(ptr.b, ptr.off, type, at);
  if (name === 'sub' && scalarIsDst) throw new Reject(`R${dstno} tried to subtract pointer from scalar`, at);
  if (name === 'sub' && ptr.type === 'fp') throw new Reject(`R${dstno} subtraction from stack pointer prohibited`, at);
  if (BITWISE.has(name)) throw new Reject(`R${dstno} bitwise operator ${ALU_SYMBOL[name]} on pointer prohibited`, at);
  if (name !== 'add' && name !== 'sub') throw new Reject(`R${dstno} pointer arithmetic with ${ALU_SYMBOL[name] ?? name} operator prohibited`, at);
  if (zeroToMap) return ptr;
  if (known) {
    const v = constValue(scalar);
    const off = ptr.off + (name === 'add' ? v : -v);
    checkSaneOffset(ptr.b, off, type, at);
    // Within ±2^29 once checked: `| 0` stores it as a small integer, not a boxed double (constValue's arithmetic gives one).
    return withOff(ptr, off | 0);
  }
  // Privileged programs may offset ctx by a variable (the kernel refuses only its dereference).
  if (ptr.type === 'ctx' && ctx.unpriv) throw new Reject(`R${dstno} variable ctx access var_off disallowed`, at);
  const b = scalarAlu(name, ptr.b, scalar, 64);
  checkSaneOffset(b, ptr.off, type, at);
  const out = withBounds(ptr, b);
  // A moved packet pointer has no proven range until compared with the end again; a comparison
  // proves none while the offset may pass 64 KiB (explore.ts packetCompare), so no bound is needed here.
  if (ptr.type === 'pkt' || ptr.type === 'pkt_meta') return withRange(withId(out, ctx.newId()), 0);
  return out;
}

export function checkAlu(ctx: VerifierContext, frame: Frame, at: number, insn: Instruction, op: Extract<Op, { kind: 'alu' }>): void {
  const { dst } = insn;
  // Checked with the instruction's fields, before its registers (kernel check_alu_op).
  if (op.name === 'addr_space_cast' && !ctx.hasArena) {
    throw new Reject('addr_space_cast insn can only be used in a program that has an associated arena', at);
  }
  if (dst === 10) throw new Reject('frame pointer is read only', at);
  const bits: 32 | 64 = op.is64 ? 64 : 32;
  const name = op.name;
  // Source operand.
  let src: Reg;
  if (op.useReg) src = checkRead(frame, insn.src, at);
  else src = scalarReg(constBoundsOf(op.is64 ? insn.imm : insn.imm >>> 0));

  if (name === 'mov') {
    if (!op.useReg) {
      frame.regs[dst] = scalarReg(constBoundsOf(op.is64 ? insn.imm : insn.imm >>> 0));
      return;
    }
    if (op.is64) {
      if (src.type === 'scalar' && !isConst(src.b)) {
        // Copies share an id so a later bounds check on one narrows the other.
        let id = src.id;
        if (id === 0) {
          id = ctx.newId();
          frame.regs[insn.src] = withId(src, id);
        }
        frame.regs[dst] = withId(src, id);
      } else {
        frame.regs[dst] = src;
      }
      return;
    }
    if (isPointer(src)) {
      if (ctx.unpriv) throw new Reject(`R${insn.src} partial copy of pointer`, at);
      frame.regs[dst] = scalarReg(zext32(unknownBounds()));
      return;
    }
    if (src.b.umaxHi === 0 && !isConst(src.b)) {
      // The copy equals the source: keep them linked like a 64-bit move.
      let id = src.id;
      if (id === 0) {
        id = ctx.newId();
        frame.regs[insn.src] = withId(src, id);
      }
      frame.regs[dst] = withId(src, id);
      return;
    }
    frame.regs[dst] = scalarReg(zext32(src.b));
    return;
  }
  if (name === 'movsx') {
    if (isPointer(src)) {
      // Privileged: the pointer's bits become an unknown scalar, as the 32-bit mov does (kernel check_alu_op).
      if (ctx.unpriv) throw new Reject(op.is64 ? `R${insn.src} sign-extension mov of pointer prohibited` : `R${insn.src} partial copy of pointer`, at);
      frame.regs[dst] = scalarReg(op.is64 ? unknownBounds() : zext32(unknownBounds()));
      return;
    }
    frame.regs[dst] = scalarReg(scalarMovsx(src.b, insn.off as 8 | 16 | 32, bits));
    return;
  }
  if (name === 'addr_space_cast') {
    frame.regs[dst] = src;
    return;
  }
  const dstReg = checkRead(frame, dst, at);
  if (name === 'neg' || name === 'le' || name === 'be' || name === 'bswap') {
    if (isPointer(dstReg)) {
      // Privileged: the pointer becomes an unknown scalar (kernel check_alu_op marks the destination unknown).
      if (ctx.unpriv) throw new Reject(`R${dst} pointer arithmetic prohibited`, at);
      frame.regs[dst] = scalarReg(unknownBounds());
      return;
    }
    if (name === 'neg') {
      frame.regs[dst] = scalarReg(scalarAlu('sub', constBounds(0, 0), dstReg.b, bits));
    } else if (isConst(dstReg.b)) {
      frame.regs[dst] = scalarReg(swapConst(dstReg.b, name, insn.imm));
    } else if ((name === 'le') && insn.imm < 64) {
      frame.regs[dst] = scalarReg(scalarAlu('and', dstReg.b, constBoundsOf(2 ** insn.imm - 1), 64));
    } else if (insn.imm < 64) {
      const swapped = unknownBounds();
      swapped.u32max = (2 ** insn.imm - 1) | 0;
      swapped.umaxHi = 0;
      swapped.umaxLo = swapped.u32max;
      frame.regs[dst] = scalarReg(zext32(swapped));
    } else {
      frame.regs[dst] = scalarReg();
    }
    return;
  }
  // Shift amounts must be in range when constant.
  if ((name === 'lsh' || name === 'rsh' || name === 'arsh') && !op.useReg && (insn.imm < 0 || insn.imm >= bits)) {
    throw new Reject(`invalid shift ${insn.imm}`, at);
  }
  if ((name === 'div' || name === 'mod' || name === 'sdiv' || name === 'smod') && !op.useReg && insn.imm === 0) {
    throw new Reject('div by zero', at);
  }
  const dstPtr = isPointer(dstReg);
  const srcPtr = isPointer(src);
  if (dstPtr || srcPtr) {
    if (!op.is64) {
      // 32-bit ops on pointers give meaningless scalars; the kernel lets privileged programs subtract.
      if (name === 'sub' && !ctx.unpriv) {
        frame.regs[dst] = scalarReg(zext32(unknownBounds()));
        return;
      }
      throw new Reject(`R${dst} 32-bit pointer arithmetic prohibited`, at);
    }
    if (dstPtr && srcPtr) {
      if (name === 'sub' && !ctx.unpriv) {
        frame.regs[dst] = scalarReg();
        return;
      }
      throw new Reject(`R${dst} pointer ${ALU_SYMBOL[name] ?? name} pointer prohibited`, at);
    }
    const ptr = dstPtr ? dstReg : src;
    const scalar = dstPtr ? src : dstReg;
    const result = pointerArithmetic(ctx, at, dst, ptr, scalar.b, name, !dstPtr);
    // The scalar becomes part of the pointer's offset: its value matters from here on.
    if (!dstPtr) ctx.markPrecise(dst);
    else if (op.useReg) ctx.markPrecise(insn.src);
    frame.regs[dst] = result;
    return;
  }
  frame.regs[dst] = scalarReg(scalarAlu(name, dstReg.b, src.b, bits));
}

const ALU_SYMBOL: Readonly<Record<string, string>> = {
  add: '+=', sub: '-=',
  and: '&=', or: '|=', xor: '^=', mul: '*=', div: '/=', mod: '%=', lsh: '<<=', rsh: '>>=', arsh: 's>>=',
};

const bswap32 = (x: number): number => ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;

/** A constant truncated to `width` (16, 32 or 64) bits, byte-swapped unless `le`. */
function swapConst(b: Bounds, name: string, width: number): Bounds {
  if (width === 64) return name === 'le' ? constBounds(b.valueHi, b.valueLo) : constBounds(bswap32(b.valueLo), bswap32(b.valueHi));
  const low = width === 32 ? b.valueLo : b.valueLo & 0xffff;
  if (name === 'le') return constBounds(0, low);
  return constBounds(0, width === 32 ? bswap32(low) : ((low & 0xff) << 8) | (low >>> 8));
}

