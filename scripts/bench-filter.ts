/**
 * Filter speed: our classic BPF engines (compiled JavaScript and the interpreter) on packets in
 * memory (and libpcap's bpf_filter on the same packets, built at run time when cc and libpcap-dev
 * are present), the file paths in process (the packet reader, one object per packet; the scanner
 * `tsbpf filter` uses, reading its window in place), and beside them
 * `tcpdump -r FILE -w /dev/null EXPR` on the same file when tcpdump is installed. Figures only.
 *
 *   npx tsx scripts/bench-filter.ts [--capture FILE] [--packets N] [--all] [--memory] [--processes]
 *
 * --memory prints only the in-memory columns (tsbpf's JS filter and libpcap's bpf_filter, same packets).
 *
 * --processes adds the `npm run bench` table (whole `tsbpf filter` and `tcpdump` processes, start-up
 * subtracted) after the in-process one.
 *
 * Without --capture, a synthetic capture of N packets (default 200,000) is made in the temp
 * directory by repeating the Ethernet packets of the tcpdump test captures.
 *
 * `filterSection` is the `npm run bench` section: the `tsbpf filter -w /dev/null` command and
 * `tcpdump -w /dev/null` as processes on the same capture and expressions, in the same run, and the
 * filters alone in memory beside libpcap's bpf_filter() on the same packets (also in the same run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchSection, BenchTable } from './bench.js';
import { corpus } from '../test/support/paths.js';
import { packetFilter, windowFilter } from '../src/cbpf/apply.js';
import type { WindowFilter } from '../src/cbpf/compile-js.js';
import { filterCompiler } from '../src/cbpf/filter-loader.js';
import { CaptureWriter, dltFromLinkType, openCapture, readCapture, type CapturedPacket } from '../src/net/index.js';
import { openScanner } from '../src/net/capture.js';

const EXPRESSIONS = [
  'ip', 'tcp', 'tcp port 80', 'host 10.0.0.1', 'udp and (port 53 or port 123)', 'vlan and udp',
  'ip6 and icmp6', 'ether broadcast or ether multicast', 'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn',
  'portrange 1000-2000', 'net 10.0.0.0 mask 255.0.0.0', 'tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420',
  'geneve and tcp',
];
const MORE = ['ip6 and tcp port 22', 'ether[12:2] = 0x800', 'arp or rarp', 'icmp[icmptype] = icmp-echo', 'ip[6:2] & 0x1fff != 0',
  'greater 1000', 'less 64', 'ip proto 47', 'ip host 10.0.0.1 and not port 22', '(tcp port 80 or tcp port 443) and not host 10.1.1.1',
  'ip multicast', 'ip and len > 100 and ip[8] < 64', 'src net 192.168.0.0/16 and dst port 53', 'mpls and ip', 'pppoes and ip'];

export function syntheticCapture(count: number): string {
  const dir = corpus('pcap-filter', 'tcpdump-pcaps');
  if (!dir) throw new Error('corpus pcap-filter/tcpdump-pcaps not found; pass --capture FILE');
  const pool: CapturedPacket[] = [];
  for (const file of readdirSync(dir).sort()) {
    const { info, packets } = readCapture(join(dir, file));
    if (info.linkType === 1) for (const p of packets) pool.push({ ...p, data: Uint8Array.from(p.data) });
  }
  const path = join(tmpdir(), `tsbpf-bench-${process.pid}-${count}.pcap`);
  const writer = CaptureWriter.toFile(path, { format: 'pcap', linkType: 1, snaplen: 262144 });
  for (let i = 0; i < count; i++) {
    const p = pool[i % pool.length]!;
    writer.write({ ...p, seconds: 1_700_000_000 + Math.floor(i / 1000), nanos: (i % 1000) * 1_000_000 });
  }
  writer.close();
  return path;
}

type Filter = (d: Uint8Array, w: number) => number;
type Loop = (filter: Filter, datas: Uint8Array[], lengths: number[]) => number;

/**
 * A fresh loop function per measurement: one shared loop would see every filter and go
 * megamorphic, measuring V8's call dispatch instead of the filters. The source differs each time
 * (a serial number): V8 caches `new Function` by its text, and loops with equal text shared their
 * call-site feedback (the first filters measured ran up to 2x faster than later, identical ones).
 */
