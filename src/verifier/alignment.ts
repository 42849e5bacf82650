import type { VerifierContext } from './context.js';
import { Reject } from './reject.js';
import type { Reg } from './state.js';
import { tnumAlignedAt, tnumFormat, type Tnum } from './tnum.js';
import { formatS64 } from './u64.js';

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

/** var_off as the kernel's misalignment lines print it: a constant in decimal, otherwise (value; mask). */
export const formatVarOff = (t: Tnum): string => (t.maskHi === 0 && t.maskLo === 0 ? formatS64(t.valueHi, t.valueLo) : tnumFormat(t));

export function checkStrictAlignment(ctx: VerifierContext, at: number, ptr: Reg, off: number, size: number): void {
  if (!ctx.strictAlignment || size === 1 || ptr.type === 'fp') return;
  const varOff = ptr.b;
  if (ptr.type === 'pkt' || ptr.type === 'pkt_meta') {
    if (!tnumAlignedAt(varOff, NET_IP_ALIGN + ptr.off + off, size)) {
      throw new Reject(`misaligned packet access off ${NET_IP_ALIGN}+${formatVarOff(varOff)}+${ptr.off}+${off} size ${size}`, at);
    }
    return;
  }
  if (!tnumAlignedAt(varOff, ptr.off + off, size)) {
    throw new Reject(`misaligned ${DESCRIPTION[ptr.type] ?? ''}access off ${formatVarOff(varOff)}+${ptr.off}+${off} size ${size}`, at);
  }
}
