import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { AluOp, JmpOp, type Instruction } from '../../src/isa/index.js';
import { asm, counterProgram, Helper } from '../../src/linux/asm.js';
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

/**
 * This run's part of every name a test gives a system-wide object (namespace, cgroup, bpffs pin):
 * the PID keeps parallel test files apart, the random part keeps a run apart from what an earlier
 * crashed run left behind under a recycled PID.
 */
export const runTag = `${process.pid}-${randomBytes(3).toString('hex')}`;

/** A namespace name no other test process, and no leftover, has. */
export const netnsName = (tag: string): string => `tsbpf-${runTag}-${tag}`;

/**
 * Creates namespace `name` with its loopback up and IPv6 off, so the only packets on its interfaces
 * are the ones a test sends (no router solicitations, DAD or MLD reports at random moments).
 */
export function addNetns(name: string): void {
  ip('netns', 'add', name);
  inNetns(name, () => {
    for (const conf of ['all', 'default']) {
      const path = `/proc/sys/net/ipv6/conf/${conf}/disable_ipv6`;
      if (existsSync(path)) writeFileSync(path, '1');
    }
  });
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

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
 * Polls `done` every few milliseconds until it holds or `timeoutMs` passes; whether it held. For what
 * the kernel finishes after a call returns (softirq delivery, work queues), which a loaded machine
 * may delay; the timeout only bounds a hang, so it is generous.
 */
export async function eventually(done: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/**
 * counterProgram counting only the calling thread `tid` (the main thread's is process.pid): Node's
 * other threads make system calls of their own, so a per-process count has no exact value.
 */
export function threadCounterProgram(mapFd: number, ret: number, tid: number, slot = 0): Instruction[] {
  const count = counterProgram(mapFd, ret, { slot });
  return [
    asm.call(Helper.get_current_pid_tgid),
    asm.alu64Imm(AluOp.LSH, 0, 32),
    asm.alu64Imm(AluOp.RSH, 0, 32),
    asm.jmpImm(JmpOp.JNE, 0, tid, count.length - 2),
    ...count,
  ];
}

/**
 * Sends `count` UDP datagrams from namespace `from` to `to`:port (one every 5 ms), then returns how many
 * a socket bound to `bind`:port in namespace `into` received: it waits (up to 10 s) for all of them,
 * as delivery may run later in a softirq thread, but only 50 ms when `expectNone` says they are dropped.
 */
export async function sendUdpAcross(
  path: { from: string; into: string; bind: string; to?: string },
  count: number,
  port: number,
  expectNone = false,
): Promise<number> {
  const receiver = inNetns(path.into, () => udpSocket(path.bind, port));
  const sender = inNetns(path.from, () => udpSocket());
  try {
    for (let i = 0; i < count; i++) {
      sendUdp(sender, path.to ?? path.bind, port, new TextEncoder().encode(`packet ${i}`));
      await sleep(5);
    }
    let received = 0;
    const drain = (): boolean => {
      while (recvUdp(receiver) !== undefined) received++;
      return received >= count;
    };
    if (expectNone) await sleep(50);
    else await eventually(drain);
    drain();
    return received;
  } finally {
    closeFd(sender);
    closeFd(receiver);
  }
}
