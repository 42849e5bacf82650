import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { TEST_ENGINES } from '../support/engines.js';
import { H, INIT_RESULTS, PUBLISH, RESULTS, kernelResults, runtimeOnly, save, skipReason, u32, udpFrame, withPair, type MapDecl } from './harness.js';

/**
 * Base helpers against the kernel: map helpers' return values and flags, queue/stack, per-CPU maps
 * (compared as sums over CPUs), for_each_map_elem, bpf_loop, strtol/strtoul, snprintf and
 * trace_printk formats, tail-call limit, and properties of clocks and randomness.
 */

const options = { skip: skipReason };
const data = udpFrame(16);

let labels = 0;
const label = (): string => `L${labels++}`;

/** An XDP program running `body` between INIT_RESULTS and PUBLISH. */
const prog = (body: string): string => `
  r6 = r1
  ${INIT_RESULTS}
  ${body}
  ${PUBLISH}
  r0 = 2
  exit`;

const key = (k: number | string): string => `r1 = ${k}\n*(u32 *)(r10 - 72) = r1`;
const value = (v: number | string): string => `r1 = ${v} ll\n*(u64 *)(r10 - 80) = r1`;
const KEY = 'r2 = r10\nr2 += -72';

const update = (m: string, k: number, v: number, flags: number, slot: number): string =>
  `${key(k)}\n${value(v)}\nr1 = map(${m}) ll\n${KEY}\nr3 = r10\nr3 += -80\nr4 = ${flags}\ncall ${H.map_update_elem}\n${save(slot)}`;
/** Saves the u64 value, or -1 when the lookup returned NULL. */
const lookup = (m: string, k: number, slot: number): string => {
  const l = label();
  return `${key(k)}\nr1 = map(${m}) ll\n${KEY}\ncall ${H.map_lookup_elem}\nif r0 == 0 goto ${l}_null\nr0 = *(u64 *)(r0 + 0)\ngoto ${l}_end\n${l}_null:\nr0 = -1\n${l}_end:\n${save(slot)}`;
};
const remove = (m: string, k: number, slot: number): string => `${key(k)}\nr1 = map(${m}) ll\n${KEY}\ncall ${H.map_delete_elem}\n${save(slot)}`;
const push = (m: string, v: number, flags: number, slot: number): string =>
  `${value(v)}\nr1 = map(${m}) ll\nr2 = r10\nr2 += -80\nr3 = ${flags}\ncall ${H.map_push_elem}\n${save(slot)}`;
/** pop/peek: slot = r0 << 32 | the low 32 bits of the value. */
const take = (helper: number, m: string, slot: number): string =>
  `${value(0)}\nr1 = map(${m}) ll\nr2 = r10\nr2 += -80\ncall ${helper}\nr1 = *(u32 *)(r10 - 80)\nr0 <<= 32\nr0 |= r1\n${save(slot)}`;

const hash = (name = 'h', maxEntries = 4): MapDecl => ({ name, type: 'hash', keySize: 4, valueSize: 8, maxEntries });
const array = (name = 'a', maxEntries = 4): MapDecl => ({ name, type: 'array', keySize: 4, valueSize: 8, maxEntries });

function agreeOnce(maps: MapDecl[], body: string, name: string, callbacks?: string[]): void {
  withPair({ type: 'xdp', maps: [RESULTS, ...maps], asm: prog(body), ...(callbacks ? { callbacks } : {}) }, (p) => {
    p.agree({ data }, name);
    p.agree({ data }, `${name} (second run)`);
  });
}

test('map helpers: hash update flags and return values', options, () => {
  agreeOnce([hash()], [
    update('h', 1, 10, 0, 0), update('h', 1, 11, 1, 1), update('h', 2, 20, 2, 2), update('h', 2, 20, 3, 3),
    // BPF_F_LOCK (4) is left out: the runtime's maps do not know whether a value holds a bpf_spin_lock.
    update('h', 2, 20, 8, 4), lookup('h', 1, 5), remove('h', 9, 6), update('h', 1, 12, 2, 7),
  ].join('\n'), 'hash flags');
  agreeOnce([hash()], [
    update('h', 1, 1, 0, 0), update('h', 2, 2, 0, 1), update('h', 3, 3, 0, 2), update('h', 4, 4, 0, 3),
    update('h', 5, 5, 0, 4), update('h', 4, 44, 0, 5), remove('h', 4, 6), lookup('h', 4, 7),
  ].join('\n'), 'hash full');
});

