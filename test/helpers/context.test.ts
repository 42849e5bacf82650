import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H, INIT_RESULTS, PUBLISH, RESULTS, hex, save, skipReason, udpFrame, withPair, type MapDecl } from './harness.js';

/**
 * Test-run contexts: what the kernel fills in __sk_buff and xdp_md for each program family, how it
 * validates ctx_in, what comes back in ctx_out and data_out, and retval truncation.
 */

const options = { skip: skipReason };
const DUMP: MapDecl = { name: 'dump', type: 'array', keySize: 4, valueSize: 8 * 32, maxEntries: 1 };

/** __sk_buff fields (offset, size) a program of each family may read, dumped in order. */
const COMMON_FIELDS: [number, number][] = [
  [0, 4], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4], [40, 4], [44, 4],
  [48, 4], [52, 4], [56, 4], [60, 4], [64, 4], [68, 4], [84, 4], [164, 4], [176, 4],
];
const TC_FIELDS: [number, number][] = [[72, 4], [152, 8], [160, 4], [184, 8]];

/** Reads each field into a 256-byte stack area and stores it in `dump`; tc also stores data_end - data. */
function dumpProgram(fields: [number, number][], withData: boolean, retval = 'r0 = 0'): string {
  const lines = ['r6 = r1', 'r9 = 0'];
  for (let i = 0; i < 32; i++) lines.push(`*(u64 *)(r10 - ${256 - 8 * i}) = r9`);
  lines.push('*(u32 *)(r10 - 260) = r9');
  fields.forEach(([off, size], i) => {
    lines.push(`r1 = *(u${size * 8} *)(r6 + ${off})`, `*(u64 *)(r10 - ${256 - 8 * i}) = r1`);
  });
  if (withData) {
    lines.push('r1 = *(u32 *)(r6 + 76)', 'r2 = *(u32 *)(r6 + 80)', 'r2 -= r1', `*(u64 *)(r10 - ${256 - 8 * 31}) = r2`);
  }
  lines.push('r1 = map(dump) ll', 'r2 = r10', 'r2 += -260', 'r3 = r10', 'r3 += -256', 'r4 = 0', `call ${H.map_update_elem}`, retval, 'exit');
  return lines.join('\n');
}

function frames(): [string, Uint8Array][] {
  const unicast = udpFrame(16);
  const broadcast = udpFrame(16);
  broadcast.fill(0xff, 0, 6);
  const multicast = udpFrame(16);
  multicast.set([0x01, 0x00, 0x5e, 0, 0, 1], 0);
  const zeros = udpFrame(16);
  zeros.fill(0, 0, 6);
  const ipv6 = udpFrame(40);
  ipv6[12] = 0x86; ipv6[13] = 0xdd;
  return [
    ['unicast', unicast], ['broadcast', broadcast], ['multicast', multicast], ['to lo', zeros], ['ethertype 86dd', ipv6],
    ['vlan-tagged', udpFrame(16, { vlan: 42 })], ['bare ethernet header', unicast.slice(0, 14)], ['big', udpFrame(1400)],
  ];
}

function skbCtx(fields: Record<number, number>, size = 192): Uint8Array {
  const ctx = new Uint8Array(size);
  const v = new DataView(ctx.buffer);
  for (const [off, value] of Object.entries(fields)) v.setUint32(Number(off), value, true);
  return ctx;
}

