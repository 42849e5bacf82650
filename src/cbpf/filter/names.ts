/**
 * Name resolution as libpcap does it through the C library: /etc/services, /etc/protocols,
 * /etc/hosts, /etc/ethers, /etc/networks, plus libpcap's own Ethernet-type and LLC SAP names.
 * No DNS: only the local files are read (and cached per process).
 */
import { readFileSync } from 'node:fs';
import { parseIPv4Partial, parseIPv6, parseMac } from './addr.js';

function readLines(path: string): string[][] {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return []; }
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line) out.push(line.split(/\s+/));
  }
  return out;
}

const cache = new Map<string, unknown>();
function cached<T>(key: string, build: () => T): T {
  if (!cache.has(key)) cache.set(key, build());
  return cache.get(key) as T;
}

/**
 * Extra name tables that take precedence over the /etc files (for tests, or a caller that resolves
 * names itself): host -> addresses, host -> MAC, network name -> dotted network number.
 */
export interface NameTables {
  hosts?: Record<string, string[]>;
  ethers?: Record<string, string>;
  networks?: Record<string, string>;
}

const lookup = <T>(table: Record<string, T> | undefined, name: string): T | undefined => {
  if (!table) return undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(table)) if (k.toLowerCase() === lower) return v;
  return undefined;
};

/** Port number of a service name for `proto` ("tcp"/"udp"/"sctp"), or -1. */
export function serviceByName(name: string, proto: string): number {
  const table = cached('services', () => {
    const m = new Map<string, number>();
    for (const f of readLines('/etc/services')) {
      const pp = f[1]?.split('/');
      if (!pp || pp.length !== 2) continue;
      const port = parseInt(pp[0]!, 10);
      for (const n of [f[0]!, ...f.slice(2)]) if (!m.has(`${n}/${pp[1]}`)) m.set(`${n}/${pp[1]}`, port);
    }
    return m;
  });
  return table.get(`${name}/${proto}`) ?? -1;
}

/** IP protocol number of a name from /etc/protocols, or -1. */
export function protocolByName(name: string): number {
  const table = cached('protocols', () => {
    const m = new Map<string, number>();
    for (const f of readLines('/etc/protocols')) {
      const n = parseInt(f[1] ?? '', 10);
      if (Number.isNaN(n)) continue;
      for (const a of [f[0]!, ...f.slice(2)]) if (!m.has(a)) m.set(a, n);
    }
    return m;
  });
  return table.get(name) ?? -1;
}

export interface HostAddrs { v4: number[]; v6: Uint8Array[] }

/** Addresses of a host name from /etc/hosts (case-insensitive, file order), or undefined. */
export function hostByName(name: string, extra?: NameTables): HostAddrs | undefined {
  const given = lookup(extra?.hosts, name);
  if (given) {
    const out: HostAddrs = { v4: [], v6: [] };
    for (const a of given) {
      const v4 = parseIPv4Partial(a);
      if (v4 && v4.bits === 32) out.v4.push(v4.addr);
      else { const v6 = parseIPv6(a); if (v6) out.v6.push(v6); }
    }
    return out;
  }
  const table = cached('hosts', () => {
    const m = new Map<string, HostAddrs>();
    for (const f of readLines('/etc/hosts')) {
      const v4 = parseIPv4Partial(f[0]!);
      const v6 = v4 && v4.bits === 32 ? undefined : parseIPv6(f[0]!);
      for (const n of f.slice(1)) {
        const key = n.toLowerCase();
        const e = m.get(key) ?? { v4: [], v6: [] };
        if (v4 && v4.bits === 32) e.v4.push(v4.addr); else if (v6) e.v6.push(v6);
        m.set(key, e);
      }
    }
    return m;
  });
  return table.get(name.toLowerCase());
}

/** MAC address of a name from /etc/ethers, or undefined. */
export function etherByName(name: string, extra?: NameTables): Uint8Array | undefined {
  const given = lookup(extra?.ethers, name);
  if (given !== undefined) return parseMac(given);
  const table = cached('ethers', () => {
    const m = new Map<string, Uint8Array>();
    for (const f of readLines('/etc/ethers')) {
      const mac = parseMac(f[0]!);
      if (mac && f[1]) m.set(f[1].toLowerCase(), mac);
    }
    return m;
  });
  return table.get(name.toLowerCase());
}

/** Network number of a name from /etc/networks (left-aligned as getnetbyname gives it), or undefined. */
export function networkByName(name: string, extra?: NameTables): number | undefined {
  const given = lookup(extra?.networks, name);
  if (given !== undefined) {
    const a = parseIPv4Partial(given);
    return a ? a.addr : undefined;
  }
  const table = cached('networks', () => {
    const m = new Map<string, number>();
    for (const f of readLines('/etc/networks')) {
      const a = f[1] ? parseIPv4Partial(f[1]) : undefined;
      if (!a) continue;
      // getnetbyname returns the number right-aligned ("10" -> 10, "10.20" -> 0x0a14).
      const v = a.addr;
      for (const n of [f[0]!, ...f.slice(2)]) m.set(n.toLowerCase(), v);
    }
    return m;
  });
  return table.get(name.toLowerCase());
}

/** libpcap's Ethernet type names (nametoaddr.c eproto_db). */
export const ETHER_PROTO_NAMES: Record<string, number> = {
  aarp: 0x80f3, arp: 0x0806, atalk: 0x809b, decnet: 0x6003, ip: 0x0800, ip6: 0x86dd, lat: 0x6004,
  loopback: 0x9000, mopdl: 0x6001, moprc: 0x6002, rarp: 0x8035, sca: 0x6007, lldp: 0x88cc, slow: 0x8809,
};

/** libpcap's LLC SAP names (llc_db). */
export const LLC_PROTO_NAMES: Record<string, number> = { iso: 0xfe, stp: 0x42, ipx: 0xe0, netbeui: 0xf0 };
