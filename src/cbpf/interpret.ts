import { CbpfError } from './cbpf-error.js';
import { decodeCbpf, Op, type DecodedCbpf } from './decode.js';
import { SkfAd, type CbpfInstruction } from './opcodes.js';

/**
 * Linux ancillary data (`ld [SKF_AD_OFF + n]`). libpcap's offline filter has none, so those loads
 * fail (return 0) unless an object is given; unset fields read as 0.
 */
export interface AncillaryData {
  protocol?: number;
  pktType?: number;
  ifindex?: number;
  mark?: number;
  queue?: number;
  hatype?: number;
  rxhash?: number;
  cpu?: number;
  vlanTag?: number;
  vlanTagPresent?: number;
  vlanTpid?: number;
  payloadOffset?: number;
  random?: () => number;
}

export interface CbpfRunOptions {
  ancillary?: AncillaryData;
  /**
   * Backward jumps (libpcap's protochain loop) allowed per run before the run stops with
   * `cbpf/loop-limit`; forward-only programs never count. Default 1,000,000.
   */
  maxBackwardJumps?: number;
}

/** A program ready to run over many packets: `run(packet, wirelen)` returns the filter's value. */
export interface CbpfRunner {
  run(packet: Uint8Array, wirelen?: number): number;
}

function ancillaryValue(data: AncillaryData, which: number, A: number, X: number): number {
  switch (which) {
    case SkfAd.PROTOCOL: return data.protocol ?? 0;
    case SkfAd.PKTTYPE: return data.pktType ?? 0;
    case SkfAd.IFINDEX: return data.ifindex ?? 0;
    case SkfAd.MARK: return data.mark ?? 0;
    case SkfAd.QUEUE: return data.queue ?? 0;
    case SkfAd.HATYPE: return data.hatype ?? 0;
    case SkfAd.RXHASH: return data.rxhash ?? 0;
    case SkfAd.CPU: return data.cpu ?? 0;
    case SkfAd.ALU_XOR_X: return (A ^ X) >>> 0;
    case SkfAd.VLAN_TAG: return data.vlanTag ?? 0;
    case SkfAd.VLAN_TAG_PRESENT: return data.vlanTagPresent ?? 0;
    case SkfAd.PAY_OFFSET: return data.payloadOffset ?? 0;
    case SkfAd.RANDOM: return (data.random?.() ?? 0) >>> 0;
    case SkfAd.VLAN_TPID: return data.vlanTpid ?? 0;
    default: throw new CbpfError('cbpf/bad-ancillary', `unsupported ancillary load SKF_AD_OFF+${which}`);
  }
}

/**
 * Runs a decoded program with libpcap's bpf_filter semantics: loads past the captured bytes and
 * division or modulo by zero end the run with 0; shifts by 32 or more give 0; `ja` is signed.
 */
