/**
 * The eBPF opcode space (RFC 9669 plus Linux extensions) as data. Every layer (decoder, encoder,
 * assembler, disassembler, interpreter, JIT, verifier) reads these tables instead of re-deriving bits.
 */

export const InsnClass = { LD: 0, LDX: 1, ST: 2, STX: 3, ALU: 4, JMP: 5, JMP32: 6, ALU64: 7 } as const;
export type InsnClass = (typeof InsnClass)[keyof typeof InsnClass];

/** Source bit of ALU/JMP opcodes. */
export const Source = { K: 0x00, X: 0x08 } as const;

export const AluOp = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70,
  NEG: 0x80, MOD: 0x90, XOR: 0xa0, MOV: 0xb0, ARSH: 0xc0, END: 0xd0,
} as const;

export const JmpOp = {
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JSGT: 0x60, JSGE: 0x70,
  CALL: 0x80, EXIT: 0x90, JLT: 0xa0, JLE: 0xb0, JSLT: 0xc0, JSLE: 0xd0, JCOND: 0xe0,
} as const;

export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export const Mode = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;

/** Byte width of each size code. */
export const SIZE_BYTES: Readonly<Record<number, 1 | 2 | 4 | 8>> = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 };
export const SIZE_SUFFIX: Readonly<Record<number, 'b' | 'h' | 'w' | 'dw'>> = { [Size.B]: 'b', [Size.H]: 'h', [Size.W]: 'w', [Size.DW]: 'dw' };

/** Atomic operations live in `imm` of STX|ATOMIC instructions. */
export const AtomicOp = {
  ADD: 0x00, OR: 0x40, AND: 0x50, XOR: 0xa0, FETCH: 0x01,
  XCHG: 0xe0 | 0x01, CMPXCHG: 0xf0 | 0x01,
  LOAD_ACQ: 0x100, STORE_REL: 0x110,
} as const;

/** `src` of LD_IMM64 (BPF_PSEUDO_*): what the 64-bit immediate means. */
export const PseudoLdImm64 = {
  IMM: 0, MAP_FD: 1, MAP_VALUE: 2, BTF_ID: 3, FUNC: 4, MAP_IDX: 5, MAP_IDX_VALUE: 6,
} as const;

/** `src` of CALL. */
export const PseudoCall = { HELPER: 0, LOCAL: 1, KFUNC: 2 } as const;

/** The frame pointer register and register count. */
export const R10 = 10;
export const REGISTER_COUNT = 11;

export const insnClass = (code: number): InsnClass => (code & 0x07) as InsnClass;
export const opOf = (code: number): number => code & 0xf0;
export const sourceOf = (code: number): number => code & 0x08;
export const sizeOf = (code: number): number => code & 0x18;
export const modeOf = (code: number): number => code & 0xe0;

export type AluName =
  | 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'or' | 'and' | 'lsh' | 'rsh' | 'neg' | 'mod' | 'smod'
  | 'xor' | 'mov' | 'movsx' | 'arsh' | 'le' | 'be' | 'bswap' | 'addr_space_cast';

export type JmpCond = 'jeq' | 'jgt' | 'jge' | 'jset' | 'jne' | 'jsgt' | 'jsge' | 'jlt' | 'jle' | 'jslt' | 'jsle';

export type AtomicName = 'add' | 'or' | 'and' | 'xor' | 'xchg' | 'cmpxchg' | 'load_acq' | 'store_rel';

export const ALU_NAMES: Readonly<Record<number, AluName>> = {
  [AluOp.ADD]: 'add', [AluOp.SUB]: 'sub', [AluOp.MUL]: 'mul', [AluOp.DIV]: 'div', [AluOp.OR]: 'or',
  [AluOp.AND]: 'and', [AluOp.LSH]: 'lsh', [AluOp.RSH]: 'rsh', [AluOp.NEG]: 'neg', [AluOp.MOD]: 'mod',
  [AluOp.XOR]: 'xor', [AluOp.MOV]: 'mov', [AluOp.ARSH]: 'arsh',
};

export const JMP_CONDS: Readonly<Record<number, JmpCond>> = {
  [JmpOp.JEQ]: 'jeq', [JmpOp.JGT]: 'jgt', [JmpOp.JGE]: 'jge', [JmpOp.JSET]: 'jset', [JmpOp.JNE]: 'jne',
  [JmpOp.JSGT]: 'jsgt', [JmpOp.JSGE]: 'jsge', [JmpOp.JLT]: 'jlt', [JmpOp.JLE]: 'jle', [JmpOp.JSLT]: 'jslt',
  [JmpOp.JSLE]: 'jsle',
};

/** C-like operator the LLVM syntax prints for each ALU op (`r1 += r2`). */
export const ALU_OPERATORS: Readonly<Partial<Record<AluName, string>>> = {
  add: '+=', sub: '-=', mul: '*=', div: '/=', sdiv: 's/=', or: '|=', and: '&=', lsh: '<<=', rsh: '>>=',
  mod: '%=', smod: 's%=', xor: '^=', mov: '=', movsx: '=', arsh: 's>>=',
};

/** C-like comparison the LLVM syntax prints for each condition (`if r1 > r2 goto +3`). */
export const JMP_OPERATORS: Readonly<Record<JmpCond, string>> = {
  jeq: '==', jgt: '>', jge: '>=', jset: '&', jne: '!=', jsgt: 's>', jsge: 's>=', jlt: '<', jle: '<=',
  jslt: 's<', jsle: 's<=',
};

export const ATOMIC_NAMES: Readonly<Record<number, AtomicName>> = {
  [AtomicOp.ADD]: 'add', [AtomicOp.OR]: 'or', [AtomicOp.AND]: 'and', [AtomicOp.XOR]: 'xor',
  [AtomicOp.XCHG]: 'xchg', [AtomicOp.CMPXCHG]: 'cmpxchg', [AtomicOp.LOAD_ACQ]: 'load_acq',
  [AtomicOp.STORE_REL]: 'store_rel',
};

export const CLASS_NAMES: Readonly<Record<InsnClass, string>> = {
  0: 'ld', 1: 'ldx', 2: 'st', 3: 'stx', 4: 'alu', 5: 'jmp', 6: 'jmp32', 7: 'alu64',
};
