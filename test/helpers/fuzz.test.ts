import { test } from 'node:test';
import { fromPacket, H, INIT_RESULTS, PUBLISH, rawFrame, RESULTS, save, skipReason, withPair } from './harness.js';
import { random } from '../support/random.js';

/**
 * Random inputs through one program per helper shape: the program copies its arguments out of the
 * packet (bpf_skb_load_bytes), so hundreds of cases run without reloading. Seeded, so a failure
 * names a reproducible case.
 */

const options = { skip: skipReason };
/** TSBPF_FUZZ_SCALE=10 runs ten times the cases (with other seeds: TSBPF_FUZZ_SEED). */
const scale = Number(process.env.TSBPF_FUZZ_SCALE ?? 1);
const seedOffset = Number(process.env.TSBPF_FUZZ_SEED ?? 0);

test('fuzz: csum_diff over random bytes, sizes and seeds', options, () => {
  const next = random(0xc5d1ff + seedOffset);
  for (const [fromSize, toSize] of [[0, 4], [4, 0], [4, 4], [8, 12], [1, 3], [2, 5], [13, 7], [32, 28], [0, 1], [6, 0]]) {
    const body = `
      r1 = r10
      r1 += -200
      r2 = ${fromSize}
      r3 = r10
      r3 += -168
      r4 = ${toSize}
      r5 = *(u32 *)(r10 - 140)
      call ${H.csum_diff}
      ${save(0)}`.replace(/r1 = r10\n\s*r1 \+= -200\n\s*r2 = 0\n/, 'r1 = 0\nr2 = 0\n').replace(/r3 = r10\n\s*r3 \+= -168\n\s*r4 = 0\n/, 'r3 = 0\nr4 = 0\n');
    withPair({ type: 'sched_cls', maps: [RESULTS], asm: fromPacket(body) }, (p) => {
      for (let i = 0; i < 40 * scale; i++) {
        const payload = new Uint8Array(64).map(() => (next() < 0.2 ? 0xff : next() < 0.2 ? 0 : Math.floor(next() * 256)));
        p.agree({ data: rawFrame(payload) }, `csum_diff from ${fromSize} to ${toSize}, case ${i}`);
      }
    });
  }
});

test('fuzz: l3/l4_csum_replace with random fields, values and checksums', options, () => {
  const next = random(0x13c5 + seedOffset);
  for (const [helper, flags] of [[H.l3_csum_replace, 2], [H.l3_csum_replace, 4], [H.l4_csum_replace, 2], [H.l4_csum_replace, 0x14], [H.l4_csum_replace, 0x24], [H.l4_csum_replace, 0x32]] as const) {
    const body = `
      r1 = r6
      r2 = 14
      r3 = *(u32 *)(r10 - 196)
      r4 = *(u32 *)(r10 - 192)
      r5 = ${flags}
      call ${helper}
      ${save(0)}
      r1 = r6
      r2 = 14
      r3 = r10
      r3 += -120
      r4 = 2
      call ${H.skb_load_bytes}
      r1 = *(u16 *)(r10 - 120)
      ${save(1, 'r1')}`;
    withPair({ type: 'sched_cls', maps: [RESULTS], asm: fromPacket(body) }, (p) => {
      for (let i = 0; i < 40 * scale; i++) {
        const payload = new Uint8Array(64).map(() => Math.floor(next() * 256));
        const pick = next();
        // Checksums at the corners: 0, 0xffff, and values whose update lands on them.
        if (pick < 0.25) payload.set([0, 0], 0);
        else if (pick < 0.5) payload.set([0xff, 0xff], 0);
        if (next() < 0.3) payload.set(payload.subarray(4, 8), 8);
        p.agree({ data: rawFrame(payload) }, `helper ${helper} flags ${flags}, case ${i}`);
      }
    });
  }
});

