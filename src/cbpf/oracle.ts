import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TsbpfError } from '../errors.js';
import { packetFilter, type FilterEngine } from './apply.js';
import { captureCompileOptions, type CompileFilter } from './filter-loader.js';
import { readCapture, type CaptureContents } from '../net/index.js';

/**
 * The libpcap 1.10.3 oracle (corpora pcap-filter/libpcap-1.10.3-oracle): for each capture, link
 * type and expression, what libpcap did (compiled or which error; instruction counts; per-packet
 * verdicts of the unoptimised program). This module replays a row with our compiler and filter.
 */
export type OracleStatus = 'OK' | 'ERR' | 'OPTERR' | 'OPT_UNOPT_DIFFER';

export interface OracleRow {
  file: string;
  linkTypeName: string;
  exprIndex: number;
  expr: string;
  status: OracleStatus;
  optimisedCount?: number;
  unoptimisedCount?: number;
  /** '1'/'0' per packet, for the unoptimised program. */
  verdicts: string;
  error?: string;
}

export interface Oracle {
  rows: OracleRow[];
  /** Captures: libpcap's own test files are named `libpcap-NAME` in the rows. */
  capturePath(file: string): string | undefined;
}

export function loadOracle(corporaDir: string): Oracle {
  const dir = join(corporaDir, 'pcap-filter', 'libpcap-1.10.3-oracle');
  if (!existsSync(dir)) throw new TsbpfError('cbpf/no-oracle', `oracle not found at ${dir}`);
  const exprs = readFileSync(join(dir, 'exprs.txt'), 'utf8').split('\n');
  const text = gunzipSync(readFileSync(join(dir, 'verdicts.tsv.gz'))).toString('utf8');
  const rows: OracleRow[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [file, linkTypeName, index, status, opt, unopt, verdicts, error] = line.split('\t');
    const exprIndex = Number(index);
    rows.push({
      file: file!, linkTypeName: linkTypeName!, exprIndex, expr: exprs[exprIndex] ?? '', status: status as OracleStatus,
      optimisedCount: opt ? Number(opt) : undefined, unoptimisedCount: unopt ? Number(unopt) : undefined,
      verdicts: verdicts ?? '', error: error || undefined,
    });
  }
  const pcaps = join(corporaDir, 'pcap-filter', 'tcpdump-pcaps');
  const testrun = join(corporaDir, 'pcap-filter', 'libpcap-testrun', 'pcaps');
  return {
    rows,
    capturePath(file: string): string | undefined {
      const path = file.startsWith('libpcap-') ? join(testrun, file.slice('libpcap-'.length)) : join(pcaps, file);
      return existsSync(path) ? path : undefined;
    },
  };
}

/** How a replayed row disagrees with libpcap. */
export type DisagreementKind =
  | 'libpcap-failed' // libpcap refused the expression, we compiled it
  | 'we-failed' // libpcap compiled it, we refused it
  | 'unoptimised-verdicts' // both compiled, per-packet verdicts differ
  | 'optimised-verdicts' // our optimised program's verdicts differ from libpcap's
  | 'libpcap-optimiser-failed' // libpcap's optimiser refused (OPTERR), ours compiled
  | 'our-optimiser-failed'; // ours refused, libpcap's optimiser compiled

export type OracleOutcome =
  | { agree: true; sameCounts: boolean }
  | { agree: false; sameCounts: boolean; kind: DisagreementKind; reason: string };

export type Disagreement = Extract<OracleOutcome, { agree: false }>;

/**
 * Replays one row: where libpcap failed we must fail; where it compiled, the unoptimised program
 * must give its per-packet verdicts, and so must the optimised one (status OK), or the optimised
 * compile must fail (OPTERR). Instruction counts are compared but reported apart. Compiles with
 * savefile semantics (`captureCompileOptions`), as the oracle's tcpdump -r did.
 */
