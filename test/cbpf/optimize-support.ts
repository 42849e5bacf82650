/**
 * Helpers for the optimiser's tests: libpcap's `-d` listing parsed back into instructions, and a
 * pcap/pcapng reader for the corpus captures.
 */
import { readFileSync } from 'node:fs';
import type { CbpfInstruction } from '../../src/cbpf/opcodes.js';

const SKF_AD_OFF = -0x1000;
/** Linux ancillary loads as libpcap's bpf_image names them. */
const namedOffsets: Record<string, number> = {
  proto: SKF_AD_OFF + 0, type: SKF_AD_OFF + 4, ifidx: SKF_AD_OFF + 8, nla: SKF_AD_OFF + 12, nlan: SKF_AD_OFF + 16,
  mark: SKF_AD_OFF + 20, queue: SKF_AD_OFF + 24, hatype: SKF_AD_OFF + 28, rxhash: SKF_AD_OFF + 32,
  cpu: SKF_AD_OFF + 36, vlan_tci: SKF_AD_OFF + 44, vlanp: SKF_AD_OFF + 48, poff: SKF_AD_OFF + 52,
  random: SKF_AD_OFF + 56,
};
const sizeOf: Record<string, number> = { ld: 0x00, ldh: 0x08, ldb: 0x10 };
const aluOps: Record<string, number> = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70, mod: 0x90, xor: 0xa0,
};
const jmpOps: Record<string, number> = { jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40 };

const num = (text: string): number => {
  const neg = text.startsWith('-');
  const body = neg ? text.slice(1) : text;
  const v = body.startsWith('0x') ? parseInt(body.slice(2), 16) : parseInt(body, 10);
  if (Number.isNaN(v)) throw new Error(`bad number ${text}`);
  return (neg ? -v : v) >>> 0;
};

/** Instruction-for-instruction equality. */
export const sameProgram = (a: CbpfInstruction[], b: CbpfInstruction[]): boolean =>
  a.length === b.length && a.every((x, i) => x.code === b[i]!.code && x.jt === b[i]!.jt && x.jf === b[i]!.jf && x.k === b[i]!.k);

/** A jump inside straight-line code (a `ja`, or a branch to where straight-line code also runs). */
export const hasInBlockJump = (prog: CbpfInstruction[]): boolean =>
  prog.some((insn, pc) => {
    if ((insn.code & 7) !== 5) return false;
    if (insn.code === 0x05) return true;
    const beforeTarget = prog[pc + Math.max(insn.jt, insn.jf)];
    return beforeTarget !== undefined && (beforeTarget.code & 7) !== 5 && (beforeTarget.code & 7) !== 6;
  });

/**
 * libpcap turns its optimiser off for protochain, geneve, 802.11 header lengths (radio headers, PPI,
 * Prism) and code with in-block jumps; such tests list one program for both modes.
 */
export const libpcapSkipsOptimizer = (dlt: string, expr: string, unopt: CbpfInstruction[]): boolean =>
  /protochain|geneve/.test(expr) || /^(IEEE802_11.*|PPI|PRISM_HEADER)$/.test(dlt) || hasInBlockJump(unopt);