test('fuzz: strtol / strtoul over random numeric-looking strings', options, () => {
  const next = random(0x5717 + seedOffset);
  const pieces = [' ', '\t', '\n', '\v', '\f', '\r', '-', '+', '0', '0x', '0X', '1', '7', '8', '9', 'a', 'f', 'g', 'F', 'x', '99999999999', '18446744073709551615', '9223372036854775807', '\0'];
  for (const flags of [0, 8, 10, 16]) {
    const body = `
      r1 = 0
      *(u64 *)(r10 - 120) = r1
      r1 = r10
      r1 += -200
      r2 = 32
      r3 = ${flags}
      r4 = r10
      r4 += -120
      call ${H.strtol}
      ${save(0)}
      r1 = *(u64 *)(r10 - 120)
      ${save(1, 'r1')}
      r1 = 0
      *(u64 *)(r10 - 120) = r1
      r1 = r10
      r1 += -200
      r2 = 32
      r3 = ${flags}
      r4 = r10
      r4 += -120
      call ${H.strtoul}
      ${save(2)}
      r1 = *(u64 *)(r10 - 120)
      ${save(3, 'r1')}`;
    withPair({ type: 'sched_cls', maps: [RESULTS], asm: fromPacket(body) }, (p) => {
      for (let i = 0; i < 60 * scale; i++) {
        let text = '';
        const parts = 1 + Math.floor(next() * 5);
        for (let j = 0; j < parts; j++) text += pieces[Math.floor(next() * pieces.length)];
        const payload = new Uint8Array(64);
        payload.set(new TextEncoder().encode(text).subarray(0, 63));
        if (next() < 0.3) payload.fill(0x31, text.length, 32); // no terminator within the 32 bytes
        p.agree({ data: rawFrame(payload) }, `strto* flags ${flags} ${JSON.stringify(text)}`);
      }
    });
  }
});

test('fuzz: snprintf over random formats of the grammar the kernel accepts', options, () => {
  const next = random(0x5f0 + seedOffset);
  const conversions = ['%d', '%5d', '%-5d', '%05d', '%+d', '% d', '%x', '%08x', '%X', '%lld', '%llu', '%lx', '%llX', '%u', '%c', '%s', '%-10s', '%10s', '%i', '%li', '%+05d', '%-+4d', '%20llu', '%%'];
  for (let n = 0; n < 12 * scale; n++) {
    let fmt = '';
    const specs: string[] = [];
    const count = 1 + Math.floor(next() * 5);
    for (let j = 0; j < count; j++) {
      const spec = conversions[Math.floor(next() * conversions.length)]!;
      fmt += (next() < 0.5 ? '|' : '') + spec;
      if (spec !== '%%') specs.push(spec);
    }
    const init = new TextEncoder().encode(fmt + '\0');
    const lines = ['r1 = 0x6f6c6c6568 ll', '*(u64 *)(r10 - 160) = r1', 'r1 = 0', '*(u64 *)(r10 - 152) = r1'];
    specs.forEach((spec, i) => {
      const slot = `*(u64 *)(r10 - ${232 - 8 * i})`;
      if (spec.endsWith('s')) lines.push('r1 = r10', 'r1 += -160', `${slot} = r1`);
      else {
        const bits = next() < 0.5 ? 32 : 64;
        const value = BigInt(Math.floor(next() * 2 ** 32)) << BigInt(bits - 32) | BigInt(Math.floor(next() * 2 ** 32));
        lines.push(`r1 = 0x${BigInt.asUintN(64, next() < 0.2 ? -value : value).toString(16)} ll`, `${slot} = r1`);
      }
    });
    lines.push('r1 = r10', 'r1 += -64', 'r2 = 56', 'r3 = mapval(fmt) ll', 'r4 = r10', 'r4 += -232', `r5 = ${specs.length * 8}`, `call ${H.snprintf}`, save(7));
    const rodata = { name: 'fmt', type: 'array' as const, keySize: 4, valueSize: (init.length + 7) & ~7, maxEntries: 1, flags: 0x80, init, freeze: true };
    withPair({ type: 'xdp', maps: [RESULTS, rodata], asm: `${INIT_RESULTS}\n${lines.join('\n')}\n${PUBLISH}\nr0 = 2\nexit` }, (p) => {
      p.agree({ data: rawFrame(new Uint8Array(64)) }, `snprintf ${JSON.stringify(fmt)}`);
    });
  }
});
