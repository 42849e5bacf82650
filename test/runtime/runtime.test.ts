import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { MapType } from '../../src/uapi/map-types.js';
import { Runtime, LoadError, VerifierRejectedError } from '../../src/runtime/index.js';
import { TestRunError } from '../../src/runtime/test-run.js';
import { MemoryAccessError } from '../../src/vm/memory.js';
import { onEachEngine } from '../support/engines.js';

/** Point the n-th `rX = 0 ll` at a map (what libbpf's map relocation does with the map's fd). */
function bindMap(insns: Instruction[], mapId: number, nth = 0): Instruction[] {
  let seen = 0;
  for (const insn of insns) {
    if (insn.code === 0x18 && insn.imm === 0 && seen++ === nth) {
      insn.src = 1;
      insn.imm = mapId;
      return insns;
    }
  }
  throw new Error('no lddw to bind');
}

const ethFrame = (etherType: number, payload = 40): Uint8Array => {
  const frame = new Uint8Array(14 + payload);
  frame.set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0);
  frame[12] = etherType >> 8;
  frame[13] = etherType & 0xff;
  for (let i = 14; i < frame.length; i++) frame[i] = i;
  return frame;
};

const XDP_COUNTER = `
  r6 = r1
  r2 = *(u32 *)(r6 + 0)        ; data
  r3 = *(u32 *)(r6 + 4)        ; data_end
  r4 = r2
  r4 += 14
  if r4 > r3 goto drop
  r7 = *(u16 *)(r2 + 12)       ; ether type, network order
  r1 = 0
  *(u32 *)(r10 - 4) = r1
  r2 = r10
  r2 += -4
  r1 = 0 ll
  call 1                       ; bpf_map_lookup_elem
  if r0 == 0 goto drop
  r1 = 1
  lock *(u64 *)(r0 + 0) += r1
  r0 = 2                       ; XDP_PASS
  if r7 == 8 goto out          ; 0x0800 read little-endian
drop:
  r0 = 1                       ; XDP_DROP
out:
  exit
`;

test('XDP program: counts packets in an array map, passes IPv4, drops the rest', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const counter = runtime.createMap({ name: 'counter', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const prog = runtime.loadProgram(bindMap(assemble(XDP_COUNTER), counter.id), { name: 'xdp_counter', type: 'xdp' });
    const ipv4 = prog.testRun({ data: ethFrame(0x0800) });
    assert.equal(ipv4.retval, 2);
    assert.equal(ipv4.verdict, 'XDP_PASS');
    assert.deepEqual(ipv4.dataOut, ethFrame(0x0800));
    const arp = prog.testRun({ data: ethFrame(0x0806), repeat: 5 });
    assert.equal(arp.verdict, 'XDP_DROP');
    const value = counter.lookup(new Uint8Array(4))!;
    assert.equal(new DataView(value.buffer).getBigUint64(0, true), 6n);
    assert.ok(arp.durationNs >= 0);
  });
});

test('XDP test run rejects data shorter than an Ethernet header, like the kernel', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const prog = runtime.loadProgram(assemble('r0 = 2\nexit'), { type: 'xdp' });
    assert.throws(() => prog.testRun({ data: new Uint8Array(10) }), TestRunError);
  });
});

test('xdp_adjust_head: data_out starts at the new head', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const prog = runtime.loadProgram(assemble(`
      r6 = r1
      r2 = 4
      call 44           ; bpf_xdp_adjust_head(ctx, 4)
      r0 = 2
      exit`), { type: 'xdp' });
    const data = ethFrame(0x0800);
    const result = prog.testRun({ data });
    assert.deepEqual(result.dataOut, data.subarray(4));
  });
});

test('tc program: skb_store_bytes and l3_csum_replace keep the IPv4 checksum valid', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    // Rewrite the IPv4 TTL (offset 14+8) from 64 to 1 and patch the header checksum (offset 14+10).
    const prog = runtime.loadProgram(assemble(`
      r6 = r1
      r1 = 1
      *(u8 *)(r10 - 1) = r1
      r1 = r6
      r2 = 22
      r3 = r10
      r3 += -1
      r4 = 1
      r5 = 0
      call 9            ; bpf_skb_store_bytes(skb, 22, &ttl, 1, 0)
      r1 = r6
      r2 = 24
      r3 = 0x40         ; old (ttl, proto) half-word, as loaded little-endian: ttl in the low byte
      r4 = 0x01
      r5 = 2
      call 10           ; bpf_l3_csum_replace(skb, 24, from, to, 2)
      r0 = 0
      exit`), { type: 'sched_cls' });
    const ip = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 0, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    const checksum = (h: number[]) => {
      let s = 0;
      for (let i = 0; i < h.length; i += 2) s += (h[i]! << 8) | h[i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
      return ~s & 0xffff;
    };
    const c = checksum(ip);
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
    const frame = new Uint8Array([...ethFrame(0x0800, 0), ...ip]);
    const result = prog.testRun({ data: frame });
    assert.equal(result.retval, 0);
    assert.equal(result.verdict, 'TC_ACT_OK');
    const out = [...result.dataOut!.subarray(14)];
    assert.equal(out[8], 1, 'TTL rewritten');
    assert.equal(checksum(out), 0, 'checksum still valid');
  });
});

