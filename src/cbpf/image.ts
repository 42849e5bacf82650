/**
 * tcpdump's program dumps: `-d` (bpf_image text), `-dd` (C array) and `-ddd` (decimal).
 */
import type { CbpfInstruction } from './opcodes.js';

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);
const SKF_AD_NAMES: Record<number, string> = {
  0: 'proto', 4: 'type', 8: 'ifidx', 12: 'nla', 16: 'nlan', 20: 'mark', 24: 'queue', 28: 'hatype',
  32: 'rxhash', 36: 'cpu', 40: 'xor_x', 44: 'vlan_tci', 48: 'vlanp', 52: 'poff', 56: 'rand', 60: 'vlan_tpid',
};

/** One instruction as `bpf_image` prints it: `(000) ldh      [12]`. */
export function bpfImage(p: CbpfInstruction, n: number): string {
  let op: string;
  let operand = '';
  let jumps = false;
  const k = p.k >>> 0;
  switch (p.code) {
    case 0x06: op = 'ret'; operand = `#${k}`; break;
    case 0x16: op = 'ret'; operand = ''; break;
    case 0x0e: op = 'ret'; operand = 'x'; break;
    case 0x20: op = 'ld'; operand = absOperand(k); break;
    case 0x28: op = 'ldh'; operand = absOperand(k); break;
    case 0x30: op = 'ldb'; operand = absOperand(k); break;
    case 0x80: op = 'ld'; operand = '#pktlen'; break;
    case 0x40: op = 'ld'; operand = `[x + ${k}]`; break;
    case 0x48: op = 'ldh'; operand = `[x + ${k}]`; break;
    case 0x50: op = 'ldb'; operand = `[x + ${k}]`; break;
    case 0x00: op = 'ld'; operand = `#${hex(k)}`; break;
    case 0x01: op = 'ldx'; operand = `#${hex(k)}`; break;
    case 0x81: op = 'ldx'; operand = '#pktlen'; break;
    case 0x60: op = 'ld'; operand = `M[${k}]`; break;
    case 0x61: op = 'ldx'; operand = `M[${k}]`; break;
    case 0xb1: op = 'ldxb'; operand = `4*([${k}]&0xf)`; break;
    case 0x02: op = 'st'; operand = `M[${k}]`; break;
    case 0x03: op = 'stx'; operand = `M[${k}]`; break;
    case 0x05: op = 'ja'; operand = `${(n + 1 + k) >>> 0}`; break;
    case 0x15: op = 'jeq'; operand = `#${hex(k)}`; jumps = true; break;
    case 0x25: op = 'jgt'; operand = `#${hex(k)}`; jumps = true; break;
    case 0x35: op = 'jge'; operand = `#${hex(k)}`; jumps = true; break;
    case 0x45: op = 'jset'; operand = `#${hex(k)}`; jumps = true; break;
    case 0x1d: op = 'jeq'; operand = 'x'; jumps = true; break;
    case 0x2d: op = 'jgt'; operand = 'x'; jumps = true; break;
    case 0x3d: op = 'jge'; operand = 'x'; jumps = true; break;
    case 0x4d: op = 'jset'; operand = 'x'; jumps = true; break;
    case 0x04: op = 'add'; operand = `#${k}`; break;
    case 0x14: op = 'sub'; operand = `#${k}`; break;
    case 0x24: op = 'mul'; operand = `#${k}`; break;
    case 0x34: op = 'div'; operand = `#${k}`; break;
    case 0x94: op = 'mod'; operand = `#${k}`; break;
    case 0x54: op = 'and'; operand = `#${hex(k)}`; break;
    case 0x44: op = 'or'; operand = `#${hex(k)}`; break;
    case 0xa4: op = 'xor'; operand = `#${hex(k)}`; break;
    case 0x64: op = 'lsh'; operand = `#${k}`; break;
    case 0x74: op = 'rsh'; operand = `#${k}`; break;
    case 0x0c: op = 'add'; operand = 'x'; break;
    case 0x1c: op = 'sub'; operand = 'x'; break;
    case 0x2c: op = 'mul'; operand = 'x'; break;
    case 0x3c: op = 'div'; operand = 'x'; break;
    case 0x9c: op = 'mod'; operand = 'x'; break;
    case 0x5c: op = 'and'; operand = 'x'; break;
    case 0x4c: op = 'or'; operand = 'x'; break;
    case 0xac: op = 'xor'; operand = 'x'; break;
    case 0x6c: op = 'lsh'; operand = 'x'; break;
    case 0x7c: op = 'rsh'; operand = 'x'; break;
    case 0x84: op = 'neg'; operand = ''; break;
    case 0x07: op = 'tax'; operand = ''; break;
    case 0x87: op = 'txa'; operand = ''; break;
    default: op = 'unimp'; operand = hex(p.code); break;
  }
  const num = String(n).padStart(3, '0');
  let line = `(${num}) ${op.padEnd(8)} ${operand}`;
  if (jumps) line = `(${num}) ${op.padEnd(8)} ${operand.padEnd(16)} jt ${n + 1 + p.jt}\tjf ${n + 1 + p.jf}`;
  return line.replace(/\s+$/, '');
}

function absOperand(k: number): string {
  const signed = k | 0;
  if (signed < 0 && signed >= -0x1000) {
    const name = SKF_AD_NAMES[signed + 0x1000];
    if (name !== undefined) return `[${name}]`;
  }
  return `[${k}]`;
}

/** `tcpdump -d`: one bpf_image line per instruction. */
export function formatImage(prog: CbpfInstruction[]): string {
  return prog.map((p, i) => bpfImage(p, i) + '\n').join('');
}

/** `tcpdump -dd`: a C initialiser. */
export function formatC(prog: CbpfInstruction[]): string {
  return prog.map((p) => `{ 0x${p.code.toString(16)}, ${p.jt}, ${p.jf}, 0x${(p.k >>> 0).toString(16).padStart(8, '0')} },\n`).join('');
}

/** `tcpdump -ddd`: the count, then `code jt jf k` in decimal. */
export function formatDecimal(prog: CbpfInstruction[]): string {
  return `${prog.length}\n` + prog.map((p) => `${p.code} ${p.jt} ${p.jf} ${p.k >>> 0}\n`).join('');
}
