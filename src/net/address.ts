import { TsbpfError } from '../errors.js';

/** Text forms of addresses to bytes and back (IPv4 dotted quad, IPv6 with `::`, MAC `aa:bb:..`). */

export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new TsbpfError('net/bad-address', `bad IPv4 address '${text}'`);
  }
  return Uint8Array.from(parts.map(Number));
}

export function parseIPv6(text: string): Uint8Array {
  const bad = (): never => { throw new TsbpfError('net/bad-address', `bad IPv6 address '${text}'`); };
  let tailV4: Uint8Array | undefined;
  let body = text;
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIPv4(body.slice(lastColon + 1));
    body = body.slice(0, lastColon + 1) + '0:0';
  }
  const halves = body.split('::');
  if (halves.length > 2) bad();
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : bad())));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || (halves.length === 2 && missing < 1)) bad();
  const words = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:.-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new TsbpfError('net/bad-address', `bad MAC address '${text}'`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatIPv4(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text: lower case, longest run of two or more zero groups as `::`. */
export function formatIPv6(b: Uint8Array, at = 0): string {
  const words = Array.from({ length: 8 }, (_, i) => (b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

export function formatMac(b: Uint8Array, at = 0): string {
  return Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}