for (const type of ['sched_cls', 'sched_act', 'socket_filter'] as const) {
  const tc = type !== 'socket_filter';
  const fields = tc ? [...COMMON_FIELDS, ...TC_FIELDS] : COMMON_FIELDS;
  test(`context: __sk_buff fields the kernel fills for ${type}`, options, () => {
    withPair({ type, maps: [DUMP], asm: dumpProgram(fields, tc) }, (p) => {
      for (const [name, data] of frames()) p.agree({ data }, `${type} ${name}`);
    });
  });

  test(`context: ${type} ctx_in fields and ctx_out`, options, () => {
    withPair({ type, maps: [DUMP], asm: dumpProgram(fields, tc) }, (p) => {
      const data = udpFrame(32);
      // mark, priority, cb[0..4], tstamp, wire_len, gso_segs, gso_size
      p.agree({ data, ctx: skbCtx({ 8: 0xabc, 32: 7, 48: 1, 52: 2, 56: 3, 60: 4, 64: 5 }) }, `${type} mark/priority/cb`);
      p.agree({ data, ctx: skbCtx({ 152: 123456, 160: 200, 164: 3, 176: 1400 }) }, `${type} tstamp/wire_len/gso`);
      p.agree({ data, ctx: skbCtx({ 40: 1 }) }, `${type} ifindex 1`);
      p.agree({ data, ctx: skbCtx({ 36: 1 }) }, `${type} ingress_ifindex 1`);
      p.agree({ data, ctx: skbCtx({ 8: 5 }, 12) }, `${type} short ctx_in`);
      p.agree({ data, ctx: skbCtx({ 160: 10 }) }, `${type} wire_len below len`);
      p.agree({ data, ctx: skbCtx({ 164: 0x10000 }) }, `${type} gso_segs too big`);
      for (const [off, what] of [[0, 'len'], [4, 'pkt_type'], [12, 'queue_mapping'], [16, 'protocol'], [20, 'vlan_present'], [44, 'tc_index'], [68, 'hash'], [72, 'tc_classid'], [84, 'napi_id']] as const) {
        p.agree({ data, ctx: skbCtx({ [off]: 1 }) }, `${type} ctx_in sets ${what}`);
      }
      p.agree({ data, ctx: new Uint8Array(200) }, `${type} ctx_in larger than __sk_buff`);
      const tail = new Uint8Array(200);
      tail[196] = 1;
      p.agree({ data, ctx: tail }, `${type} ctx_in larger with non-zero tail`);
      p.agree({ data: new Uint8Array(13) }, `${type} data shorter than ETH_HLEN`);
      p.agree({ data: udpFrame(3712 - 42) }, `${type} largest data (a page less headroom and shared info)`);
      p.agree({ data: udpFrame(3713 - 42) }, `${type} data one byte too large`);
      p.agree({ data, ctx: skbCtx({ 40: 999 }) }, `${type} ifindex without device`);
    });
  });
}

test('context: xdp_md fields, ctx_in with metadata, validation', options, () => {
  const asm = `
    r6 = r1
    r9 = 0
${Array.from({ length: 32 }, (_, i) => `    *(u64 *)(r10 - ${8 + 8 * i}) = r9`).join('\n')}
    *(u32 *)(r10 - 260) = r9
    r1 = *(u32 *)(r6 + 0)
    r2 = *(u32 *)(r6 + 4)
    r3 = *(u32 *)(r6 + 8)
    r4 = r2
    r4 -= r1
    *(u64 *)(r10 - 256) = r4      ; data_end - data
    r4 = r1
    r4 -= r3
    *(u64 *)(r10 - 248) = r4      ; data - data_meta
    r1 = *(u32 *)(r6 + 12)
    *(u64 *)(r10 - 240) = r1
    r1 = *(u32 *)(r6 + 16)
    *(u64 *)(r10 - 232) = r1
    r1 = map(dump) ll
    r2 = r10
    r2 += -260
    r3 = r10
    r3 += -256
    r4 = 0
    call ${H.map_update_elem}
    r0 = 2
    exit`;
  withPair({ type: 'xdp', maps: [DUMP], asm }, (p) => {
    const data = udpFrame(32);
    const md = (fields: number[]) => new Uint8Array(new Uint32Array(fields).buffer);
    p.agree({ data }, 'no ctx');
    p.agree({ data: new Uint8Array(13) }, 'short data');
    p.agree({ data: new Uint8Array(4096 - 256 - 320) }, 'largest data');
    p.agree({ data: new Uint8Array(4096 - 256 - 320 + 1) }, 'too large data');
    p.agree({ data, ctx: md([0, data.length, 0, 0, 0, 0]) }, 'zero ctx');
    p.agree({ data, ctx: md([8, data.length, 0, 0, 0, 0]) }, '8 bytes of metadata');
    p.agree({ data, ctx: md([32, data.length, 0, 0, 0, 0]) }, '32 bytes of metadata');
    p.agree({ data, ctx: md([36, data.length, 0, 0, 0, 0]) }, '36 bytes of metadata');
    p.agree({ data, ctx: md([6, data.length, 0, 0, 0, 0]) }, 'unaligned metadata');
    const big = udpFrame(400);
    for (const m of [212, 216, 220, 256]) p.agree({ data: big, ctx: md([m, big.length, 0, 0, 0, 0]) }, `${m} bytes of metadata`);
    p.agree({ data, ctx: md([0, data.length - 1, 0, 0, 0, 0]) }, 'data_end short');
    for (const [meta, end] of [[0, 14], [0, 0], [8, 22], [8, 4], [0, data.length + 1], [16, 3600]]) {
      p.agree({ data: meta === 16 ? udpFrame(4000) : data, ctx: md([meta, end, 0, 0, 0, 0]) }, `linear part ending at ${end} after ${meta} bytes of metadata`);
    }
    p.agree({ data, ctx: md([0, data.length, 4, 0, 0, 0]) }, 'data_meta set');
    p.agree({ data, ctx: md([0, data.length, 0, 1, 0, 0]) }, 'ingress lo');
    p.agree({ data, ctx: md([0, data.length, 0, 1, 1, 0]) }, 'rx queue 1 on lo');
    p.agree({ data, ctx: md([0, data.length, 0, 0, 1, 0]) }, 'rx queue without ifindex');
    p.agree({ data, ctx: md([0, data.length, 0, 999, 0, 0]) }, 'ingress ifindex without device');
    p.agree({ data, ctx: md([0, data.length, 0, 0, 0, 1]) }, 'egress ifindex');
    p.agree({ data, ctx: md([0, data.length, 0, 0]) }, 'short xdp_md');
    p.agree({ data, ctx: new Uint8Array(28) }, 'long xdp_md');
    p.agree({ data: data.slice(0, 20), ctx: md([8, 20, 0, 0, 0, 0]) }, 'metadata leaves under ETH_HLEN');
  });
});

