import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpus } from '../support/paths.js';
import { compileFilter } from '../../src/cbpf/filter/index.js';
import { runCbpf } from '../../src/cbpf/interpret.js';
import { CbpfError } from '../../src/cbpf/cbpf-error.js';
import { checkClassic, isValidClassic } from '../../src/cbpf/check.js';
import { captureCompileOptions } from '../../src/cbpf/filter-loader.js';
import { readCapture } from '../../src/net/index.js';
import { parseListing } from './optimize-support.js';
import { formatImage } from '../../src/cbpf/filter-loader.js';

/**
 * libpcap leaves `geneve` and `protochain` filters unoptimised; tsbpf optimises them (geneve's TEB
 * test is built as real blocks when optimising, protochain's loop stays one block the optimiser
 * does not touch). The optimised programs must accept exactly the packets the unoptimised (libpcap's
 * own code) accepts: checked on synthetic Geneve and IPv6 extension-header packets, including
 * truncated ones, and on the Ethernet captures of the corpus.
 */
const GENEVE = ['geneve', 'geneve and tcp', 'geneve and udp port 53', 'geneve 0xb1 and ip host 10.0.0.1', 'geneve and geneve and udp',
  'geneve and ip6 and tcp port 80', 'geneve and ether host 1:2:3:4:5:6', 'geneve and arp', 'geneve or tcp', 'not geneve',
  'geneve and tcp[tcpflags] & tcp-syn != 0', 'geneve and icmp', 'geneve 7 or geneve 0xb1', 'udp and geneve and ip6 host ::1'];
const PROTOCHAIN = ['protochain 6', 'ip6 protochain 17', 'ip protochain 51', 'ip6 protochain 6 and port 80', 'protochain 58 or tcp',
  'not ip6 protochain 44', 'ip protochain 6 and port 80', 'ip6 protochain 59 or ip6 protochain 60'];