/** Parses libpcap's `bpf_dump(…, 1)` text (`(000) ldh [12]`), ignoring a trailing `; 0x…` comment. */
export function parseListing(text: string): CbpfInstruction[] {
  const out: CbpfInstruction[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    if (!line) continue;
    const m = /^\((\d+)\)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`bad listing line: ${raw}`);
    const pc = Number(m[1]);
    const op = m[2]!;
    const rest = m[3]!.trim();
    const insn = (code: number, k = 0, jt = 0, jf = 0): void => { out.push({ code, jt, jf, k: k >>> 0 }); };
    let mm: RegExpExecArray | null;
    if (op in sizeOf) {
      const size = sizeOf[op]!;
      if (rest === '#pktlen') insn(0x80);
      else if ((mm = /^#(\S+)$/.exec(rest))) insn(0x00, num(mm[1]!));
      else if ((mm = /^M\[(\d+)\]$/.exec(rest))) insn(0x60, num(mm[1]!));
      else if ((mm = /^\[x \+ (-?\w+)\]$/.exec(rest))) insn(0x40 | size, num(mm[1]!));
      else if ((mm = /^\[(\w+)\]$/.exec(rest))) insn(0x20 | size, namedOffsets[mm[1]!] ?? num(mm[1]!));
      else if ((mm = /^\[(-\d+)\]$/.exec(rest))) insn(0x20 | size, num(mm[1]!));
      else throw new Error(`bad load: ${raw}`);
    } else if (op === 'ldx') {
      if (rest === '#pktlen') insn(0x81);
      else if ((mm = /^#(\S+)$/.exec(rest))) insn(0x01, num(mm[1]!));
      else if ((mm = /^M\[(\d+)\]$/.exec(rest))) insn(0x61, num(mm[1]!));
      else throw new Error(`bad ldx: ${raw}`);
    } else if (op === 'ldxb') {
      mm = /^4\*\(\[(\d+)\]&0xf\)$/.exec(rest);
      if (!mm) throw new Error(`bad ldxb: ${raw}`);
      insn(0xb1, num(mm[1]!));
    } else if (op === 'st' || op === 'stx') {
      mm = /^M\[(\d+)\]$/.exec(rest);
      if (!mm) throw new Error(`bad store: ${raw}`);
      insn(op === 'st' ? 0x02 : 0x03, num(mm[1]!));
    } else if (op in aluOps) {
      if (rest === 'x') insn(0x04 | aluOps[op]! | 0x08);
      else if ((mm = /^#(\S+)$/.exec(rest))) insn(0x04 | aluOps[op]!, num(mm[1]!));
      else throw new Error(`bad alu: ${raw}`);
    } else if (op === 'neg') {
      insn(0x84);
    } else if (op === 'ja') {
      insn(0x05, num(rest) - pc - 1);
    } else if (op in jmpOps) {
      mm = /^(x|#\S+)\s+jt (\d+)\s+jf (\d+)$/.exec(rest);
      if (!mm) throw new Error(`bad jump: ${raw}`);
      const src = mm[1] === 'x' ? 0x08 : 0;
      insn(0x05 | jmpOps[op]! | src, src ? 0 : num(mm[1]!.slice(1)), Number(mm[2]) - pc - 1, Number(mm[3]) - pc - 1);
    } else if (op === 'ret') {
      if (rest === '') insn(0x16);
      else if (rest === 'x') insn(0x0e);
      else if ((mm = /^#(\S+)$/.exec(rest))) insn(0x06, num(mm[1]!));
      else throw new Error(`bad ret: ${raw}`);
    } else if (op === 'tax') {
      insn(0x07);
    } else if (op === 'txa') {
      insn(0x87);
    } else {
      throw new Error(`unknown mnemonic: ${raw}`);
    }
  }
  return out;
}

export interface Capture {
  /** LINKTYPE_ number of the (first) interface. */
  linkType: number;
  snaplen: number;
  packets: Uint8Array[];
}

/** Packets of a pcap or pcapng file (captured bytes only). */
export function readCapture(path: string): Uint8Array[] {
  return readCaptureFile(path).packets;
}

export function readCaptureFile(path: string): Capture {
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const packets: Uint8Array[] = [];
  const magic = dv.getUint32(0, false);
  if (magic === 0x0a0d0d0a) {
    let le = dv.getUint32(8, true) === 0x1a2b3c4d;
    let linkType = -1;
    let snaplen = 0;
    for (let off = 0; off + 12 <= buf.length; ) {
      const type = dv.getUint32(off, le);
      if (type === 0x0a0d0d0a) le = dv.getUint32(off + 8, true) === 0x1a2b3c4d;
      const len = dv.getUint32(off + 4, le);
      if (len < 12) break;
      if (type === 1 && linkType < 0) {
        linkType = dv.getUint16(off + 8, le);
        snaplen = dv.getUint32(off + 12, le);
      }
      if (type === 6) packets.push(buf.subarray(off + 28, off + 28 + dv.getUint32(off + 20, le)));
      else if (type === 3) packets.push(buf.subarray(off + 16, off + 16 + Math.min(dv.getUint32(off + 8, le), len - 16)));
      off += len;
    }
    return { linkType, snaplen, packets };
  }
  const le = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  for (let off = 24; off + 16 <= buf.length; ) {
    const incl = dv.getUint32(off + 8, le);
    packets.push(buf.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
  }
  return { linkType: dv.getUint32(20, le) & 0x3ffffff, snaplen: dv.getUint32(16, le), packets };
}