test('context: retval is r0 truncated to 32 bits', options, () => {
  for (const type of ['xdp', 'sched_cls', 'socket_filter']) {
    for (const r0 of ['r0 = -1', 'r0 = 0x1234567890abcdef ll', 'r0 = 0x7fffffff', 'r0 = 0x100000002 ll']) {
      withPair({ type, asm: `${r0}\nexit` }, (p) => {
        const out = p.agree({ data: udpFrame(8) }, `${type} ${r0}`);
        assert.ok(out.retval !== undefined);
      });
    }
  }
});

test('context: socket filter vs tc data layout, writes through direct packet access', options, () => {
  // tc may write the packet directly; data_out shows the write. Socket filters see data at L3.
  withPair({ type: 'sched_cls', asm: `
    r2 = *(u32 *)(r1 + 76)
    r3 = *(u32 *)(r1 + 80)
    r4 = r2
    r4 += 20
    if r4 > r3 goto out
    r5 = 0x77
    *(u8 *)(r2 + 0) = r5
    *(u8 *)(r2 + 19) = r5
  out:
    r0 = 0
    exit` }, (p) => {
    p.agree({ data: udpFrame(8) }, 'tc write');
    p.agree({ data: udpFrame(0).slice(0, 14) }, 'tc too short to write');
  });
  withPair({ type: 'socket_filter', asm: `
    r6 = r1
    r0 = *(u8 *)skb[0]
    r7 = r0
    r0 = *(u16 *)skb[12]
    r7 <<= 16
    r7 |= r0
    r0 = r7
    exit` }, (p) => {
    p.agree({ data: udpFrame(8) }, 'socket filter LD_ABS at L3');
  });
});

test('context: cgroup_skb and lwt programs see L3 at data, like socket filters', options, () => {
  for (const type of ['cgroup_skb', 'lwt_in', 'lwt_out', 'lwt_xmit']) {
    withPair({ type, maps: [DUMP], asm: dumpProgram(COMMON_FIELDS.filter(([off]) => off !== 84 && off < 160), true, 'r0 = 1') }, (p) => {
      for (const [name, data] of frames()) p.agree({ data }, `${type} ${name}`);
      p.agree({ data: udpFrame(8), ctx: skbCtx({ 8: 3, 32: 4, 48: 5 }) }, `${type} ctx_in`);
    });
  }
});