export function replayOracleRow(row: OracleRow, capture: CaptureContents, compile: CompileFilter, engine: FilterEngine = 'js'): OracleOutcome {
  const options = captureCompileOptions(capture.info);
  const attempt = (optimize: boolean): { prog?: ReturnType<CompileFilter>; error?: string } => {
    try {
      return { prog: compile(row.expr, { ...options, optimize }) };
    } catch (err) {
      if (err instanceof TsbpfError) return { error: err.message };
      throw err;
    }
  };
  const verdicts = (prog: ReturnType<CompileFilter>): string => runVerdicts(prog, capture, engine);
  const unopt = attempt(false);
  if (row.status === 'ERR') {
    return unopt.error !== undefined
      ? { agree: true, sameCounts: true }
      : { agree: false, sameCounts: true, kind: 'libpcap-failed', reason: `libpcap: ${row.error ?? 'failed'}; we compiled it` };
  }
  if (!unopt.prog) return { agree: false, sameCounts: false, kind: 'we-failed', reason: `we failed: ${unopt.error}` };
  const opt = attempt(true);
  const sameCounts = unopt.prog.length === row.unoptimisedCount && (row.status === 'OPTERR' ? opt.prog === undefined : opt.prog?.length === row.optimisedCount);
  const unoptVerdicts = verdicts(unopt.prog);
  if (unoptVerdicts !== row.verdicts) {
    return { agree: false, sameCounts, kind: 'unoptimised-verdicts', reason: `unoptimised: ours ${unoptVerdicts}, libpcap ${row.verdicts}` };
  }
  if (row.status === 'OPTERR') {
    return opt.prog === undefined
      ? { agree: true, sameCounts }
      : { agree: false, sameCounts, kind: 'libpcap-optimiser-failed', reason: `libpcap optimiser: ${row.error ?? 'failed'}; ours compiled` };
  }
  if (!opt.prog) return { agree: false, sameCounts, kind: 'our-optimiser-failed', reason: `our optimised compile failed: ${opt.error}` };
  if (row.status === 'OK') {
    const optVerdicts = verdicts(opt.prog);
    if (optVerdicts !== row.verdicts) return { agree: false, sameCounts, kind: 'optimised-verdicts', reason: `optimised: ours ${optVerdicts}, libpcap ${row.verdicts}` };
  }
  return { agree: true, sameCounts };
}

function runVerdicts(prog: ReturnType<CompileFilter>, capture: CaptureContents, engine: FilterEngine): string {
  const filter = packetFilter(prog, engine);
  let out = '';
  for (const p of capture.packets) out += filter(p.data, p.wireLength) !== 0 ? '1' : '0';
  return out;
}

/**
 * A named reason for tsbpf and libpcap 1.10.3 to disagree: a libpcap 1.10.3 bug fixed in libpcap
 * master (whose semantics tsbpf follows, byte for byte on libpcap's own TESTrun), or a feature
 * added after 1.10.3. `libpcapEquivalent`, when given, rewrites the expression into one whose
 * meaning under tsbpf is what libpcap 1.10.3 did; the row belongs to the class only if that
 * rewrite reproduces libpcap's verdicts exactly (the bug is demonstrated, not assumed).
 */
export interface DisagreementClass {
  name: string;
  /** What differs, and the evidence (libpcap master TESTrun test name, issue or tcpdump message). */
  why: string;
  kinds: readonly DisagreementKind[];
  linkTypes?: readonly string[];
  expr?: RegExp;
  libpcapEquivalent?: (expr: string) => string;
  /** libpcap 1.10.3's verdict for every packet, when the bug makes it constant. */
  constantVerdict?: '0' | '1';
}

const VERDICT_KINDS: readonly DisagreementKind[] = ['unoptimised-verdicts', 'optimised-verdicts'];

