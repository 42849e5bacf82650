import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { AttachError } from './attach-error.js';
import { AttachType, lookupName, nameOf, type AttachTypeName } from './constants.js';
import { LinkCreateAttr } from './attr.js';
import { BpfLink, progAttach, progDetach } from './link.js';
import type { BpfProgram } from './program.js';
import { bpf } from './syscall.js';

/**
 * cgroup programs (cgroup_skb, cgroup/sock_create, cgroup/connect4, sockops, sysctl ...) on a cgroup v2
 * directory. A link (BPF_LINK_CREATE, `attachCgroup`) always runs alongside other programs (the kernel's
 * "multi" mode) and detaches when closed. `attachCgroupLegacy` uses BPF_PROG_ATTACH with override/multi
 * flags for kernels or tools that need it; its close() does BPF_PROG_DETACH.
 */

/** BPF_PROG_ATTACH flags for cgroups. */
export const CgroupAttachFlag = { ALLOW_OVERRIDE: 1 << 0, ALLOW_MULTI: 1 << 1, REPLACE: 1 << 2 } as const;

/** Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` or, on hybrid systems, `/sys/fs/cgroup/unified`). */
export function cgroup2Root(): string | undefined {
  let root: string | undefined;
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2') root ??= mountPoint;
  }
  return root;
}

/**
 * Attach type from a name as users write it: `inet_ingress`, `cgroup_inet_ingress`,
 * `BPF_CGROUP_INET4_CONNECT`, `sock_ops` ... (numbers pass through).
 */
export function cgroupAttachType(name: AttachTypeName | string | number): number {
  if (typeof name === 'number') return name;
  const type = lookupName(AttachType, name, 'BPF_') ?? lookupName(AttachType, `cgroup_${name}`);
  if (type === undefined) throw new AttachError('bad-attach-type', `unknown cgroup attach type ${name} (e.g. inet_ingress, inet_egress, inet_sock_create, inet4_connect)`);
  return type;
}

/** Opens a cgroup v2 directory for bpf(); the caller closes the fd. */
export function openCgroup(path: string): number {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    isDirectory = false;
  }
  if (!isDirectory) throw new AttachError('no-cgroup', `no cgroup directory ${path}${cgroup2Root() ? ` (cgroup v2 is mounted at ${cgroup2Root()})` : ' (no cgroup v2 mount)'}`);
  return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
}

/** A BPF_PROG_ATTACH attachment to a cgroup; close() detaches this program (and closes the cgroup fd). */
export class CgroupAttachment implements Disposable {
  #cgroupFd: number;

  constructor(readonly program: BpfProgram, cgroupFd: number, readonly attachType: number, readonly description: string) {
    this.#cgroupFd = cgroupFd;
  }

  get attached(): boolean {
    return this.#cgroupFd >= 0;
  }

  close(): void {
    const fd = this.#cgroupFd;
    if (fd < 0) return;
    this.#cgroupFd = -1;
    try {
      progDetach(this.program, fd, this.attachType);
    } finally {
      closeSync(fd);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Attaches `program` to the cgroup at `path` as a link for `attachType` (e.g. `inet_egress`, `inet4_connect`). */
export function attachCgroup(program: BpfProgram, path: string, attachType: AttachTypeName | string | number): BpfLink {
  const type = cgroupAttachType(attachType);
  const fd = openCgroup(path);
  try {
    // The link holds its own reference to the cgroup: our fd is only needed to create it.
    const { ret } = bpf('LINK_CREATE', LinkCreateAttr, { prog_fd: program.fd, target_fd: fd, attach_type: type, flags: 0 });
    return new BpfLink(ret, describe(type, path));
  } finally {
    closeSync(fd);
  }
}

/** BPF_PROG_ATTACH with CgroupAttachFlag bits (ALLOW_MULTI to run beside others, ALLOW_OVERRIDE to let sub-cgroups replace it). */
export function attachCgroupLegacy(program: BpfProgram, path: string, attachType: AttachTypeName | string | number, flags: number): CgroupAttachment {
  const type = cgroupAttachType(attachType);
  const fd = openCgroup(path);
  try {
    progAttach(program, fd, type, flags);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return new CgroupAttachment(program, fd, type, describe(type, path));
}

const describe = (type: number, path: string): string => `cgroup ${nameOf(AttachType, type).toLowerCase()} on ${path}`;
