import type { Instruction, Op } from '../isa/instruction.js';
import { HELPER_NAMES } from '../uapi/index.js';
import { formatHex64 } from './u64.js';

/** One instruction in the kernel verifier log's syntax: `(bf) r1 = r10`, `(85) call bpf_map_lookup_elem#1`. */
const ALU_SYM: Readonly<Record<string, string>> = {
  add: '+=', sub: '-=', mul: '*=', div: '/=', sdiv: 's/=', or: '|=', and: '&=', lsh: '<<=', rsh: '>>=', mod: '%=',
  smod: 's%=', xor: '^=', mov: '=', arsh: 's>>=',
};
const JMP_SYM: Readonly<Record<string, string>> = {
  jeq: '==', jgt: '>', jge: '>=', jset: '&', jne: '!=', jsgt: 's>', jsge: 's>=', jlt: '<', jle: '<=', jslt: 's<', jsle: 's<=',
};
const SIZE_NAME: Readonly<Record<number, string>> = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' };

const offText = (off: number): string => (off >= 0 ? `+${off}` : `${off}`);
const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

export function kernelInsnText(insns: readonly Instruction[], i: number, op: Op): string {
  const insn = insns[i]!;
  const code = `(${insn.code.toString(16).padStart(2, '0')})`;
  const body = ((): string => {
    switch (op.kind) {
      case 'alu': {
        const r = op.is64 ? 'r' : 'w';
        const dst = `${r}${insn.dst}`;
        const src = op.useReg ? `${r}${insn.src}` : `${insn.imm}`;
        if (op.name === 'neg') return `${dst} = -${dst}`;
        if (op.name === 'le' || op.name === 'be' || op.name === 'bswap') return `r${insn.dst} = ${op.name}${insn.imm} r${insn.dst}`;
        if (op.name === 'movsx') return `${dst} = (s${insn.off})${r}${insn.src}`;
        if (op.name === 'addr_space_cast') return `r${insn.dst} = addr_space_cast(r${insn.src}, 0, 1)`;
        return `${dst} ${ALU_SYM[op.name] ?? op.name} ${src}`;
      }
      case 'ldx': return `r${insn.dst} = *(${op.signed ? 's' : 'u'}${op.width * 8} *)(r${insn.src} ${offText(insn.off)})`;
      case 'stx': return `*(${SIZE_NAME[op.width]} *)(r${insn.dst} ${offText(insn.off)}) = r${insn.src}`;
      case 'st': return `*(${SIZE_NAME[op.width]} *)(r${insn.dst} ${offText(insn.off)}) = ${insn.imm}`;
      case 'atomic': {
        const w = op.width === 8 ? '64' : '';
        const mem = `(${SIZE_NAME[op.width]} *)(r${insn.dst} ${offText(insn.off)})`;
        if (op.op === 'cmpxchg') return `r0 = atomic${w}_cmpxchg(${mem}, r0, r${insn.src})`;
        if (op.op === 'xchg') return `r${insn.src} = atomic${w}_xchg(${mem}, r${insn.src})`;
        if (op.op === 'load_acq') return `r${insn.dst} = load_acquire(${mem.replace(`r${insn.dst}`, `r${insn.src}`)})`;
        if (op.op === 'store_rel') return `store_release(${mem}, r${insn.src})`;
        if (op.fetch) return `r${insn.src} = atomic${w}_fetch_${op.op}(${mem}, r${insn.src})`;
        return `lock *${mem} ${ALU_SYM[op.op]} r${insn.src}`;
      }
      case 'jcond': {
        const r = op.is32 ? 'w' : 'r';
        const src = op.useReg ? `${r}${insn.src}` : hex(insn.imm);
        return `if ${r}${insn.dst} ${JMP_SYM[op.cond]} ${src} goto pc${offText(insn.off)}`;
      }
      case 'ja': return `goto pc${offText(op.wide ? insn.imm : insn.off)}`;
      case 'may_goto': return `may_goto pc${offText(insn.off)}`;
      case 'call':
        if (op.target === 'local') return `call pc${offText(insn.imm)}`;
        if (op.target === 'kfunc') return `call kernel-function`;
        // Helper 0 (unspec) has no name in the kernel's table either.
        return `call ${insn.imm !== 0 && HELPER_NAMES[insn.imm] ? `bpf_${HELPER_NAMES[insn.imm]}` : 'unknown'}#${insn.imm}`;
      case 'callx': return `callx r${insn.dst}`;
      case 'exit': return 'exit';
      case 'ld_imm64': {
        const next = insns[i + 1];
        if (op.pseudo === 1 || op.pseudo === 5) return `r${insn.dst} = map[id:${insn.imm}]`;
        if (op.pseudo === 2 || op.pseudo === 6) return `r${insn.dst} = map[id:${insn.imm}][0]+${next?.imm ?? 0}`;
        return `r${insn.dst} = 0x${formatHex64((next?.imm ?? 0) >>> 0, insn.imm >>> 0)}`;
      }
      case 'ld_abs': return `r0 = *(${SIZE_NAME[op.width]} *)skb[${insn.imm}]`;
      case 'ld_ind': return `r0 = *(${SIZE_NAME[op.width]} *)skb[r${insn.src} + ${insn.imm}]`;
    }
  })();
  return `${code} ${body}`;
}
