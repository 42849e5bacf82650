/**
 * Counts getpid() calls system-wide for two seconds with a tracepoint program from an ELF object,
 * printing each call's process as it streams through the ring buffer. Run as root:
 *   npx tsx examples/count-getpid.ts
 */
import { readFileSync } from 'node:fs';
import { attachProgram } from '../src/linux/attach-object.js';
import { loadObjectIntoKernel } from '../src/linux/kernel-object.js';
import { RingBuffer } from '../src/linux/ringbuf.js';
import { openObjectForKernel } from '../src/linux/vmlinux.js';

const path = new URL('../test/linux/fixtures/syscalls.bpf.o', import.meta.url);
const object = openObjectForKernel(new Uint8Array(readFileSync(path)), { fileName: 'syscalls.bpf.o' });
using kernel = loadObjectIntoKernel(object, { programs: ['count_getpid'], ignorePinning: true });
using events = new RingBuffer(kernel.map('events'));
using _link = attachProgram(kernel, 'count_getpid');
const until = Date.now() + 2000;
let seen = 0;
while (Date.now() < until) {
  seen += await events.poll((record) => {
    const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
    console.log(`getpid() by tgid ${view.getUint32(0, true)} tid ${view.getUint32(4, true)} (call #${view.getBigUint64(8, true)})`);
  }, until - Date.now());
}
console.log(`${seen} calls in 2 s`);
