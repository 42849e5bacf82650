/**
 * The pcap-filter scanner: longest match wins, and on a tie the earlier rule (keywords before
 * addresses before numbers before names), as flex does for libpcap's scanner.l.
 */
import { FilterSyntaxError } from './errors.js';

export type TokenKind =
  | 'KW' // keyword, `text` is its canonical spelling
  | 'NUM' | 'ID' | 'HID' | 'HID6' | 'EID' | 'AID'
  | 'OP' // punctuation and operators; `text` is the operator
  | 'EOF';

export interface Token {
  kind: TokenKind;
  text: string;
  /** NUM only. */
  value?: number;
  /** 1-based column of the first character. */
  column: number;
}

/** Keyword spellings mapped to their canonical token. */
const KEYWORDS: Record<string, string> = {};
const kw = (canon: string, ...alts: string[]): void => { for (const a of [canon, ...alts]) KEYWORDS[a] = canon; };
kw('dst'); kw('src');
kw('link', 'ether', 'ppp', 'slip', 'fddi', 'tr', 'wlan');
kw('arp'); kw('rarp'); kw('ip'); kw('sctp'); kw('tcp'); kw('udp'); kw('icmp'); kw('igmp'); kw('igrp');
kw('pim'); kw('vrrp'); kw('carp'); kw('radio'); kw('ip6'); kw('icmp6'); kw('ah'); kw('esp');
kw('atalk'); kw('aarp'); kw('decnet'); kw('lat'); kw('sca'); kw('moprc'); kw('mopdl');
kw('iso'); kw('esis', 'es-is'); kw('isis', 'is-is'); kw('l1'); kw('l2'); kw('iih'); kw('lsp'); kw('snp');
kw('csnp'); kw('psnp'); kw('clnp'); kw('stp'); kw('ipx'); kw('netbeui');
kw('host'); kw('net'); kw('mask'); kw('port'); kw('portrange'); kw('proto'); kw('protochain');
kw('gateway'); kw('type'); kw('subtype'); kw('dir', 'direction');
kw('addr1', 'address1'); kw('addr2', 'address2'); kw('addr3', 'address3'); kw('addr4', 'address4');
kw('ra'); kw('ta'); kw('less'); kw('greater'); kw('byte'); kw('broadcast'); kw('multicast');
kw('and'); kw('or'); kw('not'); kw('len', 'length'); kw('inbound'); kw('outbound'); kw('ifindex');
kw('vlan'); kw('mpls'); kw('pppoed'); kw('pppoes'); kw('geneve'); kw('vxlan');
kw('lane'); kw('llc'); kw('metac'); kw('bcc'); kw('oam'); kw('oamf4'); kw('oamf4ec'); kw('oamf4sc');
kw('sc'); kw('ilmic'); kw('vpi'); kw('vci'); kw('connectmsg'); kw('metaconnect');
kw('on', 'ifname'); kw('rnr', 'rulenum'); kw('srnr', 'subrulenum'); kw('reason'); kw('rset', 'ruleset');
kw('action');
kw('fisu'); kw('lssu', 'lsu'); kw('msu'); kw('hfisu'); kw('hlssu'); kw('hmsu');
kw('sio'); kw('opc'); kw('dpc'); kw('sls'); kw('hsio'); kw('hopc'); kw('hdpc'); kw('hsls');

/** Names the scanner turns straight into numbers (header offsets, ICMP types, TCP flags). */
const NAMED_NUMBERS: Record<string, number> = {
  icmptype: 0, icmpcode: 1,
  'icmp-echoreply': 0, 'icmp-unreach': 3, 'icmp-sourcequench': 4, 'icmp-redirect': 5, 'icmp-echo': 8,
  'icmp-routeradvert': 9, 'icmp-routersolicit': 10, 'icmp-timxceed': 11, 'icmp-paramprob': 12,
  'icmp-tstamp': 13, 'icmp-tstampreply': 14, 'icmp-ireq': 15, 'icmp-ireqreply': 16, 'icmp-maskreq': 17,
  'icmp-maskreply': 18,
  icmp6type: 0, icmp6code: 1,
  'icmp6-destinationunreach': 1, 'icmp6-packettoobig': 2, 'icmp6-timeexceeded': 3,
  'icmp6-parameterproblem': 4, 'icmp6-echo': 128, 'icmp6-echoreply': 129,
  'icmp6-multicastlistenerquery': 130, 'icmp6-multicastlistenerreportv1': 131,
  'icmp6-multicastlistenerdone': 132, 'icmp6-routersolicit': 133, 'icmp6-routeradvert': 134,
  'icmp6-neighborsolicit': 135, 'icmp6-neighboradvert': 136, 'icmp6-redirect': 137,
  'icmp6-routerrenum': 138, 'icmp6-nodeinformationquery': 139, 'icmp6-nodeinformationresponse': 140,
  'icmp6-ineighbordiscoverysolicit': 141, 'icmp6-ineighbordiscoveryadvert': 142,
  'icmp6-multicastlistenerreportv2': 143, 'icmp6-homeagentdiscoveryrequest': 144,
  'icmp6-homeagentdiscoveryreply': 145, 'icmp6-mobileprefixsolicit': 146,
  'icmp6-mobileprefixadvert': 147, 'icmp6-certpathsolicit': 148, 'icmp6-certpathadvert': 149,
  'icmp6-multicastrouteradvert': 151, 'icmp6-multicastroutersolicit': 152,
  'icmp6-multicastrouterterm': 153,
  tcpflags: 13, 'tcp-fin': 0x01, 'tcp-syn': 0x02, 'tcp-rst': 0x04, 'tcp-push': 0x08, 'tcp-ack': 0x10,
  'tcp-urg': 0x20, 'tcp-ece': 0x40, 'tcp-cwr': 0x80,
};

