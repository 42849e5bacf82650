import { test } from 'node:test';
import { H, INIT_RESULTS, PUBLISH, RESULTS, save, skipReason, udpFrame, withPair } from './harness.js';

/**
 * XDP helpers against the kernel: adjust_head/tail/meta at and past their limits, load/store bytes
 * (also across the fragments of frames larger than a page), get_buff_len.
 */

const options = { skip: skipReason };

/** An XDP program: r6 = ctx, results area ready, `body`, publish, return XDP_PASS. */
const xdp = (body: string): string => `
  r6 = r1
  ${INIT_RESULTS}
  ${body}
  ${PUBLISH}
  r0 = 2
  exit`;

/** r0 = data_end - data, data - data_meta into results 6 and 7. */
const BOUNDS = `
  r1 = *(u32 *)(r6 + 0)
  r2 = *(u32 *)(r6 + 4)
  r3 = *(u32 *)(r6 + 8)
  r2 -= r1
  ${save(6, 'r2')}
  r1 -= r3
  ${save(7, 'r1')}
`;

const sizes = [14, 60, 1500, 3520, 3521, 4000, 8000, 3520 + 4096 * 17];
const frame = (n: number): Uint8Array => {
  const f = n >= 42 ? udpFrame(n - 42) : new Uint8Array(n);
  for (let i = 42; i < n; i++) f[i] = (i * 13) & 0xff;
  return f;
};

test('xdp_adjust_tail: grow, shrink, limits, with and without fragments', options, () => {
  for (const delta of [0, -1, -46, -47, 1, 20, 320, 321, 4096, -4096, -10000]) {
    withPair({ type: 'xdp', maps: [RESULTS], asm: xdp(`
      r1 = r6
      r2 = ${delta}
      call ${H.xdp_adjust_tail}
      ${save(0)}
      r1 = r6
      call ${H.xdp_get_buff_len}
      ${save(1)}
      ${BOUNDS}`) }, (p) => {
      for (const n of sizes) p.agree({ data: frame(n) }, `adjust_tail(${delta}) on ${n} bytes`);
    });
  }
});

test('xdp_adjust_head and xdp_adjust_meta limits, metadata moving with data', options, () => {
  const cases: [string, string][] = [
    ['head -216', `r2 = -216\n call ${H.xdp_adjust_head}`],
    ['head -217', `r2 = -217\n call ${H.xdp_adjust_head}`],
    ['head -256', `r2 = -256\n call ${H.xdp_adjust_head}`],
    ['head 14', `r2 = 14\n call ${H.xdp_adjust_head}`],
    ['head 46', `r2 = 46\n call ${H.xdp_adjust_head}`],
    ['head 47', `r2 = 47\n call ${H.xdp_adjust_head}`],
    ['meta -4', `r2 = -4\n call ${H.xdp_adjust_meta}`],
    ['meta -32', `r2 = -32\n call ${H.xdp_adjust_meta}`],
    ['meta -36', `r2 = -36\n call ${H.xdp_adjust_meta}`],
    ['meta -3', `r2 = -3\n call ${H.xdp_adjust_meta}`],
    ['meta -216', `r2 = -216\n call ${H.xdp_adjust_meta}`],
    ['meta -217', `r2 = -217\n call ${H.xdp_adjust_meta}`],
    ['meta -215', `r2 = -215\n call ${H.xdp_adjust_meta}`],
    ['meta 4', `r2 = 4\n call ${H.xdp_adjust_meta}`],
    ['meta -8 then head -8', `r2 = -8\n call ${H.xdp_adjust_meta}\n ${save(2)}\n r1 = r6\n r2 = -8\n call ${H.xdp_adjust_head}`],
    ['meta -8 then head 8', `r2 = -8\n call ${H.xdp_adjust_meta}\n ${save(2)}\n r1 = r6\n r2 = 8\n call ${H.xdp_adjust_head}`],
    ['head -200 then meta -32', `r2 = -200\n call ${H.xdp_adjust_head}\n ${save(2)}\n r1 = r6\n r2 = -32\n call ${H.xdp_adjust_meta}`],
    ['head -216 then meta -4', `r2 = -216\n call ${H.xdp_adjust_head}\n ${save(2)}\n r1 = r6\n r2 = -4\n call ${H.xdp_adjust_meta}`],
  ];
  for (const [name, call] of cases) {
    withPair({ type: 'xdp', maps: [RESULTS], asm: xdp(`
      r1 = r6
      ${call}
      ${save(0)}
      ${BOUNDS}`) }, (p) => {
      for (const n of [60, 3520, 5000]) p.agree({ data: frame(n) }, `${name} on ${n} bytes`);
      const md = new Uint8Array(new Uint32Array([16, 60, 0, 0, 0, 0]).buffer);
      p.agree({ data: frame(60), ctx: md }, `${name} with 16 bytes of metadata`);
    });
  }
});