let loopSerial = 0;
function freshLoop(): Loop {
  return new Function('filter', 'datas', 'lengths',
    `// loop ${++loopSerial}\nlet m = 0; for (let i = 0; i < datas.length; i++) if (filter(datas[i], lengths[i]) !== 0) m++; return m;`) as Loop;
}

/** Packets per second of `filter` over packets held in memory, repeated for 300 ms. */
function inMemoryRate(filter: Filter, datas: Uint8Array[], wireLengths: number[]): { mpps: number; matched: number } {
  const loop = freshLoop();
  const matched = loop(filter, datas, wireLengths); // warm-up
  let rounds = 0;
  const started = performance.now();
  while (performance.now() - started < 300) {
    loop(filter, datas, wireLengths);
    rounds++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { mpps: (rounds * datas.length) / seconds / 1e6, matched };
}

/** Packets laid end to end in one buffer, as a capture scanner's window holds them. */
interface PacketWindow { buffer: Uint8Array; offsets: number[]; caplens: number[]; wireLengths: number[] }

function packIntoWindow(datas: Uint8Array[], wireLengths: number[]): PacketWindow {
  const buffer = new Uint8Array(datas.reduce((sum, d) => sum + d.length, 0));
  const offsets: number[] = [];
  let at = 0;
  for (const d of datas) { buffer.set(d, at); offsets.push(at); at += d.length; }
  return { buffer, offsets, caplens: datas.map((d) => d.length), wireLengths };
}

type WindowLoop = (filter: WindowFilter, buffer: Uint8Array, offsets: number[], caplens: number[], wireLengths: number[]) => number;

/** As `inMemoryRate`, through the window entry `tsbpf filter` uses (no per-packet view). */
function windowRate(filter: WindowFilter, w: PacketWindow): { mpps: number; matched: number } {
  const loop = new Function('filter', 'buffer', 'offsets', 'caplens', 'wireLengths', `// loop ${++loopSerial}\n` +
    'let m = 0; for (let i = 0; i < offsets.length; i++) if (filter(buffer, offsets[i], caplens[i], wireLengths[i]) !== 0) m++; return m;') as WindowLoop;
  const matched = loop(filter, w.buffer, w.offsets, w.caplens, w.wireLengths);
  let rounds = 0;
  const started = performance.now();
  while (performance.now() - started < 300) {
    loop(filter, w.buffer, w.offsets, w.caplens, w.wireLengths);
    rounds++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { mpps: (rounds * w.offsets.length) / seconds / 1e6, matched };
}

/** The standalone report (in-memory engines, in-process file path, tcpdump). */
async function standalone(): Promise<void> {
  const { values } = parseArgs({ options: {
    capture: { type: 'string' }, packets: { type: 'string', default: '200000' }, all: { type: 'boolean', default: false }, processes: { type: 'boolean', default: false },
    memory: { type: 'boolean', default: false },
  } });
  const made = values.capture === undefined;
  const path = values.capture ?? syntheticCapture(Number(values.packets));
  const { info, packets } = readCapture(path);
  const compile = filterCompiler();
  // In-memory figures use a cache-sized slice (libpcap's baseline used 7,956 packets): filter cost,
  // not memory bandwidth. The file figures stream the whole capture.
  const IN_MEMORY = 8192;
  const datas = packets.slice(0, IN_MEMORY).map((p) => p.data);
  const wireLengths = packets.slice(0, IN_MEMORY).map((p) => p.wireLength);
  const window = packIntoWindow(datas, wireLengths);
  const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
  const expressions = values.all ? [...EXPRESSIONS, ...MORE] : EXPRESSIONS;
  const sameRun = libpcapSameRun(path, IN_MEMORY, expressions);
  if (typeof sameRun === 'string') console.log(`libpcap bpf_filter: ${sameRun}`);
  console.log(`capture: ${path} (${packets.length} packets, link type ${info.linkType})${hasTcpdump ? '' : '; tcpdump not installed'}`);
  console.log(`in-memory columns: the first ${Math.min(IN_MEMORY, packets.length)} packets, repeated for 300 ms`);
  console.log('| expression | insns | matched (in memory) | js Mpps | js window Mpps | libpcap bpf_filter Mpps (matched) | interp Mpps | file, packet reader kpps | file, scanner (tsbpf filter) kpps | tcpdump -r -w /dev/null kpps |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');

  for (const expr of expressions) {
    let prog;
    try {
      prog = compile(expr, { linkType: dltFromLinkType(info.linkType), snaplen: info.snaplen });
    } catch (err) {
      console.log(`| \`${expr}\` | (${(err as Error).message}) | | | | | | | | |`);
      continue;
    }
    const js = inMemoryRate(packetFilter(prog, 'js'), datas, wireLengths);
    const inWindow = windowRate(windowFilter(prog, 'js'), window);
    const theirs = typeof sameRun === 'string' ? undefined : sameRun.get(expr);
    const libpcap = theirs ? `${theirs.mpps} (${theirs.matched})` : '-';
    if (values.memory) {
      console.log(`| \`${expr}\` | ${prog.length} | ${js.matched} | ${js.mpps.toFixed(1)} | ${inWindow.mpps.toFixed(1)} | ${libpcap} | | | | |`);
      continue;
    }
    const interp = inMemoryRate(packetFilter(prog, 'interp'), datas, wireLengths);
    // The packet reader (one object per packet) and the scanner `tsbpf filter` uses (the window entry, no view).
    const readerStarted = performance.now();
    const readerFilter = packetFilter(prog, 'js');
    let seen = 0;
    for (const p of openCapture(path)) { seen++; readerFilter(p.data, p.wireLength); }
    const readerKpps = seen / ((performance.now() - readerStarted) / 1000) / 1000;
    const scanStarted = performance.now();
    const scanFilter = windowFilter(prog, 'js');
    const { count } = openScanner(path).scan((buffer, offset, caplen, wireLength) => {
      scanFilter(buffer, offset, caplen, wireLength);
    });
    const scanKpps = count / ((performance.now() - scanStarted) / 1000) / 1000;
    let tcpdumpKpps = '-';
    if (hasTcpdump) {
      const started = performance.now();
      const r = spawnSync('tcpdump', ['-r', path, '-w', '/dev/null', expr], { stdio: 'ignore' });
      if (r.status === 0) tcpdumpKpps = (packets.length / ((performance.now() - started) / 1000) / 1000).toFixed(0);
    }
    console.log(`| \`${expr}\` | ${prog.length} | ${js.matched} | ${js.mpps.toFixed(1)} | ${inWindow.mpps.toFixed(1)} | ${libpcap} | ${interp.mpps.toFixed(1)} | ${readerKpps.toFixed(0)} | ${scanKpps.toFixed(0)} | ${tcpdumpKpps} |`);
  }
  if (made) rmSync(path);
  if (values.processes) {
    const table = await filterSection.run();
    if (typeof table === 'string') { console.log(`\nprocesses: ${table}`); return; }
    console.log(`\n${filterSection.title}\n| ${table.columns.join(' | ')} |\n|${table.columns.map(() => '---|').join('')}`);
    for (const row of table.rows) console.log(`| ${row.join(' | ')} |`);
    for (const note of table.notes ?? []) console.log(note);
  }
}

// ---------- libpcap's bpf_filter, measured in the same run ----------

/**
 * A small C program, built at bench time into a temp directory: it reads the first N packets of a
 * capture into memory and times libpcap's `bpf_filter()` over them for each expression (compiled by
 * `pcap_compile` with the optimiser on, as tcpdump does), 300 ms each, like `inMemoryRate`.
 * Prints `expression TAB matched TAB Mpps` per expression.
 */
const LIBPCAP_HARNESS = `#include <pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: harness CAPTURE MAXPACKETS EXPR...\\n"); return 2; }
  char err[PCAP_ERRBUF_SIZE];
  pcap_t *in = pcap_open_offline(argv[1], err);
  if (!in) { fprintf(stderr, "%s\\n", err); return 1; }
  int limit = atoi(argv[2]), count = 0;
  u_char **data = calloc(limit, sizeof *data);
  u_int *caplen = calloc(limit, sizeof *caplen), *wirelen = calloc(limit, sizeof *wirelen);
  struct pcap_pkthdr *h; const u_char *bytes;
  while (count < limit && pcap_next_ex(in, &h, &bytes) == 1) {
    data[count] = malloc(h->caplen); memcpy(data[count], bytes, h->caplen);
    caplen[count] = h->caplen; wirelen[count] = h->len; count++;
  }
  for (int e = 3; e < argc; e++) {
    struct bpf_program prog;
    if (pcap_compile(in, &prog, argv[e], 1, PCAP_NETMASK_UNKNOWN) != 0) { printf("%s\\t-\\t-\\n", argv[e]); continue; }
    unsigned matched = 0;
    long rounds = 0; double started = now(), elapsed;
    do {
      unsigned m = 0;
      for (int i = 0; i < count; i++) if (bpf_filter(prog.bf_insns, data[i], wirelen[i], caplen[i])) m++;
      matched = m; rounds++;
    } while ((elapsed = now() - started) < 0.3);
    printf("%s\\t%u\\t%.1f\\n", argv[e], matched, rounds * (double)count / elapsed / 1e6);
    pcap_freecode(&prog);
  }
  return 0;
}
`;

/** libpcap's in-memory rate per expression, or why it could not be measured. */
export function libpcapSameRun(capture: string, packets: number, expressions: readonly string[]): Map<string, { matched: string; mpps: string }> | string {
  if (spawnSync('cc', ['--version']).status !== 0) return 'skipped: no C compiler (cc)';
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-libpcap-'));
  try {
    writeFileSync(join(dir, 'harness.c'), LIBPCAP_HARNESS);
    const built = spawnSync('cc', ['-O2', '-o', join(dir, 'harness'), join(dir, 'harness.c'), '-lpcap'], { encoding: 'utf8' });
    if (built.status !== 0) return /pcap\.h/.test(built.stderr) ? 'skipped: no libpcap-dev' : `skipped: harness did not build (${built.stderr.split('\n')[0]})`;
    const run = spawnSync(join(dir, 'harness'), [capture, String(packets), ...expressions], { encoding: 'utf8' });
    if (run.status !== 0) return `skipped: harness failed (${run.stderr.trim()})`;
    const out = new Map<string, { matched: string; mpps: string }>();
    for (const line of run.stdout.split('\n')) {
      const [expr, matched, mpps] = line.split('\t');
      if (expr && matched !== undefined && mpps !== undefined) out.set(expr, { matched, mpps });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- the `npm run bench` section ----------

const SECTION_EXPRESSIONS = ['ip', 'tcp port 80', 'host 10.0.0.1', 'udp and (port 53 or port 123)',
  'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn', 'ip6 and icmp6', 'geneve and tcp'];
const SECTION_PACKETS = 400_000;
const SECTION_RUNS = 5;

/** How to start `tsbpf`: the built CLI beside this script (dist), or main.ts under tsx. */
function tsbpfCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const built = resolve(here, '..', '..', 'src', 'cli', 'main.js');
  if (existsSync(built)) return { command: process.execPath, args: [built] };
  return { command: process.execPath, args: [...process.execArgv, resolve(here, '..', '..', 'src', 'cli', 'main.ts')] };
}

/** Median wall time in ms of a process run `SECTION_RUNS` times (after one warm-up). */
function medianRunMs(command: string, args: string[]): number | undefined {
  const times: number[] = [];
  for (let i = 0; i <= SECTION_RUNS; i++) {
    const started = performance.now();
    const r = spawnSync(command, args, { stdio: 'ignore' });
    if (r.status !== 0) return undefined;
    if (i > 0) times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

const kpps = (packets: number, ms: number): string => (packets / ms).toFixed(0);

/** How many times faster tsbpf's filter is than libpcap's, from two Mpps cells. */
const speedup = (ours: string, theirs: string): string => {
  const ratio = Number(ours) / Number.parseFloat(theirs);
  return Number.isFinite(ratio) ? ratio.toFixed(2) : '-';
};

/** libpcap 1.10.3's bpf_filter speed (optimised program, Mpps) per expression, from the corpus. */
function libpcapBaselineMpps(): Map<string, string> {
  const dir = corpus('pcap-filter', 'libpcap-1.10.3-oracle');
  const out = new Map<string, string>();
  const path = dir && join(dir, 'baseline_bpf_filter_speed.md');
  if (!path || !existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    // | `expression` | opt insns | matched | ns/pkt | Mpps | ... (the expression may hold '|')
    const m = /^\|\s*`(.+)`\s*\|(.*)$/.exec(line);
    const mpps = m?.[2]!.split('|').map((c) => c.trim())[3];
    if (m && mpps) out.set(m[1]!, mpps);
  }
  return out;
}

export const filterSection: BenchSection = {
  title: 'Packet filter: tsbpf filter beside tcpdump (packets per second, whole processes)',
  async run(): Promise<BenchTable | string> {
    if (!corpus('pcap-filter', 'tcpdump-pcaps')) return 'corpus pcap-filter/tcpdump-pcaps not found';
    if (spawnSync('tcpdump', ['--version']).status !== 0) return 'tcpdump not installed';
    const full = syntheticCapture(SECTION_PACKETS);
    const empty = syntheticCapture(0);
    const tsbpf = tsbpfCommand();
    const rows: string[][] = [];
    const inMemory = readCapture(full).packets.slice(0, 8192);
    const datas = inMemory.map((p) => p.data);
    const wireLengths = inMemory.map((p) => p.wireLength);
    const window = packIntoWindow(datas, wireLengths);
    const sameRun = libpcapSameRun(full, 8192, SECTION_EXPRESSIONS);
    const baseline = libpcapBaselineMpps();
    try {
      for (const expr of SECTION_EXPRESSIONS) {
        const ours = (file: string): number | undefined => medianRunMs(tsbpf.command, [...tsbpf.args, 'filter', '-q', '-r', file, '-w', '/dev/null', expr]);
        const theirs = (file: string): number | undefined => medianRunMs('tcpdump', ['-r', file, '-w', '/dev/null', expr]);
        const [oursFull, oursEmpty, theirsFull, theirsEmpty] = [ours(full), ours(empty), theirs(full), theirs(empty)];
        const prog = filterCompiler()(expr, { linkType: 1 });
        const js = inMemoryRate(packetFilter(prog, 'js'), datas, wireLengths).mpps.toFixed(1);
        const jsWindow = windowRate(windowFilter(prog, 'js'), window).mpps.toFixed(1);
        const libpcap = typeof sameRun === 'string' ? `${baseline.get(expr) ?? '-'} (corpus)` : sameRun.get(expr)?.mpps ?? '-';
        if (oursFull === undefined || oursEmpty === undefined || theirsFull === undefined || theirsEmpty === undefined) {
          rows.push([expr, 'failed', '', '', '', '', '', js, jsWindow, libpcap, speedup(jsWindow, libpcap)]);
          continue;
        }
        // Start-up (node and module loading, or tcpdump's) measured on the same header with no packets;
        // when it swamps the run (tsx transpiling, a busy machine) the difference means nothing.
        const oursSteady = oursFull - oursEmpty;
        const theirsSteady = theirsFull - theirsEmpty;
        const meaningful = oursSteady > 0.1 * oursFull && theirsSteady > 0.1 * theirsFull;
        rows.push([expr, kpps(SECTION_PACKETS, oursFull), kpps(SECTION_PACKETS, theirsFull),
          meaningful ? kpps(SECTION_PACKETS, oursSteady) : '-', meaningful ? kpps(SECTION_PACKETS, theirsSteady) : '-',
          meaningful ? (theirsSteady / oursSteady).toFixed(2) : '-', `${oursEmpty.toFixed(0)} / ${theirsEmpty.toFixed(0)}`, js, jsWindow, libpcap, speedup(jsWindow, libpcap)]);
      }
    } finally {
      rmSync(full, { force: true });
      rmSync(empty, { force: true });
    }
    return {
      columns: ['expression', 'tsbpf kpps', 'tcpdump kpps', 'tsbpf kpps (no start-up)', 'tcpdump kpps (no start-up)', 'speed vs tcpdump',
        'start-up ms (tsbpf / tcpdump)', 'filter only: tsbpf js Mpps', 'tsbpf js window Mpps', 'libpcap bpf_filter Mpps', 'window filter vs libpcap'],
      rows,
      notes: [
        `${SECTION_PACKETS.toLocaleString('en-US')} Ethernet packets (the tcpdump test captures repeated), both commands \`-r FILE -w /dev/null EXPR\`; medians of ${SECTION_RUNS} runs.`,
        '"no start-up": the same command on a capture with the same header and no packets, subtracted; speed > 1 means tsbpf is faster.',
        '"filter only": the optimised filter compiled to JavaScript over the first 8,192 packets in memory (one array per packet, and "window":',
        'the packets end to end in one buffer through the (buffer, offset, caplen, wirelen) entry tsbpf filter uses), beside libpcap\'s bpf_filter()',
        typeof sameRun === 'string'
          ? `over its own optimised program, ${sameRun}: libpcap figures are the corpus's (baseline_bpf_filter_speed.md, not this run).`
          : 'over its own optimised program (pcap_compile, optimiser on) on the same 8,192 packets, in this run (a C harness built with cc -O2 -lpcap).',
      ],
    };
  },
};

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await standalone();
