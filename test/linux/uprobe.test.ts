import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import koffi from 'koffi';
import { attachUprobe, BpfMap, BpfProgram, dynamicPmuType, symbolFileOffset } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { readU64, skipReason, threadCounterProgram, u32 } from './support.js';

/** The libc this process has mapped (the file the uprobe must name). */
const libcPath = readFileSync('/proc/self/maps', 'utf8').match(/\/\S*libc\.so\.6/)?.[0];
const skip = skipReason ?? (libcPath === undefined ? 'libc.so.6 not found in /proc/self/maps'
  : dynamicPmuType('uprobe') === undefined ? 'no uprobe PMU' : undefined);

test('uprobe and uretprobe on libc getpid() count this thread\'s calls made through koffi', { skip }, () => {
  const path = libcPath!;
  assert.ok(existsSync(path));
  assert.ok(symbolFileOffset(path, 'getpid') > 0);
  const getpid = koffi.load(path).func('getpid', 'int', []) as () => number;
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 2 });
  // Only the main thread's calls: Node's other threads may call getpid() at any moment.
  using entry = BpfProgram.load({ type: 'KPROBE', insns: threadCounterProgram(counts.fd, 0, process.pid, 0) });
  using exit = BpfProgram.load({ type: 'KPROBE', insns: threadCounterProgram(counts.fd, 0, process.pid, 1) });
  {
    using _in = attachUprobe(entry, { path, symbol: 'getpid', pid: process.pid });
    using _out = attachUprobe(exit, { path, symbol: 'getpid', pid: process.pid, retprobe: true });
    for (let i = 0; i < 7; i++) assert.equal(getpid(), process.pid);
  }
  assert.equal(readU64(counts.lookup(u32(0))!), 7, 'entries');
  assert.equal(readU64(counts.lookup(u32(1))!), 7, 'returns');
  getpid();
  assert.equal(readU64(counts.lookup(u32(0))!), 7, 'detached');
  assert.throws(() => symbolFileOffset(path, 'no_such_function_here'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/no-symbol');
});
