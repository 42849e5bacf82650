import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { command as verifyCommand } from '../../src/cli/commands/verify.js';
import type { CliIO } from '../../src/cli/command.js';
import { openObject, type BpfObject } from '../../src/object/index.js';
import { Runtime, type LoadedObject } from '../../src/runtime/index.js';
import { VerifierRejectedError } from '../../src/runtime/verify-load.js';
import type { Engine } from '../../src/vm/engine.js';
import { skipReason } from '../linux/support.js';
import { onEachEngine } from '../support/engines.js';
import { fixturesDir } from '../support/paths.js';

/**
 * test/fixtures/maps/locks.bpf.c, whose maps hold a bpf_spin_lock and a bpf_timer in their values:
 * the object's maps carry those fields, so `tsbpf verify` and the runtime give the kernel's verdicts
 * and lines; a program reads struct bpf_map through map pointers and gets the kernel's numbers; and
 * updates from user space and from programs leave the lock word alone, as the kernel's do. The
 * kernel side (BPF_PROG_LOAD, BPF_PROG_TEST_RUN, BPF_MAP_*_ELEM) skips without bpf().
 */

type Kernel = typeof import('../../src/linux/kernel-object.js');
type LinuxIndex = typeof import('../../src/linux/index.js');
const kernel: Kernel | undefined = skipReason === undefined ? await import('../../src/linux/kernel-object.js') : undefined;
const linux: LinuxIndex | undefined = skipReason === undefined ? await import('../../src/linux/index.js') : undefined;

const FIXTURE = join(fixturesDir, 'maps', 'locks.bpf.o');
const open = (): BpfObject => openObject(new Uint8Array(readFileSync(FIXTURE)), { fileName: 'locks.bpf.o' });
const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'none' : Buffer.from(b).toString('hex'));
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const packet = new Uint8Array(64);

interface Verdict { verdict: string; insn?: number; message?: string }

/** What Linux 6.18 says of each program (settled by the kernel test below). */
const KERNEL_VERDICTS: Record<string, Verdict> = {
  lock_and_count: { verdict: 'accept' },
  store_counter: { verdict: 'accept' },
  read_lock_word: { verdict: 'reject', insn: 8, message: 'bpf_spin_lock cannot be accessed directly by load/store' },
  exit_holding_lock: { verdict: 'reject', insn: 14, message: 'BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region' },
  start_timer: { verdict: 'accept' },
  map_facts: { verdict: 'accept' },
};

test('tsbpf verify gives the kernel verdicts and lines', async () => {
  let out = '';
  const io: CliIO = { stdout: (s) => { out += s; }, stderr: () => {}, readStdin: async () => Buffer.alloc(0), isTTY: false };
  assert.equal(await verifyCommand.run([FIXTURE, '--json'], io), 1);
  const report = JSON.parse(out) as { programs: { name: string; verdict: string; error: { message: string; insn: number } | null }[] };
  const ours = Object.fromEntries(report.programs.map((p): [string, Verdict] => [p.name, p.error ? { verdict: p.verdict, insn: p.error.insn, message: p.error.message } : { verdict: p.verdict }]));
  assert.deepEqual(ours, KERNEL_VERDICTS);
});

test('Runtime.loadObject gives the kernel verdicts (timers are refused after verification: the runtime has none)', () => {
  const object = open();
  const outcomes: Record<string, string> = {};
  for (const p of object.programs) {
    const rt = new Runtime();
    try {
      rt.loadObject(object, { programs: [p.name] });
      outcomes[p.name] = 'accept';
    } catch (e) {
      if (e instanceof VerifierRejectedError) outcomes[p.name] = `reject at ${e.result.error!.insn}: ${e.result.error!.message}`;
      else if (e instanceof TsbpfError) outcomes[p.name] = `refused: ${e.code}, ${/calls helper (\S+),/.exec(e.message)?.[1]}`;
      else throw e;
    } finally {
      rt.close();
    }
  }
  assert.deepEqual(outcomes, {
    lock_and_count: 'accept', store_counter: 'accept', map_facts: 'accept',
    read_lock_word: 'reject at 8: bpf_spin_lock cannot be accessed directly by load/store',
    exit_holding_lock: 'reject at 14: BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region',
    start_timer: 'refused: load/rejected, bpf_timer_init#169',
  });
});

