import { Errno } from '../maps/spec.js';
import type { HelperIdName } from '../uapi/helper-ids.js';
import { argPointer, argU32, setReturnNumber } from '../vm/abi.js';
import { checkMemory, type HelperImpl } from './base.js';

/**
 * Helpers whose kernel object does not exist in user space (stacks, perf counters, the FIB, tunnel
 * metadata, sockets, user memory of another process). Each answers what the kernel answers when the
 * object is absent, so programs that call them load and run; none pretends to have found something.
 */

const answer = (value: number): HelperImpl => (call) => setReturnNumber(call, value);

/** bpf_fib_lookup's "no route" verdict (BPF_FIB_LKUP_RET_NOT_FWDED). */
const FIB_NOT_FORWARDED = 4;

export const ABSENT_HELPERS: Partial<Record<HelperIdName, HelperImpl>> = {
  get_stackid: answer(-Errno.EFAULT),
  get_stack: (call) => {
    const buf = argPointer(call, 2);
    const size = argU32(call, 3);
    checkMemory(call, buf, size, true);
    call.space.u8.fill(0, buf, buf + size);
    setReturnNumber(call, 0);
  },
  perf_event_read: answer(-Errno.ENOENT),
  fib_lookup: answer(FIB_NOT_FORWARDED),
  skb_get_tunnel_key: (call) => {
    const buf = argPointer(call, 2);
    const size = argU32(call, 3);
    checkMemory(call, buf, size, true);
    call.space.u8.fill(0, buf, buf + size);
    setReturnNumber(call, -Errno.ENOENT);
  },
  skb_set_tunnel_key: answer(-Errno.ENOENT),
  skb_get_tunnel_opt: answer(-Errno.ENOENT),
  skb_set_tunnel_opt: answer(-Errno.ENOENT),
  setsockopt: answer(-Errno.EINVAL),
  getsockopt: answer(-Errno.EINVAL),
  sock_ops_cb_flags_set: answer(-Errno.EINVAL),
  sock_map_update: answer(-Errno.EOPNOTSUPP),
  sock_hash_update: answer(-Errno.EOPNOTSUPP),
  sk_redirect_map: answer(0),
  msg_redirect_map: answer(0),
  // Lockdown forbids it on the machines tsbpf targets, and user space has no other process to write to.
  probe_write_user: answer(-Errno.EPERM),
  get_current_task: answer(0),
  get_current_cgroup_id: answer(0),
  get_func_ip: answer(0),
  send_signal: answer(-Errno.EPERM),
};
