import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Root } from '../../src/linux/attach-cgroup.js';
import { closeFd, lastErrno, libc } from '../../src/linux/libc.js';
import { eventually, inNetns, runTag, skipReason } from './support.js';

/** Helpers of the attach-* tests: temporary cgroups with a child process in them, TCP pairs, CPU burn. */

export const cgroupRoot: string | undefined = skipReason ? undefined : cgroup2Root();
export const cgroupSkipReason = skipReason ?? (cgroupRoot === undefined ? 'no cgroup v2 hierarchy mounted' : undefined);

/** Creates empty cgroups under the v2 root; `removeAll()` (in `after`) deletes them. */
export class TemporaryCgroups {
  readonly #paths: string[] = [];

  create(tag: string): string {
    const path = join(cgroupRoot!, `tsbpf-${runTag}-${tag}`);
    mkdirSync(path);
    this.#paths.push(path);
    return path;
  }

  /** Removes every cgroup created, even when one of them cannot go; then throws the first failure. */
  removeAll(): void {
    const failures: unknown[] = [];
    for (const path of this.#paths.splice(0)) {
      try {
        rmdirSync(path);
      } catch (e) {
        failures.push(e);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

/**
 * A child Node process that joins `cgroup`, sends 10 UDP datagrams to itself on loopback and makes
 * one TCP connection to itself; prints what happened. Only loopback traffic, only the child's sockets.
 */
const CHILD = `
const fs = require('fs'), dgram = require('dgram'), net = require('net');
fs.writeFileSync(process.env.CGROUP + '/cgroup.procs', String(process.pid));
const sock = dgram.createSocket('udp4');
sock.bind(0, '127.0.0.1', async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => sock.send('x', sock.address().port, '127.0.0.1', r));
  sock.close();
  const server = net.createServer((c) => c.destroy()).listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1');
    client.on('connect', () => { console.log(JSON.stringify({ connected: true })); client.destroy(); server.close(); });
    client.on('error', (e) => { console.log(JSON.stringify({ connected: false, error: e.code })); server.close(); });
  });
});`;

export function runChildIn(cgroup: string): { connected: boolean; error?: string } {
  const out = spawnSync(process.execPath, ['-e', CHILD], { env: { ...process.env, CGROUP: cgroup }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout.trim()) as { connected: boolean; error?: string };
}

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;

function loopback(port: number): Uint8Array {
  const sa = new Uint8Array(16);
  new DataView(sa.buffer).setUint16(0, AF_INET, true);
  new DataView(sa.buffer).setUint16(2, port, false);
  sa.set([127, 0, 0, 1], 4);
  return sa;
}

function check(result: number, what: string): number {
  if (result < 0) throw new Error(`${what} failed: errno ${lastErrno()}`);
  return result;
}

/** An established TCP connection on the loopback of namespace `ns`: [client, server side]. Closed by the caller. */
export function tcpPair(ns: string, port: number): [number, number] {
  return inNetns(ns, () => {
    const c = libc();
    const listener = check(c.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket');
    try {
      check(c.bind(listener, loopback(port), 16), 'bind');
      check(c.listen(listener, 1), 'listen');
      const client = check(c.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket');
      check(c.connect(client, loopback(port), 16), 'connect');
      return [client, check(c.accept4(listener, null, null, SOCK_CLOEXEC), 'accept')];
    } finally {
      closeFd(listener);
    }
  });
}

/** send(2) on a stream socket: bytes sent, or -errno. */
export function sendText(fd: number, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const n = libc().sendto(fd, bytes, bytes.byteLength, 0, null, 0);
  return n < 0 ? -lastErrno() : n;
}

/** Non-blocking recv(2): what is queued, or ''. */
export function receiveText(fd: number): string {
  const buf = new Uint8Array(256);
  const n = libc().recv(fd, buf, buf.byteLength, MSG_DONTWAIT);
  return n < 0 ? '' : new TextDecoder().decode(buf.subarray(0, n));
}

/** What arrives on `fd` until it holds `length` bytes (or 10 s pass): delivery may lag the send a little. */
export async function receiveTextEventually(fd: number, length: number): Promise<string> {
  let text = '';
  await eventually(() => (text += receiveText(fd)).length >= length);
  return text;
}

/** Keeps this thread on a CPU for `ms` milliseconds. */
export function burn(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
}

/**
 * Burns CPU in 10 ms steps until `done` holds (then true) or 10 s pass (false): sampling events
 * fire per unit of CPU time or are throttled, so a loaded machine needs longer than an idle one.
 */
export function burnUntil(done: () => boolean): boolean {
  const deadline = performance.now() + 10_000;
  while (!done()) {
    if (performance.now() > deadline) return false;
    burn(10);
  }
  return true;
}
