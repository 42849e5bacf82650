import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { probeSyscall } from '../../src/linux/probe.js';
import { closeFd, lastErrno, libc, syscallNumbers } from '../../src/linux/libc.js';

/** Why the kernel tests cannot run here, or undefined when they can (Linux, root, bpf() working). */
export const skipReason: string | undefined = (() => {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (bpf() with CAP_BPF/CAP_SYS_ADMIN)';
  const probe = probeSyscall();
  return probe.status === 'supported' ? undefined : `bpf() unavailable: ${probe.detail ?? probe.status}`;
})();

/** Skip reason when the `ip` tool is missing too (network namespace tests). */
export const netnsSkipReason: string | undefined = skipReason ?? (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'iproute2 `ip` not found';
  }
})();

export const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
export const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
export const readU64 = (b: Uint8Array): number => Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A unique namespace name for this process (tests in parallel processes must not collide). */
export const netnsName = (tag: string): string => `tsbpf-${process.pid}-${tag}`;

export function deleteNetns(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    // Already gone.
  }
}

const CLONE_NEWNET = 0x40000000;

/**
 * Runs `fn` with the calling thread inside network namespace `name` (setns), then switches back.
 * Sockets and interface indexes used inside belong to that namespace; Node's own threads stay put.
 */
export function inNetns<T>(name: string, fn: () => T): T {
  const { syscall2 } = libc();
  const setns = syscallNumbers().setns;
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${name}`, 'r');
  try {
    if (syscall2(setns, target, CLONE_NEWNET) < 0) throw new Error(`setns(${name}) failed: errno ${lastErrno()}`);
    try {
      return fn();
    } finally {
      if (syscall2(setns, home, CLONE_NEWNET) < 0) throw new Error(`setns back failed: errno ${lastErrno()}`);
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}

/** The ifindex of `dev` inside namespace `ns`. */
export function ifindexIn(ns: string, dev: string): number {
  const m = /^(\d+):/.exec(ip('-n', ns, '-o', 'link', 'show', 'dev', dev));
  if (!m) throw new Error(`no ifindex for ${dev} in ${ns}`);
  return Number(m[1]);
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;

function sockaddrIn(address: string, port: number): Uint8Array {
  const sa = new Uint8Array(16);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  address.split('.').forEach((octet, i) => (sa[4 + i] = Number(octet)));
  return sa;
}

/** A UDP socket through libc (so it is created in the calling thread's namespace). */
export function udpSocket(bindAddress?: string, port = 0): number {
  const fd = libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket() failed: errno ${lastErrno()}`);
  if (bindAddress !== undefined) {
    const sa = sockaddrIn(bindAddress, port);
    if (libc().bind(fd, sa, 16) < 0) throw new Error(`bind(${bindAddress}:${port}) failed: errno ${lastErrno()}`);
  }
  return fd;
}

export function sendUdp(fd: number, address: string, port: number, payload: Uint8Array): void {
  const sa = sockaddrIn(address, port);
  if (libc().sendto(fd, payload, payload.byteLength, 0, sa, 16) < 0) throw new Error(`sendto failed: errno ${lastErrno()}`);
}

/** Non-blocking receive: the datagram, or undefined when nothing is queued. */
export function recvUdp(fd: number): Uint8Array | undefined {
  const buf = new Uint8Array(2048);
  const n = libc().recv(fd, buf, buf.byteLength, MSG_DONTWAIT);
  return n < 0 ? undefined : buf.slice(0, n);
}

/** Calls getpid(2) for real (not Node's cached process.pid). */
export function getpidSyscall(): number {
  return libc().syscall0(syscallNumbers().getpid);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `count` UDP datagrams from namespace `from` to `to`:port (one every 5 ms), then returns how many
 * a socket bound to `bind`:port in namespace `into` received.
 */
export async function sendUdpAcross(
  path: { from: string; into: string; bind: string; to?: string },
  count: number,
  port: number,
): Promise<number> {
  const receiver = inNetns(path.into, () => udpSocket(path.bind, port));
  const sender = inNetns(path.from, () => udpSocket());
  try {
    for (let i = 0; i < count; i++) {
      sendUdp(sender, path.to ?? path.bind, port, new TextEncoder().encode(`packet ${i}`));
      await sleep(5);
    }
    await sleep(50);
    let received = 0;
    while (recvUdp(receiver) !== undefined) received++;
    return received;
  } finally {
    closeFd(sender);
    closeFd(receiver);
  }
}
