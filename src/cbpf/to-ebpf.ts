import type { Instruction } from '../isa/instruction.js';
import { CbpfError } from './cbpf-error.js';
import { SKF_AD_OFF, SkfAd, type CbpfInstruction } from './opcodes.js';

/**
 * Classic to eBPF, as Linux's `bpf_convert_filter` does it: A in r0, X in r7, the context kept in
 * r6, r2 as a temporary, `M[k]` at fp-(4k+4). Packet loads become eBPF LD_ABS/LD_IND (the form a
 * user-space program may contain; the kernel further expands them into skb->data reads), `len`
 * reads `__sk_buff.len`, ancillary loads read the matching `__sk_buff` fields.
 */

const R0 = 0, R1 = 1, R2 = 2, R6 = 6, R7 = 7, R10 = 10;
const A = R0, X = R7, TMP = R2, CTX = R6;

/** eBPF opcodes used here (class | op | source). */
const ALU32_X = 0x0c, JMP = 0x05;
const MOV32_K = 0xb4, MOV32_X = 0xbc, MOV64_X = 0xbf, XOR32_X = 0xac, AND32_K = 0x54, LSH32_K = 0x64;
const LDX_W = 0x61, STX_W = 0x63, EXIT = 0x95, JA = 0x05, JNE_K = 0x55, CALL = 0x85, END_BE = 0xdc;
const OP_JEQ = 0x10, OP_JGT = 0x20, OP_JGE = 0x30, OP_JLT = 0xa0, OP_JLE = 0xb0, OP_JNE = 0x50;

/** `__sk_buff` field offsets (UAPI) the translation reads. */
export const SkBuffField = {
  len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, vlan_present: 20, vlan_tci: 24, vlan_proto: 28,
  ifindex: 40, hash: 68,
} as const;

const HELPER_GET_PRANDOM_U32 = 7;
const HELPER_GET_SMP_PROCESSOR_ID = 8;

export type ClassicContext = 'socket' | 'seccomp';

export interface ToEbpfOptions {
  /**
   * `socket` (default): packet loads, `len` from `__sk_buff`. `seccomp`: word loads read the
   * seccomp_data context directly and `len` is 64, as the kernel rewrites seccomp filters.
   */
  context?: ClassicContext;
}

export interface EbpfTranslation {
  insns: Instruction[];
  /** Bytes of stack the scratch memory uses (4 per highest M[] slot stored). */
  stackDepth: number;
  /** For each classic instruction, the index of its first eBPF instruction. */
  addresses: number[];
}

const ins = (code: number, dst: number, src: number, off: number, imm: number): Instruction => ({ code, dst, src, off, imm: imm | 0 });

/** A jump whose offset is filled in once every classic instruction's address is known. */
interface PendingJump { at: number; target: number; from: number }

