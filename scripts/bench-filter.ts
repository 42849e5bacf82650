/**
 * Filter speed: our classic BPF engines (compiled JavaScript and the interpreter) on packets in
 * memory, our whole `tsbpf filter` path (stream the file, filter, count), and beside it
 * `tcpdump -r FILE -w /dev/null EXPR` on the same file when tcpdump is installed. Figures only.
 *
 *   npx tsx scripts/bench-filter.ts [--capture FILE] [--packets N] [--all]
 *
 * Without --capture, a synthetic capture of N packets (default 200,000) is made in the temp
 * directory by repeating the Ethernet packets of the tcpdump test captures.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { corpus } from '../test/support/paths.js';
import { packetFilter } from '../src/cbpf/apply.js';
import { filterCompiler } from '../src/cbpf/filter-loader.js';
import { CaptureWriter, dltFromLinkType, openCapture, readCapture, type CapturedPacket } from '../src/net/index.js';

const EXPRESSIONS = [
  'ip', 'tcp', 'tcp port 80', 'host 10.0.0.1', 'udp and (port 53 or port 123)', 'vlan and udp',
  'ip6 and icmp6', 'ether broadcast or ether multicast', 'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn',
  'portrange 1000-2000', 'net 10.0.0.0 mask 255.0.0.0', 'tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420',
];
const MORE = ['ip6 and tcp port 22', 'ether[12:2] = 0x800', 'arp or rarp', 'icmp[icmptype] = icmp-echo', 'ip[6:2] & 0x1fff != 0',
  'greater 1000', 'less 64', 'ip proto 47', 'ip host 10.0.0.1 and not port 22', '(tcp port 80 or tcp port 443) and not host 10.1.1.1',
  'ip multicast', 'ip and len > 100 and ip[8] < 64', 'src net 192.168.0.0/16 and dst port 53', 'mpls and ip', 'pppoes and ip'];

const { values } = parseArgs({ options: { capture: { type: 'string' }, packets: { type: 'string', default: '200000' }, all: { type: 'boolean', default: false } } });

function syntheticCapture(count: number): string {
  const dir = corpus('pcap-filter', 'tcpdump-pcaps');
  if (!dir) throw new Error('corpus pcap-filter/tcpdump-pcaps not found; pass --capture FILE');
  const pool: CapturedPacket[] = [];
  for (const file of readdirSync(dir).sort()) {
    const { info, packets } = readCapture(join(dir, file));
    if (info.linkType === 1) for (const p of packets) pool.push({ ...p, data: Uint8Array.from(p.data) });
  }
  const path = join(tmpdir(), `tsbpf-bench-${process.pid}.pcap`);
  const writer = CaptureWriter.toFile(path, { format: 'pcap', linkType: 1, snaplen: 262144 });
  for (let i = 0; i < count; i++) {
    const p = pool[i % pool.length]!;
    writer.write({ ...p, seconds: 1_700_000_000 + Math.floor(i / 1000), nanos: (i % 1000) * 1_000_000 });
  }
  writer.close();
  return path;
}

const made = values.capture === undefined;
const path = values.capture ?? syntheticCapture(Number(values.packets));
const { info, packets } = readCapture(path);
const compile = filterCompiler();
// In-memory figures use a cache-sized slice (libpcap's baseline used 7,956 packets): filter cost,
// not memory bandwidth. The file figures stream the whole capture.
const IN_MEMORY = 8192;
const datas = packets.slice(0, IN_MEMORY).map((p) => p.data);
const wireLengths = packets.slice(0, IN_MEMORY).map((p) => p.wireLength);
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
console.log(`capture: ${path} (${packets.length} packets, link type ${info.linkType})${hasTcpdump ? '' : '; tcpdump not installed'}`);
console.log(`in-memory columns: the first ${Math.min(IN_MEMORY, packets.length)} packets, repeated for 300 ms`);
console.log('| expression | insns | matched (in memory) | js Mpps | interp Mpps | tsbpf filter (file) kpps | tcpdump -r -w /dev/null kpps |');
console.log('|---|---|---|---|---|---|---|');

type Filter = (d: Uint8Array, w: number) => number;
type Loop = (filter: Filter, datas: Uint8Array[], lengths: number[]) => number;

/**
 * A fresh loop function per measurement: one shared loop would see every filter and go
 * megamorphic, measuring V8's call dispatch instead of the filters.
 */
function freshLoop(): Loop {
  return new Function('filter', 'datas', 'lengths',
    'let m = 0; for (let i = 0; i < datas.length; i++) if (filter(datas[i], lengths[i]) !== 0) m++; return m;') as Loop;
}

function inMemoryRate(filter: Filter): { mpps: number; matched: number } {
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

for (const expr of values.all ? [...EXPRESSIONS, ...MORE] : EXPRESSIONS) {
  let prog;
  try {
    prog = compile(expr, { linkType: dltFromLinkType(info.linkType), snaplen: info.snaplen });
  } catch (err) {
    console.log(`| \`${expr}\` | (${(err as Error).message}) | | | | | |`);
    continue;
  }
  const js = inMemoryRate(packetFilter(prog, 'js'));
  const interp = inMemoryRate(packetFilter(prog, 'interp'));
  // The tsbpf filter path: stream the file, run the compiled filter, count.
  const fileStarted = performance.now();
  const fileFilter = packetFilter(prog, 'js');
  let seen = 0;
  for (const p of openCapture(path)) { seen++; fileFilter(p.data, p.wireLength); }
  const fileKpps = seen / ((performance.now() - fileStarted) / 1000) / 1000;
  let tcpdumpKpps = '-';
  if (hasTcpdump) {
    const started = performance.now();
    const r = spawnSync('tcpdump', ['-r', path, '-w', '/dev/null', expr], { stdio: 'ignore' });
    if (r.status === 0) tcpdumpKpps = (packets.length / ((performance.now() - started) / 1000) / 1000).toFixed(0);
  }
  console.log(`| \`${expr}\` | ${prog.length} | ${js.matched} | ${js.mpps.toFixed(1)} | ${interp.mpps.toFixed(1)} | ${fileKpps.toFixed(0)} | ${tcpdumpKpps} |`);
}
if (made) rmSync(path);