test('socket filter: data_out carries a zeroed MAC header (kernel behaviour)', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const prog = runtime.loadProgram(assemble('r0 = *(u32 *)(r1 + 0)\nexit'), { type: 'socket_filter' });
    const frame = ethFrame(0x0800, 20);
    const result = prog.testRun({ data: frame });
    assert.equal(result.retval, 20, 'skb->len excludes the pulled MAC header');
    assert.deepEqual([...result.dataOut!.subarray(0, 14)], new Array(14).fill(0));
    assert.deepEqual(result.dataOut!.subarray(14), frame.subarray(14));
  });
});

test('load-time checks: helpers not allowed for the type, unknown helpers, bad map ids', () => {
  using runtime = new Runtime();
  // The verifier says it first, in the kernel's words; without the verifier the loader still does.
  assert.throws(() => runtime.loadProgram(assemble('call 44\nexit'), { name: 'p', type: 'socket_filter' }), (e: unknown) =>
    e instanceof VerifierRejectedError && /cannot use helper bpf_xdp_adjust_head#44/.test(e.message));
  assert.throws(() => runtime.loadProgram(assemble('call 44\nexit'), { name: 'p', type: 'socket_filter', verify: false }), (e: unknown) =>
    e instanceof LoadError && /cannot use helper bpf_xdp_adjust_head#44/.test(e.message));
  assert.throws(() => runtime.loadProgram(assemble('call 9999\nexit'), { type: 'xdp' }), /invalid func/);
  assert.throws(() => runtime.loadProgram(bindMap(assemble('r1 = 0 ll\nr0 = 0\nexit'), 77), { type: 'xdp' }), /fd 77 is not pointing to valid bpf_map/);
  assert.throws(() => runtime.loadProgram(bindMap(assemble('r1 = 0 ll\nr0 = 0\nexit'), 77), { type: 'xdp', verify: false }), /no map with id 77/);
});

test('checked mode traps an out-of-bounds packet read with the instruction index', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const prog = runtime.loadProgram(assemble(`
      r2 = *(u32 *)(r1 + 0)
      r0 = *(u8 *)(r2 + 5000)
      exit`), { type: 'xdp', verify: false });
    assert.throws(() => prog.testRun({ data: ethFrame(0x0800) }), (e: unknown) => e instanceof MemoryAccessError && e.location.insn === 1);
  });
});

test('bpf_loop runs its callback and ringbuf records reach user space', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const ring = runtime.createMap({ name: 'events', type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
    // Sum 0..9 with bpf_loop, then emit the sum through bpf_ringbuf_output.
    const insns = assemble(`
      r1 = 0
      *(u64 *)(r10 - 8) = r1
      r1 = 10
      r2 = 0 ll          ; callback (patched to a pseudo func below)
      r3 = r10
      r3 += -8
      r4 = 0
      call 181           ; bpf_loop
      r1 = 0 ll          ; the ring buffer
      r2 = r10
      r2 += -8
      r3 = 8
      r4 = 0
      call 130           ; bpf_ringbuf_output
      r0 = 0
      exit
    callback:
      r3 = *(u64 *)(r2 + 0)
      r3 += r1
      *(u64 *)(r2 + 0) = r3
      r0 = 0
      exit`);
    // lddw at slot 3 -> the callback at slot 18 (lddw takes two slots): imm is relative to slot 4.
    insns[3]!.src = 4;
    insns[3]!.imm = 18 - 4;
    bindMap(insns, ring.id, 0);
    const prog = runtime.loadProgram(insns, { type: 'xdp' });
    prog.testRun({ data: ethFrame(0x0800) });
    const records = (ring as import('../../src/maps/ringbuf.js').RingBufMap).drain();
    assert.equal(records.length, 1);
    assert.equal(new DataView(records[0]!.buffer).getBigUint64(0, true), 45n);
  });
});

test('loadProgram verifies first, as BPF_PROG_LOAD does: the kernel line, an explanation, the log', () => {
  using runtime = new Runtime();
  const unsafe = assemble(`
    r2 = *(u32 *)(r1 + 0)
    r0 = *(u8 *)(r2 + 0)
    exit`);
  assert.throws(() => runtime.loadProgram(unsafe, { name: 'unchecked_read', type: 'xdp' }), (e: unknown) => {
    assert.ok(e instanceof VerifierRejectedError);
    assert.match(e.message, /invalid access to packet/);
    assert.equal(e.location.insn, 1);
    assert.equal(e.result.verdict, 'reject');
    return true;
  });
});