test('map helpers: array bounds, flags, delete', options, () => {
  agreeOnce([array()], [
    update('a', 4, 1, 0, 0), update('a', 1, 5, 1, 1), update('a', 1, 5, 2, 2), update('a', 1, 6, 0, 3),
    remove('a', 1, 4), lookup('a', 4, 5), lookup('a', 1, 6), update('a', 1, 7, 3, 7),
  ].join('\n'), 'array');
});

test('map helpers: queue and stack push/pop/peek', options, () => {
  for (const type of ['queue', 'stack'] as const) {
    const q: MapDecl = { name: 'q', type, keySize: 0, valueSize: 8, maxEntries: 2 };
    agreeOnce([q], [
      push('q', 1, 0, 0), push('q', 2, 0, 1), push('q', 3, 0, 2), push('q', 3, 2, 3),
      take(H.map_peek_elem, 'q', 4), take(H.map_pop_elem, 'q', 5), take(H.map_pop_elem, 'q', 6), take(H.map_pop_elem, 'q', 7),
    ].join('\n'), type);
    agreeOnce([q], [push('q', 1, 4, 0), push('q', 1, 1, 1), take(H.map_peek_elem, 'q', 2)].join('\n'), `${type} flags`);
  }
});

test('map helpers: bloom filter push and peek', options, () => {
  const bloom: MapDecl = { name: 'q', type: 'bloom_filter', keySize: 0, valueSize: 8, maxEntries: 64 };
  agreeOnce([bloom], [
    push('q', 1, 0, 0), push('q', 2, 0, 1), push('q', 3, 2, 2), push('q', 3, 4, 3),
    `${value(1)}\nr1 = map(q) ll\nr2 = r10\nr2 += -80\ncall ${H.map_peek_elem}\n${save(4)}`,
    `${value(99)}\nr1 = map(q) ll\nr2 = r10\nr2 += -80\ncall ${H.map_peek_elem}\n${save(5)}`,
  ].join('\n'), 'bloom filter');
});

test('map helpers: per-CPU array and hash (compared as sums over CPUs)', options, () => {
  const pa: MapDecl = { name: 'pa', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 2 };
  const ph: MapDecl = { name: 'ph', type: 'percpu_hash', keySize: 4, valueSize: 8, maxEntries: 2 };
  const l = label();
  agreeOnce([pa, ph], `
    ${key(1)}
    r1 = map(pa) ll
    ${KEY}
    call ${H.map_lookup_elem}
    if r0 == 0 goto ${l}
    r1 = *(u64 *)(r0 + 0)
    r1 += 5
    *(u64 *)(r0 + 0) = r1
  ${l}:
    ${update('ph', 1, 7, 0, 0)}
    ${update('ph', 2, 8, 1, 1)}
    ${update('ph', 3, 9, 0, 2)}
    ${key(1)}
    r1 = map(pa) ll
    ${KEY}
    r3 = 100000
    call ${H.map_lookup_percpu_elem}
    ${save(3)}
    ${key(2)}
    r1 = map(pa) ll
    ${KEY}
    r3 = 0
    call ${H.map_lookup_percpu_elem}
    if r0 == 0 goto ${l}_z
    r0 = 1
  ${l}_z:
    ${save(4)}`, 'per-CPU');
});

test('for_each_map_elem over hash and array: visit counts, early stop, callback sees key and value', options, () => {
  // Callback: ctx (r4) points at a u64 on the caller's stack: += key * 1000 + value; stop when key == 3.
  const callback = `
    r0 = 0
    r6 = *(u32 *)(r2 + 0)
    r7 = *(u64 *)(r3 + 0)
    r8 = r6
    r8 *= 1000
    r8 += r7
    r9 = *(u64 *)(r4 + 0)
    r9 += r8
    *(u64 *)(r4 + 0) = r9
    if r6 != 3 goto out
    r0 = 1
  out:
    exit`;
  const walk = (m: string, slot: number) => `
    r1 = 0
    *(u64 *)(r10 - 88) = r1
    r1 = map(${m}) ll
    r2 = callback(0) ll
    r3 = r10
    r3 += -88
    r4 = 0
    call ${H.for_each_map_elem}
    ${save(slot)}
    r1 = *(u64 *)(r10 - 88)
    ${save(slot + 1, 'r1')}`;
  agreeOnce([hash('h', 8), array('a', 6)], [
    update('h', 5, 50, 0, 6), update('h', 6, 60, 0, 6), update('a', 2, 20, 0, 6), update('a', 3, 30, 0, 6), update('a', 4, 40, 0, 6),
    // Hash order is the kernel's bucket order (seeded at random), so the hash walk does not stop early.
    walk('a', 0), walk('h', 2),
    `r1 = map(a) ll\nr2 = callback(0) ll\nr3 = r10\nr3 += -88\nr4 = 1\ncall ${H.for_each_map_elem}\n${save(4)}`,
  ].join('\n'), 'for_each', [callback]);
});