test('the kernel gives those verdicts and lines', { skip: skipReason }, () => {
  const object = open();
  const theirs: Record<string, Verdict> = {};
  for (const p of object.programs) {
    try {
      kernel!.loadObjectIntoKernel(object, { programs: [p.name], ignorePinning: true }).close();
      theirs[p.name] = { verdict: 'accept' };
    } catch (e) {
      if (!(e instanceof linux!.BpfVerifierError)) throw e;
      // The failing instruction is the last one the log prints before its verdict.
      const insns = [...e.log.matchAll(/^(\d+): \(/gm)];
      theirs[p.name] = { verdict: 'reject', insn: Number(insns[insns.length - 1]![1]), message: e.summary };
    }
  }
  assert.deepEqual(theirs, KERNEL_VERDICTS);
});

interface Pair {
  user: LoadedObject;
  kern: InstanceType<Kernel['KernelObject']>;
  runtime: Runtime;
}

/** The fixture's accepted, runnable programs on both sides, for each engine in turn. */
function onBothSides(body: (p: Pair) => void): void {
  onEachEngine((engine: Engine) => {
    const object = open();
    const programs = ['lock_and_count', 'store_counter', 'map_facts'];
    const runtime = new Runtime({ engine });
    const kern = kernel!.loadObjectIntoKernel(object, { programs, ignorePinning: true });
    try {
      body({ user: runtime.loadObject(object, { programs }), kern, runtime });
    } finally {
      kern.close();
      runtime.close();
    }
  });
}

test('struct bpf_map read through map pointers: the kernel numbers on both engines', { skip: skipReason }, () => {
  onBothSides(({ user, kern }) => {
    const userRun = user.program('map_facts').testRun({ data: packet }).retval;
    const kernRun = kern.program('map_facts').testRun({ data: packet }).retval;
    assert.equal(userRun, kernRun, 'retval (counters max_entries)');
    assert.equal(userRun, 4);
    // struct facts: map_type, key_size, value_size, max_entries, map_extra (u64), map_flags, id, numa_node,
    // btf_key_type_id, btf_value_type_id, name[16]; the id is each side's own.
    const facts = (side: 'user' | 'kern', slot: number, mapName: string): string => {
      const bytes = side === 'user' ? user.map('map_facts_out').lookup(u32(slot))! : kern.maps.get('map_facts_out')!.lookup(u32(slot))!;
      const id = side === 'user' ? user.map(mapName).id : kern.maps.get(mapName)!.id;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      assert.equal(view.getUint32(28, true), id, `${side} ${mapName} id`);
      return hex(bytes.subarray(0, 28)) + '|' + hex(bytes.subarray(32));
    };
    for (const [slot, name] of [[0, 'counters'], [1, 'counters_by_flow']] as const) {
      assert.equal(facts('user', slot, name), facts('kern', slot, name), name);
    }
  });
});

test('updates from user space and programs leave the lock word alone, as the kernel does', { skip: skipReason }, () => {
  onBothSides(({ user, kern }) => {
    const key = u32(0);
    /** hits 5, the lock word 1 (as if held), total 7. */
    const held = new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    const steps = (side: 'user' | 'kern'): string[] => {
      const counters = side === 'user' ? user.map('counters') : kern.maps.get('counters')!;
      const hash = side === 'user' ? user.map('counters_by_flow') : kern.maps.get('counters_by_flow')!;
      const run = (name: string): number => (side === 'user' ? user.program(name).testRun({ data: packet }) : kern.program(name).testRun({ data: packet })).retval;
      const log: string[] = [];
      counters.update(key, held);
      hash.update(key, held);
      log.push(hex(counters.lookup(key)), hex(hash.lookup(key)));
      // A lock word copied in would be held: bpf_spin_lock would spin (the kernel) or fault (tsbpf).
      log.push(`lock_and_count ${run('lock_and_count')}`, hex(counters.lookup(key)));
      log.push(`store_counter ${run('store_counter')}`, hex(counters.lookup(key)), hex(hash.lookup(key)));
      log.push(`lock_and_count ${run('lock_and_count')}`, hex(counters.lookup(key)));
      counters.update(key, held, 4);
      log.push(`BPF_F_LOCK ${hex(counters.lookup(key))}`);
      hash.update(key, held, 4);
      hash.update(u32(1), held, 4);
      log.push(`hash ${hex(hash.lookup(key))} ${hex(hash.lookup(u32(1)))}`);
      let errno = 0;
      try {
        (side === 'user' ? user.map('map_facts_out') : kern.maps.get('map_facts_out')!).update(key, new Uint8Array(64), 4);
      } catch (e) {
        errno = (e as { errno: number }).errno;
      }
      log.push(`BPF_F_LOCK without a lock: errno ${errno}`);
      return log;
    };
    assert.deepEqual(steps('user'), steps('kern'));
  });
});