export function classicToEbpf(prog: readonly CbpfInstruction[], options: ToEbpfOptions = {}): EbpfTranslation {
  const seccomp = options.context === 'seccomp';
  const out: Instruction[] = [
    ins(XOR32_X, A, A, 0, 0), // classic programs start with A = 0 and X = 0
    ins(XOR32_X, X, X, 0, 0),
    ins(MOV64_X, CTX, R1, 0, 0),
  ];
  const addresses: number[] = [];
  const pending: PendingJump[] = [];
  let stackDepth = 0;
  const n = prog.length;

  const jumpTo = (code: number, dst: number, src: number, imm: number, target: number, from: number): void => {
    if (target < 0 || target >= n) throw new CbpfError('cbpf/bad-jump', `jump to ${target} is outside the program (${n} instructions)`, { insn: from });
    pending.push({ at: out.length, target, from });
    out.push(ins(code, dst, src, 0, imm));
  };

  for (let i = 0; i < n; i++) {
    addresses.push(out.length);
    const { code, jt, jf } = prog[i]!;
    const k = prog[i]!.k >>> 0;
    const cls = code & 0x07;
    const at = { insn: i };
    switch (code) {
      // Packet loads: A = big-endian load, out of bounds ends the program with 0.
      case 0x20: case 0x28: case 0x30:
        if (seccomp) {
          if (code !== 0x20) throw new CbpfError('cbpf/seccomp-opcode', 'seccomp filters load whole words only', at);
          out.push(ins(LDX_W, A, CTX, k, 0));
        } else if (k >= (SKF_AD_OFF >>> 0)) {
          emitAncillary(out, k - (SKF_AD_OFF >>> 0), i);
        } else {
          out.push(ins(code, 0, 0, 0, k));
        }
        break;
      case 0x40: case 0x48: case 0x50:
        out.push(ins(code, 0, X, 0, k));
        break;
      case 0x80: case 0x81: {
        const dst = cls === 0 ? A : X;
        out.push(seccomp ? ins(MOV32_K, dst, 0, 0, 64) : ins(LDX_W, dst, CTX, SkBuffField.len, 0));
        break;
      }
      case 0xb1: // X = 4 * (pkt[k] & 0xf), keeping A: X holds A across the load
        out.push(ins(MOV64_X, X, A, 0, 0), ins(0x30, 0, 0, 0, k), ins(AND32_K, A, 0, 0, 0xf), ins(LSH32_K, A, 0, 0, 2),
          ins(MOV64_X, TMP, X, 0, 0), ins(MOV64_X, X, A, 0, 0), ins(MOV64_X, A, TMP, 0, 0));
        break;
      case 0x00: case 0x01:
        out.push(ins(MOV32_K, cls === 0 ? A : X, 0, 0, k));
        break;
      case 0x60: case 0x61:
        out.push(ins(LDX_W, cls === 0 ? A : X, R10, -(4 * k + 4), 0));
        break;
      case 0x02: case 0x03:
        stackDepth = Math.max(stackDepth, 4 * k + 4);
        out.push(ins(STX_W, R10, cls === 2 ? A : X, -(4 * k + 4), 0));
        break;
      case 0x07: out.push(ins(MOV64_X, X, A, 0, 0)); break;
      case 0x87: out.push(ins(MOV64_X, A, X, 0, 0)); break;
      case 0x06: out.push(ins(MOV32_K, R0, 0, 0, k), ins(EXIT, 0, 0, 0, 0)); break;
      case 0x16: out.push(ins(EXIT, 0, 0, 0, 0)); break;
      case 0x05:
        // Sign-extended like libpcap; the kernel's checker would have refused a backward jump.
        jumpTo(JA, 0, 0, 0, i + 1 + (k | 0), i);
        break;
      case 0x15: case 0x25: case 0x35: case 0x45: case 0x1d: case 0x2d: case 0x3d: case 0x4d: {
        let source = code & 0x08;
        let src = source ? X : 0;
        let imm = 0;
        if (!source && k >= 0x80000000) {
          // eBPF immediates are sign-extended: compare against a zero-extended copy in a register.
          out.push(ins(MOV32_K, TMP, 0, 0, k));
          source = 0x08;
          src = TMP;
        } else if (!source) imm = k;
        const op = code & 0xf0;
        if (jf === 0) { jumpTo(JMP | op | source, A, src, imm, i + 1 + jt, i); break; }
        const inverse = jt === 0 ? ({ [OP_JEQ]: OP_JNE, [OP_JGT]: OP_JLE, [OP_JGE]: OP_JLT } as Record<number, number>)[op] : undefined;
        if (inverse !== undefined) { jumpTo(JMP | inverse | source, A, src, imm, i + 1 + jf, i); break; }
        jumpTo(JMP | op | source, A, src, imm, i + 1 + jt, i);
        jumpTo(JA, 0, 0, 0, i + 1 + jf, i);
        break;
      }
      default:
        if (cls === 0x04) { // ALU: same encoding in eBPF's 32-bit ALU class
          if (code === 0x3c || code === 0x9c) {
            // Division or modulo by X = 0 returns 0, as classic BPF always did.
            out.push(ins(MOV32_X, X, X, 0, 0), ins(JNE_K, X, 0, 2, 0), ins(XOR32_X, A, A, 0, 0), ins(EXIT, 0, 0, 0, 0));
          }
          if (!ALU_CODES.has(code)) throw new CbpfError('cbpf/bad-opcode', `opcode 0x${code.toString(16)} has no eBPF translation`, at);
          // Clean encodings (the kernel's raw copy leaves X in src and k in imm, which only its
          // own unverified path tolerates): K forms carry imm, X forms src, NEG neither.
          const isX = (code & 0x08) !== 0;
          out.push(ins(code, A, isX ? X : 0, 0, isX || code === 0x84 ? 0 : k));
          break;
        }
        throw new CbpfError('cbpf/bad-opcode', `opcode 0x${code.toString(16)} has no eBPF translation`, at);
    }
  }

  for (const jump of pending) {
    const off = addresses[jump.target]! - jump.at - 1;
    if (off < -32768 || off > 32767) throw new CbpfError('cbpf/jump-too-far', `translated jump offset ${off} does not fit in 16 bits`, { insn: jump.from });
    out[jump.at]!.off = off;
  }
  return { insns: out, stackDepth, addresses };
}

const ALU_CODES = new Set([0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x94, 0x9c, 0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac, 0x64, 0x6c, 0x74, 0x7c, 0x84]);

/** `ld [SKF_AD_OFF + n]`: the `__sk_buff` field or helper the kernel uses for each. */
function emitAncillary(out: Instruction[], which: number, index: number): void {
  const field = (offset: number): void => { out.push(ins(LDX_W, A, CTX, offset, 0)); };
  switch (which) {
    case SkfAd.PROTOCOL: field(SkBuffField.protocol); out.push(ins(END_BE, A, 0, 0, 16)); return;
    case SkfAd.PKTTYPE: field(SkBuffField.pkt_type); return;
    case SkfAd.IFINDEX: field(SkBuffField.ifindex); return;
    case SkfAd.MARK: field(SkBuffField.mark); return;
    case SkfAd.QUEUE: field(SkBuffField.queue_mapping); return;
    case SkfAd.RXHASH: field(SkBuffField.hash); return;
    case SkfAd.VLAN_TAG: field(SkBuffField.vlan_tci); return;
    case SkfAd.VLAN_TAG_PRESENT: field(SkBuffField.vlan_present); return;
    case SkfAd.VLAN_TPID: field(SkBuffField.vlan_proto); out.push(ins(END_BE, A, 0, 0, 16)); return;
    case SkfAd.ALU_XOR_X: out.push(ins(ALU32_X | 0xa0, A, X, 0, 0)); return;
    case SkfAd.CPU: out.push(ins(CALL, 0, 0, 0, HELPER_GET_SMP_PROCESSOR_ID)); return;
    case SkfAd.RANDOM: out.push(ins(CALL, 0, 0, 0, HELPER_GET_PRANDOM_U32)); return;
    default:
      throw new CbpfError('cbpf/unsupported', `ancillary load SKF_AD_OFF+${which} has no user-space eBPF equivalent`, { insn: index });
  }
}