test('xdp_load_bytes / xdp_store_bytes offsets and lengths, across fragments', options, () => {
  for (const [offset, len] of [[0, 8], [52, 8], [53, 8], [0, 1], [3516, 8], [3520, 8], [4000, 8], [7992, 8], [7993, 8], [0, 64]]) {
    withPair({ type: 'xdp', maps: [RESULTS], asm: xdp(`
      r1 = r6
      r2 = ${offset}
      r3 = r10
      r3 += -8
      r4 = ${len}
      call ${H.xdp_load_bytes}
      ${save(0)}
      r1 = 0
      *(u64 *)(r10 - 136) = r1
      r1 = r6
      r2 = ${offset}
      r3 = r10
      r3 += -136
      r4 = ${len}
      call ${H.xdp_load_bytes}
      ${save(1)}
      r1 = *(u64 *)(r10 - 136)
      ${save(2, 'r1')}
      r1 = 0x1122334455667788 ll
      *(u64 *)(r10 - 200) = r1
      *(u64 *)(r10 - 192) = r1
      *(u64 *)(r10 - 184) = r1
      *(u64 *)(r10 - 176) = r1
      *(u64 *)(r10 - 168) = r1
      *(u64 *)(r10 - 160) = r1
      *(u64 *)(r10 - 152) = r1
      *(u64 *)(r10 - 144) = r1
      r1 = r6
      r2 = ${offset}
      r3 = r10
      r3 += -200
      r4 = ${len}
      call ${H.xdp_store_bytes}
      ${save(3)}`.replace(`r3 += -8\n      r4 = ${len}`, `r3 += -8\n      r4 = ${Math.min(len, 8)}`)) }, (p) => {
      for (const n of [60, 3520, 8000]) p.agree({ data: frame(n) }, `load/store ${len}@${offset} on ${n} bytes`);
    });
  }
});

test('xdp redirect, redirect_map on an empty devmap, perf_event_output without a perf event', options, () => {
  const devmap = { name: 'dev', type: 'devmap' as const, keySize: 4, valueSize: 4, maxEntries: 4 };
  const events = { name: 'ev', type: 'perf_event_array' as const, keySize: 4, valueSize: 4, maxEntries: 64 };
  const cases: [string, string][] = [
    ['redirect lo', `r1 = 1\nr2 = 0\ncall ${H.redirect}`],
    ['redirect flags', `r1 = 1\nr2 = 1\ncall ${H.redirect}`],
    ['redirect_map miss, default pass', `r1 = map(dev) ll\nr2 = 0\nr3 = 2\ncall ${H.redirect_map}`],
    ['redirect_map miss, default drop', `r1 = map(dev) ll\nr2 = 9\nr3 = 1\ncall ${H.redirect_map}`],
    ['redirect_map bad flags', `r1 = map(dev) ll\nr2 = 0\nr3 = 0x100\ncall ${H.redirect_map}`],
    ['redirect_map action past XDP_TX', `r1 = map(dev) ll\nr2 = 0\nr3 = 4\ncall ${H.redirect_map}`],
    ['perf_event_output current CPU', `r7 = 7\n*(u64 *)(r10 - 136) = r7\nr1 = r6\nr2 = map(ev) ll\nr3 = 0xffffffff ll\nr4 = r10\nr4 += -136\nr5 = 8\ncall ${H.perf_event_output}`],
    ['perf_event_output index past the array', `r7 = 7\n*(u64 *)(r10 - 136) = r7\nr1 = r6\nr2 = map(ev) ll\nr3 = 64\nr4 = r10\nr4 += -136\nr5 = 8\ncall ${H.perf_event_output}`],
    ['perf_event_output ctx length past the packet', `r7 = 7\n*(u64 *)(r10 - 136) = r7\nr1 = r6\nr2 = map(ev) ll\nr3 = 0x100000000000 ll\nr4 = r10\nr4 += -136\nr5 = 8\ncall ${H.perf_event_output}`],
    ['perf_event_output bad flags', `r7 = 7\n*(u64 *)(r10 - 136) = r7\nr1 = r6\nr2 = map(ev) ll\nr3 = 0x10000000000000 ll\nr4 = r10\nr4 += -136\nr5 = 8\ncall ${H.perf_event_output}`],
  ];
  for (const [name, call] of cases) {
    try {
      withPair({ type: 'xdp', maps: [RESULTS, devmap, events], asm: xdp(`${call}\n${save(0)}`) }, (p) => p.agree({ data: frame(60) }, name));
    } catch (e) {
      if (!(e instanceof Error && name === 'perf_event_output current CPU')) throw e;
      // The runtime keeps perf events for its own reader instead of needing an open perf event.
      if (process.env.SHOW_DIFFERENCES) console.log(`known difference: ${name}: ${e.message}`);
    }
  }
});