/** xorshift32: the same packets on every run. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

function syntheticPackets(count: number): Uint8Array[] {
  const r = random(0x5eed);
  const bytes = (n: number): number[] => Array.from({ length: n }, () => r(256));
  const pick = <T>(xs: readonly T[]): T => xs[r(xs.length)]!;
  const u16 = (v: number): number[] => [v >>> 8, v & 0xff];
  const ipv4Addr = (): number[] => (r(2) ? [10, 0, 0, 1] : bytes(4));
  const ipv6Addr = (): number[] => (r(3) === 0 ? [...new Array<number>(15).fill(0), 1] : bytes(16));

  const transport = (proto: number): number[] => {
    if (proto === 6) return [...u16(r(65536)), ...u16(pick([80, 443, r(65536)])), ...bytes(8), 0x50, pick([0x02, 0x12, 0x10, r(256)]), ...bytes(6)];
    if (proto === 17) return [...u16(r(65536)), ...u16(pick([53, 6081, r(65536)])), 0, 8 + 4, 0, 0, ...bytes(4)];
    return [pick([0, 8, 128, 135]), 0, ...bytes(6)];
  };
  const ipv4 = (proto: number, payload: number[]): number[] => {
    const ihl = r(4) === 0 ? 6 : 5;
    const frag = r(8) === 0 ? u16(r(0x2000)) : [0x40, 0];
    return [0x40 | ihl, 0, ...u16(ihl * 4 + payload.length), ...bytes(2), ...frag, 64, proto, 0, 0, ...ipv4Addr(), ...ipv4Addr(),
      ...bytes((ihl - 5) * 4), ...payload];
  };
  /** IPv6 with 0-3 extension headers (hop-by-hop, destination, routing, fragment, AH) before `proto`. */
  const ipv6 = (proto: number, payload: number[]): number[] => {
    const chain = Array.from({ length: r(4) }, () => pick([0, 60, 43, 44, 51]));
    let body = payload;
    let next = proto;
    for (const h of chain.reverse()) {
      const ext = h === 51 ? [next, 2 + r(2), ...bytes(2 + 8 + (0))] : [next, r(2), ...bytes(6)];
      if (h === 51) ext.push(...bytes((ext[1]! + 2) * 4 - ext.length));
      else ext.push(...bytes((ext[1]! + 1) * 8 - ext.length));
      body = [...ext, ...body];
      next = h;
    }
    return [0x60, 0, 0, 0, ...u16(body.length), next, 64, ...ipv6Addr(), ...ipv6Addr(), ...body];
  };
  const ip = (proto: number, payload: number[]): number[] => (r(2) ? ipv4(proto, payload) : ipv6(proto, payload));
  const inner = (): { type: number; frame: number[] } => {
    const proto = pick([6, 17, 1, 58, 59]);
    const v6 = r(2) === 1;
    const frame = v6 ? ipv6(proto, transport(proto)) : ipv4(proto, transport(proto));
    return { type: v6 ? 0x86dd : 0x0800, frame };
  };
  const geneve = (): number[] => {
    const optLen = r(4);
    const payload = inner();
    const teb = r(2) === 0;
    const body = teb
      ? [...(r(2) ? [1, 2, 3, 4, 5, 6] : bytes(6)), ...bytes(6), ...(r(5) ? u16(payload.type) : [0x08, 0x06]), ...payload.frame]
      : payload.frame;
    const vni = pick([[0, 0, 0xb1], [0, 0, 7], bytes(3)]);
    const head = [(r(6) === 0 ? 0x40 : 0) | optLen, 0, ...u16(teb ? 0x6558 : payload.type), ...vni, 0, ...bytes(optLen * 4)];
    return [...u16(r(65536)), ...u16(6081), ...u16(8 + head.length + body.length), 0, 0, ...head, ...body];
  };
  const packets: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r(3);
    const l3 = kind === 0 ? ip(17, geneve()) : kind === 1 ? ipv6(pick([6, 17, 58, 59]), transport(6)) : ip(pick([6, 17, 51]), transport(6));
    const v6 = (l3[0]! >> 4) === 6;
    const frame = [...bytes(12), ...u16(v6 ? 0x86dd : 0x0800), ...l3];
    const cut = r(5) === 0 ? 14 + r(frame.length - 14) : frame.length;
    packets.push(Uint8Array.from(frame.slice(0, cut)));
  }
  return packets;
}

interface Sample { data: Uint8Array; wirelen: number }

function corpusEthernetPackets(): Sample[] {
  const dir = corpus('pcap-filter', 'tcpdump-pcaps');
  if (!dir) return [];
  const out: Sample[] = [];
  const files = readdirSync(dir).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng')).sort();
  for (let i = 0; i < files.length; i += 3) {
    try {
      const capture = readCapture(join(dir, files[i]!));
      if (captureCompileOptions(capture.info).linkType !== 1) continue;
      for (const p of capture.packets) out.push({ data: p.data, wirelen: p.wireLength });
    } catch {
      // a capture our reader refuses is another test's business
    }
  }
  return out;
}

/**
 * The program's value, or -1 when it loops: libpcap's protochain code sets X to an AH header's
 * length instead of adding it, so some AH chains send it round forever (the interpreter stops it).
 */
function verdict(prog: ReturnType<typeof compileFilter>, data: Uint8Array, wirelen: number): number {
  try {
    return runCbpf(prog, data, wirelen, { maxBackwardJumps: 10_000 });
  } catch (err) {
    if (err instanceof CbpfError && err.code === 'cbpf/loop-limit') return -1;
    throw err;
  }
}

/** The packet with `fill` bytes after its captured ones (same wire length). */
function completed(data: Uint8Array, fill: number): Uint8Array {
  const out = new Uint8Array(data.length + 256).fill(fill);
  out.set(data);
  return out;
}