const OPERATORS = ['>=', '<=', '!=', '==', '<<', '>>', '&&', '||', '[', ']', '(', ')', '+', '-', '*', '/', '%',
  '&', '|', '^', '<', '>', '=', '!', ':'];

const HEX = '[0-9A-Fa-f]';
const B = `${HEX}${HEX}?`;
const MAC_RES = [
  new RegExp(`${B}:${B}:${B}:${B}:${B}:${B}`, 'y'),
  new RegExp(`${B}-${B}-${B}-${B}-${B}-${B}`, 'y'),
  new RegExp(`${B}\\.${B}\\.${B}\\.${B}\\.${B}\\.${B}`, 'y'),
  new RegExp(`${HEX}{4}\\.${HEX}{4}\\.${HEX}{4}`, 'y'),
  new RegExp(`${HEX}{12}(?![0-9A-Za-z])`, 'y'),
];
const NUM_RE = /(0[xX][0-9A-Fa-f]+|[0-9]+)/y;
const HID_RE = /[0-9]+(\.[0-9]+){1,3}/y;
const V6_RUN_RE = /[0-9A-Fa-f:.]+/y;
const ID_RE = /[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?/y;
const ESC_ID_RE = /\\[^ !()\n\t]+/y;
const AID_RE = /\$[0-9A-Fa-f]{1,2}/y;

function matchLen(re: RegExp, s: string, pos: number): number {
  re.lastIndex = pos;
  const m = re.exec(s);
  return m ? m[0].length : 0;
}

/** Parses a number the way libpcap's stoulen does: 0x hex, leading-0 octal, else decimal. */
export function parseNumber(text: string, column: number): number {
  let v: number;
  if (/^0[xX]/.test(text)) v = parseInt(text.slice(2), 16);
  else if (text.length > 1 && text[0] === '0') {
    if (!/^[0-7]+$/.test(text)) throw new FilterSyntaxError(`number ${text} contains non-octal digit`, column);
    v = parseInt(text, 8);
  } else v = parseInt(text, 10);
  if (!(v <= 0xffffffff)) throw new FilterSyntaxError(`number ${text} overflows 32 bits`, column);
  return v;
}

import { parseIPv6 } from './addr.js';

/** Longest IPv6-literal prefix of the hex/colon/dot run at `pos` (0 when none). */
function v6Len(s: string, pos: number): number {
  const run = matchLen(V6_RUN_RE, s, pos);
  for (let n = run; n >= 2; n--) {
    const t = s.slice(pos, pos + n);
    if (!t.includes(':')) break;
    if (parseIPv6(t) !== undefined) return n;
  }
  return 0;
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  while (pos < src.length) {
    const ch = src[pos]!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') { pos++; continue; }
    const column = pos + 1;
    // Candidate rules in flex order; the longest wins, ties go to the earliest.
    const m: { best: number; kind: TokenKind } = { best: 0, kind: 'ID' };
    const consider = (len: number, k: TokenKind): void => { if (len > m.best) { m.best = len; m.kind = k; } };
    // Words starting with a letter past 'f' can only be names or keywords: skip the address rules.
    const c = ch.charCodeAt(0) | 0x20;
    const nameOnly = c >= 0x67 && c <= 0x7a;
    if (!nameOnly) {
      for (const re of MAC_RES) consider(matchLen(re, src, pos), 'EID');
      consider(matchLen(NUM_RE, src, pos), 'NUM');
      consider(matchLen(HID_RE, src, pos), 'HID');
      consider(v6Len(src, pos), 'HID6');
      consider(matchLen(AID_RE, src, pos), 'AID');
    }
    consider(matchLen(ID_RE, src, pos), 'ID');
    consider(matchLen(ESC_ID_RE, src, pos), 'ID');
    if (m.best > 0) {
      const kind = m.kind;
      const text = src.slice(pos, pos + m.best);
      pos += m.best;
      const k = KEYWORDS[text];
      if (k !== undefined && (kind === 'ID')) { out.push({ kind: 'KW', text: k, column }); continue; }
      if (kind === 'ID' && NAMED_NUMBERS[text] !== undefined) {
        out.push({ kind: 'NUM', text, value: NAMED_NUMBERS[text], column });
        continue;
      }
      if (kind === 'NUM') { out.push({ kind, text, value: parseNumber(text, column), column }); continue; }
      if (kind === 'ID' && text[0] === '\\') { out.push({ kind, text: text.slice(1), column }); continue; }
      out.push({ kind, text, column });
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, pos));
    if (op === undefined) throw new FilterSyntaxError(`illegal character '${ch}'`, column);
    out.push({ kind: 'OP', text: op === '==' ? '=' : op, column });
    pos += op.length;
  }
  out.push({ kind: 'EOF', text: '', column: src.length + 1 });
  return out;
}