test('bpf_loop: iterations, early stop, flags and the 1 << 23 cap', options, () => {
  const callback = `
    r0 = 0
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    if r1 != 6 goto out
    r0 = 1
  out:
    exit`;
  const loop = (count: number | string, flags: number, slot: number) => `
    r1 = 0
    *(u64 *)(r10 - 88) = r1
    r1 = ${count} ll
    r2 = callback(0) ll
    r3 = r10
    r3 += -88
    r4 = ${flags}
    call ${H.loop}
    ${save(slot)}
    r1 = *(u64 *)(r10 - 88)
    ${save(slot + 1, 'r1')}`;
  agreeOnce([], [loop(5, 0, 0), loop(100, 0, 2), loop(0, 0, 4), loop(5, 1, 6)].join('\n'), 'loop', [callback]);
  agreeOnce([], [loop(1 << 23 | 1, 0, 0), loop('0x100000005', 0, 2)].join('\n'), 'loop cap', [callback]);
});

/** A NUL-padded string stored on the stack at r10 - 128 .. r10 - 97 (32 bytes). */
function stackString(text: string): string {
  const bytes = new Uint8Array(32);
  bytes.set(new TextEncoder().encode(text).subarray(0, 32));
  const view = new DataView(bytes.buffer);
  const lines: string[] = [];
  for (let i = 0; i < 32; i += 8) lines.push(`r1 = 0x${view.getBigUint64(i, true).toString(16)} ll`, `*(u64 *)(r10 - ${128 - i}) = r1`);
  return lines.join('\n');
}

test('strtol / strtoul: values, consumed length, errno cases', options, () => {
  const inputs: [string, number, number][] = [
    ['123', 4, 0], ['-123', 5, 0], ['  42abc', 8, 10], ['0x1f', 5, 0], ['0x1f', 5, 16], ['1f', 3, 16], ['017', 4, 0],
    ['017', 4, 10], ['9223372036854775807', 20, 0], ['9223372036854775808', 20, 0], ['-9223372036854775808', 21, 0],
    ['18446744073709551615', 21, 0], ['18446744073709551616', 21, 0], ['', 1, 0], ['abc', 4, 0], ['12', 4, 7],
    ['12', 4, 0x20], ['-', 2, 0], ['+5', 3, 0], ['123', 2, 0], ['0x', 3, 16], ['\n7', 3, 0],
  ];
  for (const [text, size, flags] of inputs) {
    const parse = (helper: number, slot: number) => `
      r1 = 0
      *(u64 *)(r10 - 136) = r1
      r1 = r10
      r1 += -128
      r2 = ${size}
      r3 = ${flags}
      r4 = r10
      r4 += -136
      call ${helper}
      ${save(slot)}
      r1 = *(u64 *)(r10 - 136)
      ${save(slot + 1, 'r1')}`;
    agreeOnce([], `${stackString(text)}\n${parse(H.strtol, 0)}\n${parse(H.strtoul, 2)}`, `strto* ${JSON.stringify(text)} size ${size} flags ${flags}`);
  }
});

/** A read-only map holding `text`, for const-string format arguments. */
const rodata = (text: string): MapDecl => {
  const init = new TextEncoder().encode(text + '\0');
  return { name: 'fmt', type: 'array', keySize: 4, valueSize: Math.max(8, (init.length + 7) & ~7), maxEntries: 1, flags: 0x80, init, freeze: true };
};

