import koffi from 'koffi';
import { TsbpfError } from '../errors.js';

/**
 * The few libc entry points the Linux backend needs, bound once through koffi. Every binding has a
 * fixed (non-variadic) prototype: on x86_64 and arm64 Linux, `syscall` reads its arguments from the
 * integer registers either way, and fixed prototypes are much cheaper to call than koffi's variadic form.
 */

/** System call numbers that differ per architecture. */
interface ArchSyscalls { bpf: number; perfEventOpen: number; getpid: number; setns: number }
const SYSCALLS_BY_ARCH: Readonly<Record<string, ArchSyscalls>> = {
  x64: { bpf: 321, perfEventOpen: 298, getpid: 39, setns: 308 },
  arm64: { bpf: 280, perfEventOpen: 241, getpid: 172, setns: 268 },
  riscv64: { bpf: 280, perfEventOpen: 241, getpid: 172, setns: 268 },
};

export class PlatformError extends TsbpfError {
  override name = 'PlatformError';
  constructor(message: string) {
    super('linux/unsupported-platform', message);
  }
}

/** Number-returning native function as koffi hands it back (koffi types its functions loosely). */
type Native<A extends unknown[]> = (...args: A) => number;
/** A pointer argument: a buffer whose memory koffi passes by address, or null. */
export type Ptr = Uint8Array | null;

interface LibcBindings {
  syscall3: Native<[number, number, Ptr, number]>;
  syscall5: Native<[number, Ptr, number, number, number, number]>;
  syscall0: Native<[number]>;
  syscall2: Native<[number, number, number]>;
  close: Native<[number]>;
  ioctlInt: Native<[number, number, number]>;
  fcntlInt: Native<[number, number, number]>;
  setsockopt: Native<[number, number, number, Ptr, number]>;
  socket: Native<[number, number, number]>;
  bind: Native<[number, Ptr, number]>;
  listen: Native<[number, number]>;
  connect: Native<[number, Ptr, number]>;
  accept4: Native<[number, Ptr, Ptr, number]>;
  sendto: Native<[number, Ptr, number, number, Ptr, number]>;
  recv: Native<[number, Ptr, number, number]>;
  open: Native<[string, number, number]>;
  mount: Native<[string, string, string, number, null]>;
  ifNameToIndex: Native<[string]>;
  /** memmove(dst, dst, 0) returns dst: the one portable way to learn a buffer's address through koffi. */
  addressOf: (dst: Ptr, src: Ptr, n: number) => number | bigint;
  /** `addr`: null, or a pointer from an earlier mmap (MAP_FIXED replaces that mapping). */
  mmap: (addr: unknown, length: number, prot: number, flags: number, fd: number, offset: number) => unknown;
  munmap: (addr: unknown, length: number) => number;
  view: (ptr: unknown, length: number) => ArrayBuffer;
  errno: () => number;
  pointerValue: (ptr: unknown) => bigint;
}

let bindings: LibcBindings | undefined;
let archSyscalls: ArchSyscalls | undefined;

export function syscallNumbers(): ArchSyscalls {
  if (archSyscalls) return archSyscalls;
  if (process.platform !== 'linux') throw new PlatformError(`the Linux backend needs Linux (this is ${process.platform})`);
  const numbers = SYSCALLS_BY_ARCH[process.arch];
  if (!numbers) throw new PlatformError(`no bpf() system call number known for architecture ${process.arch}`);
  archSyscalls = numbers;
  return numbers;
}

/** Binds libc on first use, so importing this module on another OS costs nothing and fails nowhere. */
export function libc(): LibcBindings {
  if (bindings) return bindings;
  syscallNumbers();
  const lib = koffi.load('libc.so.6');
  const fn = <F>(name: string, result: string, args: string[]): F => lib.func(name, result, args) as F;
  bindings = {
    syscall3: fn('syscall', 'long', ['long', 'long', 'void *', 'ulong']),
    syscall5: fn('syscall', 'long', ['long', 'void *', 'long', 'long', 'long', 'ulong']),
    syscall0: fn('syscall', 'long', ['long']),
    syscall2: fn('syscall', 'long', ['long', 'long', 'long']),
    close: fn('close', 'int', ['int']),
    ioctlInt: fn('ioctl', 'int', ['int', 'ulong', 'ulong']),
    fcntlInt: fn('fcntl', 'int', ['int', 'int', 'int']),
    setsockopt: fn('setsockopt', 'int', ['int', 'int', 'int', 'void *', 'uint']),
    socket: fn('socket', 'int', ['int', 'int', 'int']),
    bind: fn('bind', 'int', ['int', 'void *', 'uint']),
    listen: fn('listen', 'int', ['int', 'int']),
    connect: fn('connect', 'int', ['int', 'void *', 'uint']),
    accept4: fn('accept4', 'int', ['int', 'void *', 'void *', 'int']),
    sendto: fn('sendto', 'long', ['int', 'void *', 'size_t', 'int', 'void *', 'uint']),
    recv: fn('recv', 'long', ['int', 'void *', 'size_t', 'int']),
    open: fn('open', 'int', ['str', 'int', 'uint']),
    mount: fn('mount', 'int', ['str', 'str', 'str', 'ulong', 'void *']),
    ifNameToIndex: fn('if_nametoindex', 'uint', ['str']),
    addressOf: fn('memmove', 'uintptr_t', ['void *', 'void *', 'size_t']),
    mmap: fn('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'int64_t']),
    munmap: fn('munmap', 'int', ['void *', 'size_t']),
    view: (ptr, length) => koffi.view(ptr, length),
    errno: () => koffi.errno(),
    pointerValue: (ptr) => koffi.address(ptr),
  };
  return bindings;
}

/**
 * The address of a buffer's first byte, for pointer fields inside kernel structures. Touching
 * `.buffer` first moves a small typed array's storage off the V8 heap so the address stays valid;
 * the caller keeps the buffer referenced until the system call returns.
 */
export function bufferAddress(bytes: Uint8Array): bigint {
  if (bytes.byteLength === 0) return 0n;
  void bytes.buffer;
  return BigInt(libc().addressOf(bytes, bytes, 0));
}

/** Reads errno right after a failed call (koffi saves it per call). */
export const lastErrno = (): number => libc().errno();

const F_DUPFD_CLOEXEC = 1030;

/** A second descriptor for the same kernel object (close-on-exec), or -1 with errno set. */
export function dupFd(fd: number): number {
  return libc().fcntlInt(fd, F_DUPFD_CLOEXEC, 0);
}

/** Closes a file descriptor, ignoring errors (used on cleanup paths). */
export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}
