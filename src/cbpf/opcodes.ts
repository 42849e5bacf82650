/**
 * Classic BPF (the BSD Packet Filter) instruction encoding: `struct sock_filter { u16 code; u8 jt;
 * u8 jf; u32 k; }`. Field constants follow <linux/filter.h> / <pcap/bpf.h>.
 */
export interface CbpfInstruction {
  /** 16-bit opcode. */
  code: number;
  /** Jump-if-true displacement (0..255), for conditional jumps. */
  jt: number;
  /** Jump-if-false displacement (0..255). */
  jf: number;
  /** 32-bit operand, kept unsigned (0..0xffffffff). */
  k: number;
}

export const CbpfClass = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07 } as const;
export const CbpfSize = { W: 0x00, H: 0x08, B: 0x10 } as const;
export const CbpfMode = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0 } as const;
export const CbpfAluOp = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70,
  NEG: 0x80, MOD: 0x90, XOR: 0xa0,
} as const;
export const CbpfJmpOp = { JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40 } as const;
export const CbpfSrc = { K: 0x00, X: 0x08 } as const;
/** RET operand: K (constant), X, or A. */
export const CbpfRval = { K: 0x00, X: 0x08, A: 0x10 } as const;
export const CbpfMiscOp = { TAX: 0x00, TXA: 0x80 } as const;

/** Scratch memory words (M[0..15]). */
export const BPF_MEMWORDS = 16;
/** Linux limit on classic program length. */
export const BPF_MAXINSNS = 4096;

export const cbpfClass = (code: number): number => code & 0x07;
export const cbpfSize = (code: number): number => code & 0x18;
export const cbpfMode = (code: number): number => code & 0xe0;
export const cbpfOp = (code: number): number => code & 0xf0;
export const cbpfSrc = (code: number): number => code & 0x08;
export const cbpfRval = (code: number): number => code & 0x18;
export const cbpfMiscOp = (code: number): number => code & 0xf8;

/** Linux ancillary-data loads: `ld [SKF_AD_OFF + n]`. */
export const SKF_AD_OFF = -0x1000;
export const SKF_NET_OFF = -0x100000;
export const SKF_LL_OFF = -0x200000;
export const SkfAd = {
  PROTOCOL: 0, PKTTYPE: 4, IFINDEX: 8, NLATTR: 12, NLATTR_NEST: 16, MARK: 20, QUEUE: 24, HATYPE: 28,
  RXHASH: 32, CPU: 36, ALU_XOR_X: 40, VLAN_TAG: 44, VLAN_TAG_PRESENT: 48, PAY_OFFSET: 52, RANDOM: 56,
  VLAN_TPID: 60, MAX: 64,
} as const;

export const insn = (code: number, jt: number, jf: number, k: number): CbpfInstruction => ({ code, jt, jf, k: k >>> 0 });