export const ORACLE_DISAGREEMENT_CLASSES: readonly DisagreementClass[] = [
  {
    name: 'master:vxlan',
    why: "'vxlan' primitives were added after 1.10.3 (libpcap 1.10.3: syntax error; master TESTrun vxlan_*)",
    kinds: ['libpcap-failed'], expr: /\bvxlan\b/,
  },
  {
    name: 'master:ether-proto-names',
    why: "'lldp' and 'slow' protocol names are master additions (1.10.3: unknown ether proto)",
    kinds: ['libpcap-failed'], expr: /\bether proto \\?(lldp|slow)\b/,
  },
  {
    name: 'master:dsa-tag-dsa',
    why: "Marvell DSA link types: 1.10.3 says 'Marvell DSA link-layer type filtering not implemented'; master filters them (TESTrun *_DSA_TAG_DSA)",
    kinds: ['libpcap-failed'], linkTypes: ['DSA_TAG_DSA', 'DSA_TAG_EDSA'],
  },
  {
    name: 'master:ppi-80211',
    why: "DLT_PPI carries 802.11: 1.10.3 refuses wlan/dir primitives on it ('802.11 link-layer types supported only on 802.11'); master accepts them (TESTrun *_PPI)",
    kinds: ['libpcap-failed'], linkTypes: ['PPI'],
  },
  {
    name: 'master:80211-subtype-ba-bar',
    why: "802.11 control subtypes 'ba'/'bar' are master names (1.10.3: unknown 802.11 subtype name)",
    kinds: ['libpcap-failed'], expr: /\bsubtype (ba|bar)\b/,
  },
  {
    name: 'bug:jset-all-ones',
    why: "1.10.3's optimiser takes 'jset #0xffffffff' as always true and reports 'expression rejects all packets' (fixed in master 2026-07; TESTrun ldb_jset_0xFFFFFFFF)",
    kinds: ['libpcap-optimiser-failed'], expr: /&\s*0xffffffff\b/i,
  },
  {
    name: 'bug:byte-and-no-load',
    why: "1.10.3's 'byte N & V' forgets to load byte N and tests 0 & V, so it rejects every packet (master TESTrun byte_and loads it)",
    kinds: VERDICT_KINDS, expr: /^byte \d+ & /, constantVerdict: '0',
  },
  {
    name: 'bug:mtp3-field-ne',
    why: "1.10.3 compiles 'sio/opc/dpc/sls != N' (and the h* forms) as '== N' (tcpdump -y MTP2 -d shows the same code for both; master TESTrun mtp3_*_ne)",
    kinds: VERDICT_KINDS, linkTypes: ['MTP2', 'MTP2_WITH_PHDR'], expr: /\bh?(sio|opc|dpc|sls)\s*!=/,
    libpcapEquivalent: (expr) => expr.replace('!=', '=='),
  },
  {
    name: 'bug:arcnet-dollar-address',
    why: "1.10.3 parses ARCnet '$XX' addresses with the '$' included and matches a garbage byte (master TESTrun arcnet_broadcast_multicast: 'link dst $00' tests 0)",
    kinds: VERDICT_KINDS, linkTypes: ['ARCNET', 'ARCNET_LINUX'], expr: /\$[0-9a-f]{1,2}\b/i, constantVerdict: '0',
  },
  {
    name: 'master:ip-multicast-class-d',
    why: "1.10.3's 'ip multicast' is 'ip dst >= 224.0.0.0' (includes 240/4 and broadcast); master tests 224.0.0.0/4 ('and #0xf0; jeq #0xe0'; libpcap PR #1525)",
    kinds: VERDICT_KINDS, expr: /\bip multicast\b/,
    libpcapEquivalent: (expr) => expr.replace(/\bip multicast\b/, '(ip and ip[16] >= 224)'),
  },
  {
    name: 'master:null-both-byte-orders',
    why: "reading a DLT_NULL savefile, 1.10.3 matches the AF_ value in the file's byte order only; master in both (TESTrun link_proto_ip_offline_*), so 1.10.3's optimiser proves 'igmp and not ip' empty and master's cannot",
    kinds: ['libpcap-optimiser-failed'], linkTypes: ['NULL', 'ENC'],
  },
  {
    name: 'master:arcnet-rfc1051-types',
    why: "1.10.3 also matches the RFC 1051 ARCnet types (IP 240, ARP 241) for ip/arp; master only the RFC 1201 ones (libpcap issue #1516; TESTrun link_proto_arp_ARCNET), so master's optimiser proves 'igmp and not ip' empty",
    kinds: ['our-optimiser-failed', ...VERDICT_KINDS], linkTypes: ['ARCNET', 'ARCNET_LINUX'], expr: /\b(ip|arp|igmp|icmp|tcp|udp)\b/,
  },
];

/**
 * The class a disagreement falls in, or undefined when none explains it. `capture` and `compile`
 * are needed for classes that demonstrate libpcap's behaviour by rewriting the expression.
 */
export function classifyDisagreement(row: OracleRow, d: Disagreement, capture: CaptureContents, compile: CompileFilter): DisagreementClass | undefined {
  for (const c of ORACLE_DISAGREEMENT_CLASSES) {
    if (!c.kinds.includes(d.kind)) continue;
    if (c.linkTypes && !c.linkTypes.includes(row.linkTypeName)) continue;
    if (c.expr && !c.expr.test(row.expr)) continue;
    if (c.constantVerdict !== undefined && row.verdicts !== c.constantVerdict.repeat(row.verdicts.length)) continue;
    if (c.libpcapEquivalent) {
      const prog = compile(c.libpcapEquivalent(row.expr), { ...captureCompileOptions(capture.info), optimize: false });
      if (runVerdicts(prog, capture, 'js') !== row.verdicts) continue;
    }
    return c;
  }
  return undefined;
}

/** Reads each capture once. */
export class CaptureCache {
  private readonly cache = new Map<string, CaptureContents>();
  get(path: string): CaptureContents {
    let capture = this.cache.get(path);
    if (!capture) { capture = readCapture(path); this.cache.set(path, capture); }
    return capture;
  }
}
