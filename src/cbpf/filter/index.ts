/**
 * tcpdump/libpcap's filter compiler: `compileFilter('tcp port 80', { linkType: 'EN10MB' })`.
 * The unoptimised output is libpcap's `-O` output instruction for instruction; `optimize` (the
 * default) runs the optimiser over the CFG first.
 */
import type { CbpfInstruction } from '../opcodes.js';
import type { Cfg } from './cfg.js';
import { Generator } from './gencode.js';
import { Parser } from './parser.js';
import { emitCfg } from './emit.js';
import { resolveLinkType } from './linktype.js';
import { optimize as optimizeCfg } from './optimize.js';
import { FilterError } from './errors.js';
import type { NameTables } from './names.js';

export type { NameTables } from './names.js';

export { FilterError, FilterSyntaxError } from './errors.js';
export { resolveLinkType, DLT } from './linktype.js';
export { emitCfg } from './emit.js';

export interface CompileOptions {
  /** DLT number or tcpdump name (`EN10MB`, `RAW`, ...). Default EN10MB. */
  linkType?: number | string;
  /** Run the optimiser (default true). */
  optimize?: boolean;
  /** Returned by accepting `ret`; default 262144 like tcpdump. */
  snaplen?: number;
  /** IPv4 netmask for `ip broadcast` (host order number); unknown when absent. */
  netmask?: number;
  /** Allow Linux-only extensions (inbound/outbound/ifindex via SKF_AD) on any link type. */
  linuxExtensions?: boolean;
  /** Host, MAC and network names to use before /etc/hosts, /etc/ethers, /etc/networks. */
  names?: NameTables;
  /**
   * Compile for a savefile instead of a live capture, as libpcap does when the pcap_t reads a file:
   * 'swapped' when the file's byte order differs from this host's. Affects DLT_NULL/LOOP/ENC/PFLOG.
   */
  offline?: 'swapped' | 'unswapped';
  /**
   * Leave unoptimised what libpcap leaves unoptimised (`protochain`, `geneve`), for output
   * byte-identical with libpcap's. By default tsbpf optimises those too.
   */
  libpcapOptimizerChoice?: boolean;
}

/**
 * Off until the optimiser keeps the tunnel-offset stores a later block reads: with geneve's TEB test
 * as real blocks, `geneve and arp` optimised drops the `st M[0]` that its `ldx M[0]` needs (the
 * classic checker reports the read before any write; test/cbpf/filter-apply-tunnels.test.ts fails
 * on it). Turned on, it saves 77 of 755 optimised instructions over 12 geneve filters.
 */
const SHAPE_FOR_OPTIMIZER = false;

/** Parses and generates the CFG (before any optimisation). */
export function compileFilterToCfg(expr: string, opts: CompileOptions = {}): Cfg {
  return generate(expr, opts).cfg;
}

function generate(expr: string, opts: CompileOptions): { cfg: Cfg; beyondLibpcap: boolean } {
  const snaplen = opts.snaplen ?? 262144;
  if (snaplen === 0) throw new FilterError('snaplen of 0 rejects all packets');
  const g = new Generator();
  g.names = opts.names;
  g.offline = opts.offline;
  g.shapeForOptimizer = SHAPE_FOR_OPTIMIZER && (opts.optimize ?? true) && !(opts.libpcapOptimizerChoice ?? false);
  g.init(resolveLinkType(opts.linkType), snaplen, opts.netmask, opts.linuxExtensions ?? false);
  const body = new Parser(expr, g).parse();
  const root = g.finish(body);
  const libpcapChoice = opts.libpcapOptimizerChoice ?? false;
  const noOptimize = g.noOptimize || (g.libpcapSkipsOptimizer && libpcapChoice);
  return {
    cfg: { root, scratchUsed: g.regsUsedCount, noOptimize: noOptimize || undefined },
    beyondLibpcap: g.libpcapSkipsOptimizer && !libpcapChoice,
  };
}

export function compileFilter(expr: string, opts: CompileOptions = {}): CbpfInstruction[] {
  let { cfg, beyondLibpcap } = generate(expr, opts);
  if ((opts.optimize ?? true) && !cfg.noOptimize) {
    cfg = optimizeCfg(cfg);
    const r = cfg.root;
    // libpcap reports a filter its optimiser proves empty; where libpcap does not optimise, it
    // compiles, so the proven-empty program (`ret #0`) is the answer.
    if (!beyondLibpcap && r.jt === undefined && r.jf === undefined && r.stmts.length === 0 && r.branch.code === 0x06 && r.branch.k === 0) {
      throw new FilterError('expression rejects all packets');
    }
  }
  return emitCfg(cfg);
}
