import { Errno } from '../maps/spec.js';
import type { HelperIdName } from '../uapi/helper-ids.js';
import { argPointer, argU32, setReturnNumber } from '../vm/abi.js';
import { checkMemory, mapArg, type HelperImpl } from './base.js';

/**
 * Helpers whose kernel object does not exist in user space (stacks, perf counters, the FIB, tunnel
 * metadata, sockets, user memory of another process). Each answers what the kernel answers when the
 * object is absent, so programs that call them load and run; none pretends to have found something.
 */

const answer = (value: number): HelperImpl => (call) => setReturnNumber(call, value);

/** _NSIG: the kernel's valid_signal() takes 0 (permission check only) to 64. */
const LAST_SIGNAL = 64;

/**
 * Signalling the task the program runs for: the kernel answers 0 for a valid signal, -EINVAL past
 * the last. The runtime's task is not a process, so nothing is delivered.
 */
const signalCurrentTask: HelperImpl = (call) => setReturnNumber(call, argU32(call, 1) <= LAST_SIGNAL ? 0 : -Errno.EINVAL);

/** sizeof(struct bpf_perf_event_value): counter, enabled, running. */
const PERF_EVENT_VALUE_SIZE = 24;

/** Zero the `size`-byte buffer in argument `bufArg` and answer -ENOENT (no perf event there), -EINVAL for a wrong size. */
const noPerfValue = (bufArg: number, sizeArg: number): HelperImpl => (call) => {
  const buf = argPointer(call, bufArg);
  const size = argU32(call, sizeArg);
  checkMemory(call, buf, size, true);
  call.space.u8.fill(0, buf, buf + size);
  setReturnNumber(call, size === PERF_EVENT_VALUE_SIZE ? -Errno.ENOENT : -Errno.EINVAL);
};

/** Cgroup arrays hold no cgroups here: an index past the array is -E2BIG, any other slot is empty (-EAGAIN). */
const emptyCgroupSlot = (mapArgNumber: number, indexArg: number): HelperImpl => (call) => {
  const map = mapArg(call, mapArgNumber);
  setReturnNumber(call, argU32(call, indexArg) >= map.spec.maxEntries ? -Errno.E2BIG : -Errno.EAGAIN);
};

const INIT_NET_COOKIE = 1;

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
  perf_event_read_value: noPerfValue(3, 4),
  perf_prog_read_value: noPerfValue(2, 3),
  // No sockets exist to be found, assigned or converted.
  sk_lookup_tcp: answer(0),
  sk_lookup_udp: answer(0),
  skc_lookup_tcp: answer(0),
  sk_release: answer(0),
  sk_assign: answer(-Errno.EINVAL),
  skc_to_tcp_sock: answer(0),
  skb_under_cgroup: emptyCgroupSlot(2, 3),
  current_task_under_cgroup: emptyCgroupSlot(1, 2),
  // The error injection a kprobe asks for has no function to act on here.
  override_return: answer(0),
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
  get_func_ip: answer(0),
  send_signal: signalCurrentTask,
  send_signal_thread: signalCurrentTask,
  // The one network namespace the userspace runtime has: the initial one, whose cookie is 1.
  get_netns_cookie: answer(INIT_NET_COOKIE),
};
