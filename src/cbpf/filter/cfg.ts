/**
 * The control-flow graph a pcap-filter expression compiles to, before it is linearised to classic BPF.
 * The code generator builds it, the optimiser rewrites it in place, the emitter turns it into
 * instructions. Shape follows the BPF paper: straight-line statements, then one branch.
 *
 * Owner: the compiler (gencode). Others may rely on the fields below; new fields must be optional.
 */

/** A straight-line statement: any classic instruction that is not a conditional jump or RET. */
export interface Stmt {
  code: number;
  /** Operand, unsigned 32-bit. */
  k: number;
  /**
   * Only for the rare in-block jumps libpcap emits by hand (protochain's loop): the statement a
   * `ja`/conditional statement jumps to, within the same block's `stmts`.
   */
  jt?: Stmt;
  jf?: Stmt;
}

export interface Block {
  /** Unique, stable within one Cfg; side tables in the optimiser are keyed by it. */
  id: number;
  stmts: Stmt[];
  /**
   * The block's final instruction: a conditional jump (BPF_JMP | JEQ/JGT/JGE/JSET | K/X) whose targets
   * are `jt`/`jf`, or a return (BPF_RET | K/A) with no successors.
   */
  branch: Stmt;
  jt?: Block;
  jf?: Block;
}

export interface Cfg {
  root: Block;
  /** Scratch-memory slots (M[]) the generated code uses; the optimiser may free some. */
  scratchUsed?: number;
  /** Set when the code must not be optimised (protochain's backward jump, like libpcap). */
  noOptimize?: boolean;
}

export const isReturn = (b: Block): boolean => b.jt === undefined && b.jf === undefined;