export function executeDecoded(d: DecodedCbpf, packet: Uint8Array, wirelen: number, options: CbpfRunOptions, mem: Uint32Array): number {
  const ops = d.op, ks = d.k, kis = d.ki, jts = d.jt, jfs = d.jf;
  const buflen = packet.length;
  let A = 0, X = 0, pc = 0, k = 0, at = 0;
  let backwardBudget = options.maxBackwardJumps ?? 1_000_000;
  if (d.readsMemory) mem.fill(0);
  for (;;) {
    const op = ops[pc]!;
    k = ks[pc]!;
    switch (op) {
      // Offsets index through `at`, a small integer once bounds-checked (no double-indexed access).
      case Op.LD_W_ABS:
        at = kis[pc]!;
        if (at < 0 || at + 4 > buflen) return 0;
        A = ((packet[at]! << 24) | (packet[at + 1]! << 16) | (packet[at + 2]! << 8) | packet[at + 3]!) >>> 0;
        break;
      case Op.LD_H_ABS:
        at = kis[pc]!;
        if (at < 0 || at + 2 > buflen) return 0;
        A = (packet[at]! << 8) | packet[at + 1]!;
        break;
      case Op.LD_B_ABS:
        at = kis[pc]!;
        if (at < 0 || at >= buflen) return 0;
        A = packet[at]!;
        break;
      case Op.LD_W_IND:
        if (k + X + 4 > buflen) return 0;
        at = (k + X) | 0;
        A = ((packet[at]! << 24) | (packet[at + 1]! << 16) | (packet[at + 2]! << 8) | packet[at + 3]!) >>> 0;
        break;
      case Op.LD_H_IND:
        if (k + X + 2 > buflen) return 0;
        at = (k + X) | 0;
        A = (packet[at]! << 8) | packet[at + 1]!;
        break;
      case Op.LD_B_IND:
        if (k + X >= buflen) return 0;
        A = packet[(k + X) | 0]!;
        break;
      case Op.LD_LEN: A = wirelen; break;
      case Op.LDX_LEN: X = wirelen; break;
      case Op.LD_IMM: A = k; break;
      case Op.LDX_IMM: X = k; break;
      case Op.LD_MEM: A = mem[kis[pc]!]!; break;
      case Op.LDX_MEM: X = mem[kis[pc]!]!; break;
      case Op.LDX_MSH:
        at = kis[pc]!;
        if (at < 0 || at >= buflen) return 0;
        X = (packet[at]! & 0xf) << 2;
        break;
      case Op.ST: mem[kis[pc]!] = A; break;
      case Op.STX: mem[kis[pc]!] = X; break;
      case Op.ADD_K: A = (A + k) >>> 0; break;
      case Op.SUB_K: A = (A - k) >>> 0; break;
      case Op.MUL_K: A = Math.imul(A, k) >>> 0; break;
      case Op.DIV_K: if (k === 0) return 0; A = Math.floor(A / k); break;
      case Op.MOD_K: if (k === 0) return 0; A = A % k; break;
      case Op.AND_K: A = (A & k) >>> 0; break;
      case Op.OR_K: A = (A | k) >>> 0; break;
      case Op.XOR_K: A = (A ^ k) >>> 0; break;
      case Op.LSH_K: A = k < 32 ? (A << k) >>> 0 : 0; break;
      case Op.RSH_K: A = k < 32 ? A >>> k : 0; break;
      case Op.ADD_X: A = (A + X) >>> 0; break;
      case Op.SUB_X: A = (A - X) >>> 0; break;
      case Op.MUL_X: A = Math.imul(A, X) >>> 0; break;
      case Op.DIV_X: if (X === 0) return 0; A = Math.floor(A / X); break;
      case Op.MOD_X: if (X === 0) return 0; A = A % X; break;
      case Op.AND_X: A = (A & X) >>> 0; break;
      case Op.OR_X: A = (A | X) >>> 0; break;
      case Op.XOR_X: A = (A ^ X) >>> 0; break;
      case Op.LSH_X: A = X < 32 ? (A << X) >>> 0 : 0; break;
      case Op.RSH_X: A = X < 32 ? A >>> X : 0; break;
      case Op.NEG: A = -A >>> 0; break;
      case Op.JA: {
        const target = jts[pc]!;
        if (target <= pc && --backwardBudget < 0) {
          throw new CbpfError('cbpf/loop-limit', 'too many backward jumps in one run', { insn: pc });
        }
        pc = target;
        continue;
      }
      case Op.JEQ_K: pc = A === k ? jts[pc]! : jfs[pc]!; continue;
      case Op.JGT_K: pc = A > k ? jts[pc]! : jfs[pc]!; continue;
      case Op.JGE_K: pc = A >= k ? jts[pc]! : jfs[pc]!; continue;
      case Op.JSET_K: pc = (A & k) !== 0 ? jts[pc]! : jfs[pc]!; continue;
      case Op.JEQ_X: pc = A === X ? jts[pc]! : jfs[pc]!; continue;
      case Op.JGT_X: pc = A > X ? jts[pc]! : jfs[pc]!; continue;
      case Op.JGE_X: pc = A >= X ? jts[pc]! : jfs[pc]!; continue;
      case Op.JSET_X: pc = (A & X) !== 0 ? jts[pc]! : jfs[pc]!; continue;
      case Op.RET_K: return k;
      case Op.RET_A: return A;
      case Op.RET_X: return X;
      case Op.TAX: X = A; break;
      case Op.TXA: A = X; break;
      case Op.LD_ANC:
        if (!options.ancillary) return 0;
        A = ancillaryValue(options.ancillary, k, A, X) >>> 0;
        break;
      default:
        return 0;
    }
    // Falling off the end without a RET rejects, as a missing return would in the kernel's checker.
    if (++pc >= d.length) return 0;
  }
}

/** Decodes once; the returned runner reuses its scratch memory across packets. */
export function prepareCbpf(prog: readonly CbpfInstruction[], options: CbpfRunOptions = {}): CbpfRunner {
  const decoded = decodeCbpf(prog, { ancillary: options.ancillary !== undefined });
  const mem = new Uint32Array(16);
  return { run: (packet, wirelen = packet.length) => executeDecoded(decoded, packet, wirelen, options, mem) };
}

const cache = new WeakMap<readonly CbpfInstruction[], { decoded: DecodedCbpf; mem: Uint32Array }>();

/**
 * Runs a classic program over one packet (`wirelen` defaults to the captured length) and returns
 * what it returns (0: drop; otherwise the number of bytes to keep). The decoding is cached per
 * program array, so calling this in a loop stays cheap; ancillary options bypass the cache.
 */
export function runCbpf(prog: readonly CbpfInstruction[], packet: Uint8Array, wirelen: number = packet.length, options: CbpfRunOptions = {}): number {
  if (options.ancillary) return prepareCbpf(prog, options).run(packet, wirelen);
  let entry = cache.get(prog);
  if (!entry) {
    entry = { decoded: decodeCbpf(prog), mem: new Uint32Array(16) };
    cache.set(prog, entry);
  }
  return executeDecoded(entry.decoded, packet, wirelen, options, entry.mem);
}
