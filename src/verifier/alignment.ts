import type { VerifierContext } from './context.js';
import { Reject } from './reject.js';
import type { Reg } from './state.js';
import { tnumAdd, tnumFormat, type Tnum } from './tnum.js';

/**
 * BPF_F_STRICT_ALIGNMENT for pointers other than the stack (kernel check_ptr_alignment): the stack
 * is always strictly aligned and is checked with the stack access itself.
 */

/** Packet data is assumed to start 2 bytes past an aligned address (NET_IP_ALIGN), as the kernel does. */
const NET_IP_ALIGN = 2;

/** The word the kernel puts before "access" in the message, by pointer type. */
const DESCRIPTION: Readonly<Record<string, string>> = {
  flow_keys: 'flow keys ', map_key: 'key ', map_value: 'value ', ctx: 'context ',
  sock: 'sock ', sock_common: 'sock_common ', tcp_sock: 'tcp_sock ',
};

const isAligned = (t: Tnum, size: number): boolean => ((t.value | t.mask) & BigInt(size - 1)) === 0n;
const formatVarOff = (t: Tnum): string => (t.mask === 0n ? String(BigInt.asIntN(64, t.value)) : tnumFormat(t));

export function checkStrictAlignment(ctx: VerifierContext, at: number, ptr: Reg, off: number, size: number): void {
  if (!ctx.strictAlignment || size === 1 || ptr.type === 'fp') return;
  const varOff = ptr.b.var;
  if (ptr.type === 'pkt' || ptr.type === 'pkt_meta') {
    const total = tnumAdd(varOff, { value: BigInt.asUintN(64, BigInt(NET_IP_ALIGN + ptr.off + off)), mask: 0n });
    if (!isAligned(total, size)) {
      throw new Reject(`misaligned packet access off ${NET_IP_ALIGN}+${formatVarOff(varOff)}+${ptr.off}+${off} size ${size}`, at);
    }
    return;
  }
  const total = tnumAdd(varOff, { value: BigInt.asUintN(64, BigInt(ptr.off + off)), mask: 0n });
  if (!isAligned(total, size)) {
    throw new Reject(`misaligned ${DESCRIPTION[ptr.type] ?? ''}access off ${tnumFormat(varOff)}+${ptr.off}+${off} size ${size}`, at);
  }
}
