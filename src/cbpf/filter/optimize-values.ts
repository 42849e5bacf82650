/**
 * Value numbering of classic-BPF statements (the graph is acyclic, so each node's entry values come
 * from its predecessors), with the statement rewrites that follow from it: constant folding, constant
 * propagation into loads and ALU operands, and removal of loads/stores of a value already in place.
 */
import { TsbpfError } from '../../errors.js';
import { CbpfAluOp, CbpfClass, CbpfMiscOp, CbpfMode, CbpfSrc, cbpfClass, cbpfMode, cbpfOp, cbpfSize } from '../opcodes.js';
import type { Stmt } from './cfg.js';
import { A_ATOM, NOP, X_ATOM } from './optimize-graph.js';

/** Value number 0 means "unknown". */
export const VAL_UNKNOWN = 0;

/** What a pass changed: anything at all, and anything other than moving branches. */
export interface PassProgress {
  done: boolean;
  nonBranchMovement: boolean;
}

export const noteChange = (p: PassProgress): void => {
  p.done = false;
  p.nonBranchMovement = true;
};

const LD_IMM = CbpfClass.LD | CbpfMode.IMM;
const LDX_IMM = CbpfClass.LDX | CbpfMode.IMM;

export class ValueTable {
  /**
   * Value numbers by (code, first operand) when the second operand is 0 (most are), else by that and
   * then the second operand: numeric keys, no strings to build and collect.
   */
  private readonly unary = new Map<number, number>();
  private readonly table = new Map<number, Map<number, number>>();
  private current = 0;
  private readonly constant: (number | undefined)[] = [];

  /** The value number of `code` applied to operands v0, v1 (the same triple gives the same number). */
  value(code: number, v0: number, v1: number): number {
    // code is 16 bits and v0 a 32-bit constant or a value number: exact as one double.
    const outer = v0 * 0x10000 + code;
    let byV1: Map<number, number> | undefined;
    if (v1 === 0) {
      byV1 = this.unary;
      const known = byV1.get(outer);
      if (known !== undefined) return known;
    } else {
      byV1 = this.table.get(outer);
      if (!byV1) this.table.set(outer, (byV1 = new Map()));
      const known = byV1.get(v1);
      if (known !== undefined) return known;
    }
    const val = ++this.current;
    if (cbpfMode(code) === CbpfMode.IMM && (cbpfClass(code) === CbpfClass.LD || cbpfClass(code) === CbpfClass.LDX)) {
      this.constant[val] = v0 >>> 0;
    }
    byV1.set(v1 === 0 ? outer : v1, val);
    return val;
  }

  /** The value number of the constant k. */
  k(k: number): number {
    return this.value(LD_IMM, k >>> 0, 0);
  }

  isConst(val: number): boolean {
    return this.constant[val] !== undefined;
  }

  constOf(val: number): number {
    return this.constant[val]!;
  }
}

function foldBinary(op: number, a: number, b: number): number {
  switch (op) {
    case CbpfAluOp.ADD: return (a + b) >>> 0;
    case CbpfAluOp.SUB: return (a - b) >>> 0;
    case CbpfAluOp.MUL: return Math.imul(a, b) >>> 0;
    case CbpfAluOp.DIV:
      if (b === 0) throw new TsbpfError('FILTER_DIVISION_BY_ZERO', 'division by zero');
      return Math.floor(a / b) >>> 0;
    case CbpfAluOp.MOD:
      if (b === 0) throw new TsbpfError('FILTER_MODULUS_BY_ZERO', 'modulus by zero');
      return a % b >>> 0;
    case CbpfAluOp.AND: return (a & b) >>> 0;
    case CbpfAluOp.OR: return (a | b) >>> 0;
    case CbpfAluOp.XOR: return (a ^ b) >>> 0;
    // Shifting by the width or more shifts every bit out.
    case CbpfAluOp.LSH: return b < 32 ? (a << b) >>> 0 : 0;
    case CbpfAluOp.RSH: return b < 32 ? a >>> b : 0;
    default:
      throw new TsbpfError('FILTER_OPTIMIZER', `cannot fold ALU operation 0x${op.toString(16)}`);
  }
}

export class StatementEvaluator {
  constructor(private readonly values: ValueTable, private readonly progress: PassProgress) {}

  /** Sets *slot to `v`, or deletes `s` when altering and the slot already holds that known value. */
  private store(s: Stmt, val: Int32Array, slot: number, v: number, alter: boolean): void {
    if (alter && v !== VAL_UNKNOWN && val[slot] === v) s.code = NOP;
    else val[slot] = v;
  }

  private fold(s: Stmt, a: number, b: number): void {
    s.k = foldBinary(cbpfOp(s.code), this.values.constOf(a), this.values.constOf(b));
    s.code = LD_IMM;
    noteChange(this.progress);
  }

