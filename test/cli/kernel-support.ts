import { closeSync, openSync } from 'node:fs';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { lastErrno, libc, syscallNumbers } from '../../src/linux/libc.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `tsbpf ARGV...` through the CLI entry with captured output. */
export async function cli(...argv: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, readStdin: async () => Buffer.alloc(0), isTTY: false };
  const code = await main(argv, io);
  return { code, out, err };
}

/** `tsbpf ... --json` that must succeed, parsed. */
export async function cliJson<T>(...argv: string[]): Promise<T> {
  const run = await cli(...argv, '--json');
  if (run.code !== 0) throw new Error(`tsbpf ${argv.join(' ')} --json exited ${run.code}: ${run.err}`);
  return JSON.parse(run.out) as T;
}

const CLONE_NEWNET = 0x40000000;

function setns(fd: number, what: string): void {
  if (libc().syscall2(syscallNumbers().setns, fd, CLONE_NEWNET) < 0) throw new Error(`setns(${what}) failed: errno ${lastErrno()}`);
}

/**
 * Runs an async `fn` with the main thread inside network namespace `name`. The CLI awaits (module
 * loading) between its syscalls, so test/linux/support.ts's synchronous inNetns cannot wrap it; every
 * bpf() and netlink call runs on this thread, which stays in the namespace until `fn` settles.
 */
export async function inNetnsAsync<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${name}`, 'r');
  try {
    setns(target, name);
    try {
      return await fn();
    } finally {
      setns(home, 'back home');
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
