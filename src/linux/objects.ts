import { GetIdAttr, ObjInfoAttr } from './attr.js';
import type { BpfCommandName } from './constants.js';
import { BpfSyscallError } from './errors.js';
import { Errno } from './errno.js';
import { encodeLayout, type Encoded, type Layout } from './layout.js';
import { bpf, bpfTry } from './syscall.js';

/** The kinds of object the kernel numbers with ids. */
export type ObjectKind = 'prog' | 'map' | 'link' | 'btf';

const NEXT_ID: Record<ObjectKind, BpfCommandName> = {
  prog: 'PROG_GET_NEXT_ID', map: 'MAP_GET_NEXT_ID', link: 'LINK_GET_NEXT_ID', btf: 'BTF_GET_NEXT_ID',
};
const FD_BY_ID: Record<ObjectKind, BpfCommandName> = {
  prog: 'PROG_GET_FD_BY_ID', map: 'MAP_GET_FD_BY_ID', link: 'LINK_GET_FD_BY_ID', btf: 'BTF_GET_FD_BY_ID',
};

/** Every id of one kind currently alive in the kernel, ascending (BPF_*_GET_NEXT_ID). */
export function* objectIds(kind: ObjectKind): Generator<number> {
  let id = 0;
  for (;;) {
    const { ret, attr } = bpfTry(NEXT_ID[kind], GetIdAttr, { id });
    if (ret === -Errno.ENOENT) return;
    if (ret < 0) throw new BpfSyscallError(`BPF_${NEXT_ID[kind]}`, -ret);
    id = attr.view.getUint32(4, true);
    yield id;
  }
}

/**
 * A new fd for an object id, or undefined if the object went away meanwhile (ids race with
 * unloading, so ENOENT is an answer, not an error).
 */
export function fdFromId(kind: ObjectKind, id: number): number | undefined {
  const { ret } = bpfTry(FD_BY_ID[kind], GetIdAttr, { id });
  if (ret === -Errno.ENOENT) return undefined;
  if (ret < 0) throw new BpfSyscallError(`BPF_${FD_BY_ID[kind]}`, -ret, `id ${id}`);
  return ret;
}

/**
 * BPF_OBJ_GET_INFO_BY_FD into a structure described by `layout`; `pointers` fills array fields the
 * kernel copies out to (map ids, xlated instructions), which must be sized beforehand.
 */
export function objectInfo<L extends Layout>(fd: number, layout: L, pointers: Parameters<typeof encodeLayout<L>>[1] = {}): Encoded<L> {
  const info = encodeLayout(layout, pointers);
  bpf('OBJ_GET_INFO_BY_FD', ObjInfoAttr, { bpf_fd: fd, info_len: info.bytes.byteLength, info: info.bytes });
  return info;
}