test('snprintf: formats and results, compared byte for byte', options, () => {
  const cases: [string, (number | bigint | 'str' | 'ip4' | 'ip6')[]][] = [
    ['%d %u %x', [-5, -5, 255]],
    ['%lld %llu %llx', [-5n, 2n ** 64n - 1n, 0xdeadbeefcafen]],
    ['%ld|%lu|%li|%lX', [-1n, 7, -3n, 0xabcn]],
    ['%5d|%-5d|%05d|%+d', [42, 42, 42, 42]],
    ['%c%c%c', [0x41, 0x42, 0x43]],
    ['[%s] [%.2s] [%8s]', ['str', 'str', 'str']],
    ['%pI4 %pi4', ['ip4', 'ip4']],
    ['%pI6', ['ip6']],
    ['%pI6c', ['ip6']],
    ['%% %x %%', [1]],
    ['%hd %hhu', [0x12345, 0x1ff]],
    ['%5.3d', [1]],
    ['%lc', [0x41]],
    ['%-8s|%8s', ['str', 'str']],
    ['% d|%+d|%05x|%X', [5, 5, 0xab, 0xab]],
    ['%o', [8]],
    ['%#x %#o', [255, 8]],
    ['%z', [1]],
    ['%d %d', [1]],
    ['%n', [0]],
    ['%f', [0]],
    ['plain text', []],
    ['%s', [0]],
    ['[%pks] [%pI4]', [0, 0]],
    ['%llx%llx%llx%llx%llx%llx%llx%llx%llx%llx%llx%llx', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  ];
  for (const [fmt, args] of cases) {
    // Arguments at r10 - 232 .. (u64 each); a string at r10 - 128, IPv4 at r10 - 136, IPv6 at r10 - 160.
    const lines = [stackString('hello'), 'r1 = 0x0201a8c0', '*(u32 *)(r10 - 136) = r1',
      'r1 = 0xb80d0120 ll', '*(u64 *)(r10 - 160) = r1', 'r1 = 0x0100000000000000 ll', '*(u64 *)(r10 - 152) = r1'];
    args.forEach((a, i) => {
      const slot = `*(u64 *)(r10 - ${232 - 8 * i})`;
      if (a === 'str') lines.push('r1 = r10', 'r1 += -128', `${slot} = r1`);
      else if (a === 'ip4') lines.push('r1 = r10', 'r1 += -136', `${slot} = r1`);
      else if (a === 'ip6') lines.push('r1 = r10', 'r1 += -160', `${slot} = r1`);
      else lines.push(`r1 = 0x${BigInt.asUintN(64, BigInt(a)).toString(16)} ll`, `${slot} = r1`);
    });
    lines.push(
      'r1 = r10', 'r1 += -64', 'r2 = 56', 'r3 = mapval(fmt) ll', 'r4 = r10', 'r4 += -232', `r5 = ${args.length * 8}`,
      `call ${H.snprintf}`, save(7));
    try {
      agreeOnce([rodata(fmt)], lines.join('\n'), `snprintf ${JSON.stringify(fmt)}`);
    } catch (e) {
      // Formats the kernel's verifier rejects at load are rejected at run time here (-EINVAL).
      if (!(e instanceof Error && /Invalid format string/.test(e.message))) throw e;
      const { results } = runtimeOnly({ type: 'xdp', maps: [RESULTS, rodata(fmt)], asm: prog(lines.join('\n')) }, { data });
      assert.equal(results[7], -22n, `snprintf ${JSON.stringify(fmt)}: the kernel refuses it at load, the runtime with -EINVAL`);
    }
  }
});

test('snprintf: output truncation and zero-sized buffers', options, () => {
  for (const size of [0, 1, 4, 56]) {
    const body = [
      'r1 = 1234567', '*(u64 *)(r10 - 232) = r1',
      'r1 = r10', 'r1 += -64', `r2 = ${size}`, 'r3 = mapval(fmt) ll', 'r4 = r10', 'r4 += -232', 'r5 = 8',
      `call ${H.snprintf}`, save(7),
    ].join('\n').replace('r1 = r10\nr1 += -64\nr2 = 0', 'r1 = 0\nr2 = 0');
    agreeOnce([rodata('value=%d!')], body, `snprintf into ${size} bytes`);
  }
});

test('trace_printk: return values (bytes written) and format errors', options, () => {
  for (const [fmt, a, b, c] of [['x=%d\n', 5, 0, 0], ['%d %d %d', 1, 2, 3], ['%s', 0, 0, 0], ['%llx %u', -1, 7, 0], ['%q', 1, 0, 0], ['no args', 0, 0, 0]] as const) {
    const body = [
      stackString(fmt), 'r1 = r10', 'r1 += -128', `r2 = ${fmt.length + 1}`, `r3 = ${a}`, `r4 = ${b}`, `r5 = ${c}`, `call ${H.trace_printk}`, save(0),
    ].join('\n');
    agreeOnce([], body, `trace_printk ${JSON.stringify(fmt)}`);
  }
});

test('trace_printk: the line in the kernel trace buffer equals the runtime trace line', options, (t) => {
  const marker = 100000 + Math.floor(Math.random() * 800000);
  const formats = ['m%d plain', 'm%d %u|%-5x|', 'm%d %llx %lld', 'm%d [%s]', 'm%d %c%c'];
  const args: Record<string, [number | string, number | string]> = {
    'm%d plain': [0, 0], 'm%d %u|%-5x|': [-1, 255], 'm%d %llx %lld': ['0xffffffffffffffff', -2], 'm%d [%s]': ['r10str', 0], 'm%d %c%c': [72, 105],
  };
  const expected: string[] = [];
  const seen: string[] = [];
  for (const fmt of formats) {
    const [a, b] = args[fmt]!;
    const load = (r: string, v: number | string) => (v === 'r10str' ? `${r} = r10\n${r} += -160` : `${r} = ${v} ll`);
    const body = [
      stackString(fmt), 'r1 = 0x6f6c6c6568 ll', '*(u64 *)(r10 - 160) = r1', 'r1 = 0', '*(u64 *)(r10 - 152) = r1',
      load('r4', a), load('r5', b), 'r1 = r10', 'r1 += -128', `r2 = ${fmt.length + 1}`, `r3 = ${marker}`,
      `call ${H.trace_printk}`, save(0),
    ].join('\n');
    withPair({ type: 'xdp', maps: [RESULTS], asm: prog(body) }, (p) => {
      p.agree({ data }, `trace_printk ${fmt}`);
      expected.push(...p.userTrace.map((line) => line.slice(line.indexOf('bpf_trace_printk: ') + 18).replace(/\n$/, '')));
    });
  }
  let trace = '';
  try {
    trace = readFileSync('/sys/kernel/tracing/trace', 'utf8');
  } catch {
    return t.skip('cannot read /sys/kernel/tracing/trace');
  }
  for (const line of trace.split('\n')) {
    const at = line.indexOf(`bpf_trace_printk: m${marker}`);
    if (at >= 0) seen.push(line.slice(at + 18));
  }
  if (seen.length === 0) return t.skip('no line reached the trace buffer (tracing off, or another reader consumed it)');
  assert.equal(expected.length, formats.length * TEST_ENGINES.length, 'one line per format and engine');
  // Sorted: the trace file merges per-CPU buffers by a per-CPU clock, and the runs may change CPU.
  assert.deepEqual([...seen].sort(), [...expected].sort());
});

test('current task helpers in a raw_tracepoint run, with the runtime told it is this process', options, () => {
  const comm = readFileSync('/proc/thread-self/comm', 'utf8').trim();
  const task = { pid: process.pid, tgid: process.pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, comm };
  const comm16 = `r1 = 0\n*(u64 *)(r10 - 96) = r1\n*(u64 *)(r10 - 88) = r1\nr1 = r10\nr1 += -96\nr2 = 16\ncall ${H.get_current_comm}\n${save(2)}\nr1 = *(u64 *)(r10 - 96)\n${save(3, 'r1')}`;
  const comm4 = `r1 = -1\n*(u64 *)(r10 - 96) = r1\nr1 = r10\nr1 += -96\nr2 = 4\ncall ${H.get_current_comm}\n${save(4)}\nr1 = *(u64 *)(r10 - 96)\n${save(5, 'r1')}`;
  const body = [`call ${H.get_current_pid_tgid}`, save(0), `call ${H.get_current_uid_gid}`, save(1), comm16, comm4, `call ${H.get_numa_node_id}`, save(6)].join('\n');
  withPair({ type: 'raw_tracepoint', maps: [RESULTS], asm: `${INIT_RESULTS}\n${body}\n${PUBLISH}\nr0 = 0\nexit`, task }, (p) => {
    p.agree({}, 'pid_tgid, uid_gid, comm');
  });
});

test('tail calls: a program calling itself stops after 33 tail calls', options, () => {
  const jmp: MapDecl = { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 2 };
  const count: MapDecl = { name: 'count', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 };
  withPair({ type: 'xdp', maps: [jmp, count], asm: `
    r6 = r1
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = map(count) ll
    r2 = r10
    r2 += -4
    call ${H.map_lookup_elem}
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r1 = r6
    r2 = map(jmp) ll
    r3 = 0
    call ${H.tail_call}
    r1 = r6
    r2 = map(jmp) ll
    r3 = 1
    call ${H.tail_call}
  out:
    r0 = 2
    exit` }, (p) => {
    p.runtime.setTailCall(p.userMaps.get('jmp')!, 0, p.user);
    p.kernMaps.get('jmp')!.update(u32(0), u32(p.kern.fd));
    p.agree({ data }, 'self tail call');
    const counted = p.kernMaps.get('count')!.lookup(u32(0))!;
    assert.equal(new DataView(counted.buffer, counted.byteOffset).getBigUint64(0, true), 34n, '1 run + 33 tail calls');
  });
});

test('properties: ktime monotonic, prandom varies, smp_processor_id below the CPU count', options, () => {
  // The coarse clock is read first: the program may be preempted between any two calls, so only
  // "not ahead of a later ktime" holds, not "within a tick of an earlier one".
  const body = [
    `call ${H.ktime_get_coarse_ns}`, save(7), `call ${H.ktime_get_ns}`, save(0), `call ${H.ktime_get_ns}`, save(1),
    `call ${H.ktime_get_boot_ns}`, save(2), `call ${H.get_prandom_u32}`, save(3), `call ${H.get_prandom_u32}`, save(4),
    `call ${H.get_prandom_u32}`, save(5), `call ${H.get_smp_processor_id}`, save(6),
  ].join('\n');
  // jiffies64 between two boot clock reads, so a preemption in between widens the window, not the error.
  const jiffies = [`call ${H.ktime_get_boot_ns}`, save(0), `call ${H.jiffies64}`, save(1), `call ${H.ktime_get_boot_ns}`, save(2)].join('\n');
  withPair({ type: 'xdp', maps: [RESULTS], asm: prog(jiffies) }, (p) => {
    // HZ is 250 on both sides here (CONFIG_HZ of this kernel, DefaultServices.hz).
    const check = (r: bigint[], side: string) => {
      const ticks = r[1]! - (2n ** 32n - 300n * 250n);
      const [earliest, latest] = [(r[0]! * 250n) / 1_000_000_000n, (r[2]! * 250n) / 1_000_000_000n];
      // Within a second: the kernel's boot clock starts a little before jiffies count.
      assert.ok(ticks >= earliest - 250n && ticks <= latest + 2n, `${side}: jiffies64 = INITIAL_JIFFIES + boot time in ticks (${ticks} vs ${earliest}..${latest})`);
    };
    p.runKernel({ data });
    check(kernelResults(p), 'kernel');
    p.runUser({ data });
    const v = p.userMaps.get('results')!.lookup(u32(0))!;
    check([...new BigInt64Array(v.buffer, v.byteOffset, 8)], 'runtime');
  });
  withPair({ type: 'xdp', maps: [RESULTS], asm: prog(body) }, (p) => {
    const check = (r: bigint[], side: string) => {
      assert.ok(r[1]! >= r[0]! && r[0]! > 0n, `${side}: ktime_get_ns monotonic`);
      assert.ok(r[2]! >= r[0]!, `${side}: boot time counts suspend too, so it is not behind monotonic`);
      assert.ok(r.slice(3, 6).every((v) => v >= 0n && v < 2n ** 32n), `${side}: prandom is a u32`);
      assert.ok(new Set(r.slice(3, 6)).size > 1, `${side}: prandom varies`);
      assert.ok(r[6]! >= 0n && r[6]! < BigInt(p.cpus), `${side}: CPU id`);
      assert.ok(r[7]! > 0n && r[7]! <= r[0]!, `${side}: the coarse clock (last tick) is not ahead of a later ktime`);
    };
    p.runKernel({ data });
    check(kernelResults(p), 'kernel');
    p.runUser({ data });
    const v = p.userMaps.get('results')!.lookup(u32(0))!;
    check([...new BigInt64Array(v.buffer, v.byteOffset, 8)], 'runtime');
  });
});
