/**
 * The kernel's printf for BPF (bpf_trace_printk, bpf_trace_vprintk, bpf_snprintf): %d %i %u %x %X
 * %c %s %% with l/ll modifiers on integers, flags and width, and the pointer forms %p %px %pK
 * %pI4 %pi4 %pI6 %pi6 %pI6c (printed like %pI6, as the kernel does for BPF) %ps %pks %pus.
 * Arguments arrive as raw 64-bit values; memory is read through the callbacks. Not a hot path, so
 * BigInt is fine here.
 */

export interface FormatMemory {
  /** NUL-terminated string at `address` (at most `max` bytes), or undefined if unreadable. */
  readString(address: bigint, max: number): string | undefined;
  /** `length` bytes at `address`, or undefined if unreadable. */
  readBytes(address: bigint, length: number): Uint8Array | undefined;
}

export class FormatError extends Error {}

const MAX_STRING = 256;

function pad(text: string, flags: string, width: number | undefined, numeric: boolean): string {
  if (width === undefined || text.length >= width) return text;
  if (flags.includes('-')) return text.padEnd(width);
  if (numeric && flags.includes('0')) {
    const sign = /^[+\- ]/.test(text) ? text[0]! : '';
    const prefix = /^[+\- ]?0[xX]/.test(text) ? text.slice(sign.length, sign.length + 2) : '';
    const digits = text.slice(sign.length + prefix.length);
    return sign + prefix + digits.padStart(width - sign.length - prefix.length, '0');
  }
  return text.padStart(width);
}

function formatIp4(bytes: Uint8Array, leadingZeros: boolean): string {
  return [...bytes].map((b) => (leadingZeros ? String(b).padStart(3, '0') : String(b))).join('.');
}

function formatIp6(bytes: Uint8Array, mode: 'full' | 'nocolon'): string {
  if (mode === 'nocolon') return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16).padStart(4, '0'));
  return groups.join(':');
}

/**
 * Format `fmt` with `args`. Throws FormatError for what the kernel rejects (unknown conversion,
 * too few arguments), which helpers turn into -EINVAL.
 */
export function formatBpf(fmt: string, args: readonly bigint[], memory: FormatMemory): string {
  let out = '';
  let next = 0;
  const take = (): bigint => {
    if (next >= args.length) throw new FormatError('not enough arguments for the format');
    return args[next++]!;
  };
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    // The grammar the kernel accepts: flags "-+ 0", a width, l/ll before integer conversions only;
    // no precision, no '#', no h/hh/z, no %o (the verifier rejects those formats).
    const spec = /^%([-+ 0]*)(\d+)?(?:(ll|l)(?=[diuxX]))?([diuxXcsp%])/.exec(fmt.slice(i));
    if (!spec) throw new FormatError(`invalid format at '${fmt.slice(i, i + 4)}'`);
    const [whole, flags = '', widthText, length = '', conv] = spec;
    i += whole.length - 1;
    const width = widthText === undefined ? undefined : Number(widthText);
    if (conv === '%') { out += '%'; continue; }
    if (conv === 'c') { out += pad(String.fromCharCode(Number(take() & 0xffn)), flags, width, false); continue; }
    if (conv === 's') {
      const address = take();
      // An unreadable string prints as nothing, like the kernel's failed copy.
      out += pad(memory.readString(address, MAX_STRING) ?? '', flags, width, false);
      continue;
    }
    if (conv === 'p') {
      const address = take();
      const ext = /^(I4|i4|I6c|I6|i6|ks|us|s|S|K|x|B)/.exec(fmt.slice(i + 1))?.[1];
      if (ext) i += ext.length;
      // Unreadable addresses print as zeros. BPF's printf has no compressed form: %pI6c prints %pI6.
      if (ext === 'I4' || ext === 'i4') {
        out += formatIp4(memory.readBytes(address, 4) ?? new Uint8Array(4), ext === 'i4');
      } else if (ext === 'I6' || ext === 'I6c' || ext === 'i6') {
        out += formatIp6(memory.readBytes(address, 16) ?? new Uint8Array(16), ext === 'i6' ? 'nocolon' : 'full');
      } else if (ext === 'ks' || ext === 'us') {
        out += memory.readString(address, MAX_STRING) ?? '';
      } else {
        out += pad('0x' + BigInt.asUintN(64, address).toString(16), flags, width, true);
      }
      continue;
    }
    // Integers: the length modifier picks the width the argument is read at.
    const raw = take();
    const bits = length ? 64 : 32;
    const signed = conv === 'd' || conv === 'i';
    const value = signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
    let digits: string;
    if (conv === 'x' || conv === 'X') digits = value.toString(16);
    else digits = (value < 0n ? -value : value).toString();
    if (conv === 'X') digits = digits.toUpperCase();
    let text = digits;
    if (signed) text = (value < 0n ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '') + digits;
    out += pad(text, flags, width, true);
  }
  return out;
}