test('context: raw_tracepoint and syscall contexts (ctx_in only; size and data checks)', options, () => {
  const sum = `
    r2 = *(u64 *)(r1 + 0)
    r3 = *(u64 *)(r1 + 8)
    r0 = r2
    r0 += r3
    exit`;
  const args = (...v: number[]) => new Uint8Array(new BigUint64Array(v.map(BigInt)).buffer);
  withPair({ type: 'raw_tracepoint', asm: sum }, (p) => {
    p.agree({ ctx: args(1, 2) }, 'two args');
    p.agree({ ctx: args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12) }, 'twelve args');
    // Not compared: the kernel also refuses ctx_in shorter than the furthest argument the program
    // reads (max_ctx_offset, from the verifier); test runs here do not see the program.
    p.agree({ ctx: args(...new Array<number>(13).fill(1)) }, 'more than twelve args');
    p.agree({ ctx: args(1, 2), data: udpFrame(8) }, 'data given');
  });
  withPair({ type: 'raw_tracepoint', asm: 'r0 = 5\nexit' }, (p) => p.agree({}, 'no ctx, program reads none'));
  withPair({ type: 'syscall', asm: `
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 8) = r2
    r0 = 7
    exit` }, (p) => {
    p.agree({ ctx: args(41, 0) }, 'syscall run');
    // The kernel writes a syscall program's context back into ctx_in.
    const kernelCtx = args(41, 0);
    p.kern.testRun({ ctx: kernelCtx, ctxOutSize: 0 });
    assert.equal(hex(p.user.testRun({ ctx: args(41, 0) }).ctxOut!.subarray(0, 16)), hex(kernelCtx), 'syscall ctx written back');
    p.agree({ ctx: args(41, 0, 5) }, 'syscall larger ctx');
    p.agree({ ctx: args(41, 0), data: udpFrame(8) }, 'syscall with data');
  });
});

test('context: repeat runs the program again on the same packet (edits accumulate), maps count every run', options, () => {
  const COUNT: MapDecl = { name: 'count', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 1 };
  const counting = `
    r6 = r1
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = map(count) ll
    r2 = r10
    r2 += -4
    call ${H.map_lookup_elem}
    if r0 == 0 goto edit
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
  edit:
    r1 = r6`;
  const edits: [string, string, string][] = [
    ['xdp', `r2 = -4\ncall ${H.xdp_adjust_head}\nr0 = 2`, 'xdp_adjust_head(-4)'],
    ['xdp', `r2 = -4\ncall ${H.xdp_adjust_tail}\nr0 = 2`, 'xdp_adjust_tail(-4)'],
    ['sched_cls', `r2 = 0x0081\nr3 = 3\ncall ${H.skb_vlan_push}\nr0 = 0`, 'skb_vlan_push'],
    ['sched_cls', `r2 = 8\nr3 = 0\ncall ${H.skb_change_head}\nr0 = 0`, 'skb_change_head(8)'],
    ['socket_filter', 'r0 = *(u32 *)(r6 + 0)', 'socket filter len'],
  ];
  for (const [type, edit, name] of edits) {
    withPair({ type, maps: [COUNT], asm: `${counting}\n${edit}\nexit` }, (p) => {
      p.agree({ data: udpFrame(32), repeat: 5 }, `${name}, repeat 5`);
      p.agree({ data: udpFrame(32), repeat: 1 }, `${name}, repeat 1`);
    });
  }
});

test('context: fields a program writes come back in ctx_out (tc: mark, priority, cb, tc_index, tc_classid, tstamp; socket filter: cb)', options, () => {
  const writes: [string, [number, number, number][]][] = [
    ['sched_cls', [[8, 4, 5], [32, 4, 6], [56, 4, 7], [44, 4, 9], [72, 4, 8], [152, 8, 1234], [12, 4, 3]]],
    ['socket_filter', [[48, 4, 11], [64, 4, 12]]],
  ];
  for (const [type, fields] of writes) {
    const body = fields.map(([off, size, value]) => `r2 = ${value}\n*(u${size * 8} *)(r1 + ${off}) = r2`).join('\n');
    withPair({ type, asm: `${body}\nr0 = 0\nexit` }, (p) => {
      p.agree({ data: udpFrame(16) }, `${type} writes`);
      p.agree({ data: udpFrame(16), ctx: skbCtx({ 8: 1, 32: 2, 48: 3 }) }, `${type} writes over ctx_in`);
    });
  }
});

