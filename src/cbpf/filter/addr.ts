/** Address literals of the filter language: IPv4 (possibly partial), IPv6, 48-bit MAC. */

/** `a.b.c.d`, `a.b.c`, `a.b`, `a`: the value left-aligned as libpcap's __pcap_atoin does, and its bit length. */
export function parseIPv4Partial(text: string): { addr: number; bits: number } | undefined {
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  let addr = 0;
  for (const p of parts) {
    if (!/^[0-9]+$/.test(p)) return undefined;
    const n = parseInt(p, 10);
    if (n > 255) return undefined;
    addr = ((addr << 8) | n) >>> 0;
  }
  return { addr, bits: parts.length * 8 };
}

/** A full dotted quad as a 32-bit number, or undefined. */
export function parseIPv4(text: string): number | undefined {
  const r = parseIPv4Partial(text);
  return r && r.bits === 32 ? r.addr : undefined;
}

/** RFC 4291 text form to 16 bytes, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const dbl = text.indexOf('::');
  if (dbl !== text.lastIndexOf('::')) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  let words: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const tail = parseGroups(text.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    words = all;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => { bytes[2 * i] = w >> 8; bytes[2 * i + 1] = w & 0xff; });
  return bytes;
}

/** `aa:bb:cc:dd:ee:ff`, `aa-bb-..`, `aa.bb...`, `aabb.ccdd.eeff` to 6 bytes, or undefined. */
export function parseMac(text: string): Uint8Array | undefined {
  let parts: string[];
  if (/^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/.test(text)) {
    const h = text.replace(/\./g, '');
    parts = [0, 2, 4, 6, 8, 10].map((i) => h.slice(i, i + 2));
  } else if (/^[0-9A-Fa-f]{12}$/.test(text)) {
    parts = [0, 2, 4, 6, 8, 10].map((i) => text.slice(i, i + 2));
  } else {
    parts = text.split(/[:.-]/);
  }
  if (parts.length !== 6 || !parts.every((p) => /^[0-9A-Fa-f]{1,2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