test('geneve and protochain: optimised programs accept exactly what the unoptimised ones accept, and are shorter', (t) => {
  const synthetic = syntheticPackets(3000).map((data) => ({ data, wirelen: data.length + (data.length % 7) }));
  const fromCorpus = corpusEthernetPackets();
  const packets = [...synthetic, ...fromCorpus];
  const counts: string[] = [];
  let accepted = 0;
  let truncationOnly = 0;
  let loops = 0;
  for (const expr of [...GENEVE, ...PROTOCHAIN]) {
    const unopt = compileFilter(expr, { optimize: false });
    const opt = compileFilter(expr, { optimize: true });
    const parity = compileFilter(expr, { optimize: true, libpcapOptimizerChoice: true });
    assert.deepEqual(parity, unopt, `${expr}: with libpcapOptimizerChoice the program is libpcap's unoptimised one`);
    assert.ok(opt.length <= unopt.length, `${expr}: optimised ${opt.length} > unoptimised ${unopt.length}`);
    // Linux's checker (forward jumps only, every M[] written before it is read) must hold for the
    // optimised program whenever it holds for libpcap's: not for protochain's backward `ja`, nor for
    // `geneve or tcp`, whose `tcp` reads the tunnel offsets even when geneve failed (M[] is 0 then).
    if (isValidClassic(unopt)) assert.doesNotThrow(() => checkClassic(opt), `${expr}: optimised program fails the classic checker`);
    for (const p of packets) {
      const want = verdict(unopt, p.data, p.wirelen);
      if (want > 0) accepted++;
      if (want < 0) loops++;
      const got = verdict(opt, p.data, p.wirelen);
      if (got === want) continue;
      // Like libpcap's own optimiser (`ether[1000] & 0 = 0` becomes `ret #262144`), ours drops loads
      // whose values nothing uses, so a packet cut short inside the tunnel header may pass the
      // optimised program where the unoptimised one aborted on an out-of-bounds load. Allowed only
      // then: the optimised verdict must be the unoptimised one on the packet completed either way.
      const hex = Buffer.from(p.data).toString('hex');
      assert.equal(got, verdict(unopt, completed(p.data, 0), p.wirelen), `${expr}: verdicts differ on ${hex} (wirelen ${p.wirelen})`);
      assert.equal(got, verdict(unopt, completed(p.data, 0xff), p.wirelen), `${expr}: verdicts differ on ${hex} (wirelen ${p.wirelen})`);
      truncationOnly++;
    }
    counts.push(`${expr} ${unopt.length}->${opt.length}`);
  }
  t.diagnostic(`${packets.length} packets (${synthetic.length} synthetic, ${fromCorpus.length} from Ethernet captures), ${accepted} acceptances, ` +
    `${truncationOnly} verdicts differ only because the unoptimised program read past a truncated packet, ${loops} runs loop in both`);
  t.diagnostic(counts.join('; '));
  assert.ok(accepted > 1000, `the packets exercise too little (${accepted} acceptances)`);
});

test("libpcap's TESTrun geneve/protochain rows: libpcapOptimizerChoice gives libpcap's bytes, the default is shorter", (t) => {
  const dir = corpus('pcap-filter', 'libpcap-testrun');
  if (!dir) return t.skip('corpus pcap-filter/libpcap-testrun missing');
  interface Row { name: string; DLT: string; expr: string; optimize: boolean; snaplen: number | null; skip: string | null; expected: string | null }
  const rows = readFileSync(join(dir, 'libpcap_accept_tests_flat.jsonl'), 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Row)
    .filter((r) => r.optimize && r.skip === null && r.expected && /\b(geneve|protochain)\b/.test(r.expr));
  let before = 0;
  let after = 0;
  for (const r of rows) {
    const options = { linkType: r.DLT, snaplen: r.snaplen ?? undefined };
    const expected = formatImage(parseListing(r.expected!), 1);
    assert.equal(formatImage(compileFilter(r.expr, { ...options, libpcapOptimizerChoice: true }), 1), expected, `${r.name}: ${r.expr}`);
    const ours = compileFilter(r.expr, options);
    before += parseListing(r.expected!).length;
    after += ours.length;
  }
  t.diagnostic(`${rows.length} rows: libpcap ${before} instructions, tsbpf optimised ${after}`);
  assert.ok(rows.length >= 10 && after < before);
});