test('context: flow dissector runs (bpf_flow_keys in, flow keys out, nhoff/thoff clamped)', options, () => {
  const dissector = `
    r6 = r1
    r7 = *(u64 *)(r6 + 144)
    r2 = *(u32 *)(r6 + 76)
    r3 = *(u32 *)(r6 + 80)
    r4 = *(u16 *)(r7 + 10)
    if r4 != 8 goto drop
    r5 = *(u16 *)(r7 + 0)
    if r5 > 100 goto drop
    r2 += r5
    r8 = r2
    r8 += 20
    if r8 > r3 goto drop
    r0 = *(u8 *)(r2 + 9)
    *(u8 *)(r7 + 9) = r0
    r0 = *(u32 *)(r2 + 12)
    *(u32 *)(r7 + 16) = r0
    r0 = *(u32 *)(r2 + 16)
    *(u32 *)(r7 + 20) = r0
    r0 = *(u8 *)(r2 + 0)
    r0 &= 15
    r0 <<= 2
    r0 += r5
    r0 += 5000
    *(u16 *)(r7 + 2) = r0
    r0 = 2048
    *(u16 *)(r7 + 4) = r0
    r0 = 0
    exit
  drop:
    r0 = 2
    exit`;
  withPair({ type: 'flow_dissector', asm: dissector }, (p) => {
    const ipv6 = udpFrame(40);
    ipv6[12] = 0x86; ipv6[13] = 0xdd;
    for (const [name, data] of [...frames(), ['ipv6', ipv6] as [string, Uint8Array]]) p.agree({ data }, `flow dissector ${name}`);
    const keys = (flags: number, size = 56) => {
      const k = new Uint8Array(size);
      new DataView(k.buffer).setUint32(48, flags, true);
      return k;
    };
    p.agree({ data: udpFrame(16), ctx: keys(1) }, 'flags PARSE_1ST_FRAG');
    p.agree({ data: udpFrame(16), ctx: keys(8) }, 'unknown flag');
    p.agree({ data: udpFrame(16), ctx: keys(0, 64) }, 'longer ctx_in, zero tail');
    p.agree({ data: new Uint8Array(4096) }, 'a page of data');
    p.agree({ data: new Uint8Array(4097) }, 'more than a page');
  });
});

test('context: sk_lookup runs (bpf_sk_lookup from ctx_in, its checks, what the program reads)', options, () => {
  const fields = [8, 12, 16, 20, 36, 40, 44, 60];
  const asm = `r6 = r1\n${INIT_RESULTS}\n${fields.map((o, i) => `r1 = *(u32 *)(r6 + ${o})\n${save(i, 'r1')}`).join('\n')}\n${PUBLISH}\nr0 = 1\nexit`;
  /** family, protocol, local_port, then the other fields filled with 0x11 unless `fill` is 0. */
  const lookup = (family: number, protocol: number, port: number, set: Record<number, number> = {}, fill = 0) => {
    const c = new Uint8Array(72).fill(fill, 16, 60);
    const v = new DataView(c.buffer);
    v.setUint32(8, family, true);
    v.setUint32(12, protocol, true);
    v.setUint32(60, port, true);
    for (const [off, value] of Object.entries(set)) v.setUint32(Number(off), value, true);
    return c;
  };
  withPair({ type: 'sk_lookup', maps: [RESULTS], asm }, (p) => {
    const cases: [string, { ctx?: Uint8Array; data?: Uint8Array }][] = [
      ['tcp over IPv4', { ctx: lookup(2, 6, 80, { 16: 0x0100000a, 36: 0x1234, 40: 0x0200000a }) }],
      ['udp over IPv6, every field set', { ctx: lookup(10, 17, 53, {}, 0x11) }],
      ['IPv4, every field set (IPv6 addresses hidden)', { ctx: lookup(2, 17, 53, {}, 0x11) }],
      ['family and protocol keep 16 bits', { ctx: lookup(0x10002, 0x10006, 80) }],
      ['remote_port padding is not seen', { ctx: lookup(2, 6, 80, { 36: 0x10001 }) }],
      ['no ctx_in', {}],
      ['family AF_UNIX', { ctx: lookup(1, 6, 80) }],
      ['a socket selected', { ctx: lookup(2, 6, 80, { 0: 5 }) }],
      ['ingress_ifindex set', { ctx: lookup(2, 6, 80, { 64: 1 }) }],
      ['local_port past 16 bits', { ctx: lookup(2, 6, 65536) }],
      ['data_in given', { ctx: lookup(2, 6, 80), data: new Uint8Array(20) }],
      ['short ctx_in', { ctx: lookup(2, 6, 80).subarray(0, 16) }],
    ];
    for (const [name, input] of cases) p.agree(input, `sk_lookup ${name}`);
  });
});