  /** Computes what `s` defines into `val`; when `alter`, rewrites `s` using known values. */
  evaluate(s: Stmt, val: Int32Array, alter: boolean): void {
    const V = this.values;
    const code = s.code;
    if (code === NOP) return;
    const cls = cbpfClass(code);
    if (cls === CbpfClass.LD) {
      const mode = cbpfMode(code);
      if (mode === CbpfMode.ABS) {
        this.store(s, val, A_ATOM, V.value(code, s.k, 0), alter);
      } else if (mode === CbpfMode.IND) {
        let v = val[X_ATOM]!;
        if (alter && V.isConst(v)) {
          s.code = CbpfClass.LD | CbpfMode.ABS | cbpfSize(code);
          s.k = (s.k + V.constOf(v)) >>> 0;
          v = V.value(s.code, s.k, 0);
          noteChange(this.progress);
        } else {
          v = V.value(code, s.k, v);
        }
        this.store(s, val, A_ATOM, v, alter);
      } else if (mode === CbpfMode.LEN) {
        this.store(s, val, A_ATOM, V.value(code, 0, 0), alter);
      } else if (mode === CbpfMode.IMM) {
        this.store(s, val, A_ATOM, V.k(s.k), alter);
      } else if (mode === CbpfMode.MEM) {
        const v = val[s.k]!;
        if (alter && V.isConst(v)) {
          s.code = LD_IMM;
          s.k = V.constOf(v);
          noteChange(this.progress);
        }
        this.store(s, val, A_ATOM, v, alter);
      }
      return;
    }
    if (cls === CbpfClass.LDX) {
      const mode = cbpfMode(code);
      if (mode === CbpfMode.IMM) {
        this.store(s, val, X_ATOM, V.k(s.k), alter);
      } else if (mode === CbpfMode.MSH) {
        this.store(s, val, X_ATOM, V.value(code, s.k, 0), alter);
      } else if (mode === CbpfMode.MEM) {
        const v = val[s.k]!;
        if (alter && V.isConst(v)) {
          s.code = LDX_IMM;
          s.k = V.constOf(v);
          noteChange(this.progress);
        }
        this.store(s, val, X_ATOM, v, alter);
      } else if (mode === CbpfMode.LEN) {
        this.store(s, val, X_ATOM, V.value(code, 0, 0), alter);
      }
      return;
    }
    if (cls === CbpfClass.ST) {
      this.store(s, val, s.k, val[A_ATOM]!, alter);
      return;
    }
    if (cls === CbpfClass.STX) {
      this.store(s, val, s.k, val[X_ATOM]!, alter);
      return;
    }
    if (cls === CbpfClass.MISC) {
      if (code === (CbpfClass.MISC | CbpfMiscOp.TXA)) this.store(s, val, A_ATOM, val[X_ATOM]!, alter);
      else if (code === (CbpfClass.MISC | CbpfMiscOp.TAX)) this.store(s, val, X_ATOM, val[A_ATOM]!, alter);
      return;
    }
    if (cls === CbpfClass.ALU) this.evaluateAlu(s, val, alter);
  }

  private evaluateAlu(s: Stmt, val: Int32Array, alter: boolean): void {
    const V = this.values;
    const op = cbpfOp(s.code);
    if (op === CbpfAluOp.NEG) {
      const a = val[A_ATOM]!;
      if (alter && V.isConst(a)) {
        s.code = LD_IMM;
        s.k = (-V.constOf(a)) >>> 0;
        val[A_ATOM] = V.k(s.k);
      } else {
        val[A_ATOM] = V.value(s.code, a, 0);
      }
      return;
    }
    if ((s.code & CbpfSrc.X) === CbpfSrc.K) {
      if (alter) {
        if (s.k === 0) {
          // `sub #0` stays: the code generator may rely on it.
          if (op === CbpfAluOp.ADD || op === CbpfAluOp.LSH || op === CbpfAluOp.RSH || op === CbpfAluOp.OR || op === CbpfAluOp.XOR) {
            s.code = NOP;
            return;
          }
          if (op === CbpfAluOp.MUL || op === CbpfAluOp.AND) {
            s.code = LD_IMM;
            val[A_ATOM] = V.k(s.k);
            return;
          }
          if (op === CbpfAluOp.DIV) throw new TsbpfError('FILTER_DIVISION_BY_ZERO', 'division by zero');
          if (op === CbpfAluOp.MOD) throw new TsbpfError('FILTER_MODULUS_BY_ZERO', 'modulus by zero');
        }
        if (V.isConst(val[A_ATOM]!)) {
          this.fold(s, val[A_ATOM]!, V.k(s.k));
          val[A_ATOM] = V.k(s.k);
          return;
        }
      }
      val[A_ATOM] = V.value(s.code, val[A_ATOM]!, V.k(s.k));
      return;
    }
    // ALU with X as the operand.
    if (alter && V.isConst(val[X_ATOM]!)) {
      if (V.isConst(val[A_ATOM]!)) {
        this.fold(s, val[A_ATOM]!, val[X_ATOM]!);
        val[A_ATOM] = V.k(s.k);
      } else {
        s.code = CbpfClass.ALU | CbpfSrc.K | op;
        s.k = V.constOf(val[X_ATOM]!);
        noteChange(this.progress);
        val[A_ATOM] = V.value(s.code, val[A_ATOM]!, V.k(s.k));
      }
      return;
    }
    // An operation on an accumulator known to be 0 is a move or a constant.
    const a = val[A_ATOM]!;
    if (alter && V.isConst(a) && V.constOf(a) === 0) {
      if (op === CbpfAluOp.ADD || op === CbpfAluOp.OR || op === CbpfAluOp.XOR) {
        s.code = CbpfClass.MISC | CbpfMiscOp.TXA;
        this.store(s, val, A_ATOM, val[X_ATOM]!, alter);
        return;
      }
      // Not DIV/MOD (libpcap does those too): dividing by an X of 0 must still reject the packet.
      if (op === CbpfAluOp.MUL || op === CbpfAluOp.AND || op === CbpfAluOp.LSH || op === CbpfAluOp.RSH) {
        s.code = LD_IMM;
        s.k = 0;
        this.store(s, val, A_ATOM, V.k(0), alter);
        return;
      }
    }
    val[A_ATOM] = V.value(s.code, val[A_ATOM]!, val[X_ATOM]!);
  }
}
