/**
 * Small copies inside the address space. TypedArray copyWithin/fill cost a fixed ~15 ns per call over
 * a WebAssembly memory, more than moving a map value or a packet header a word at a time, which the
 * per-packet helpers do; long runs still go to the builtins.
 */

const WORD_LOOP_MAX = 64;

/** memmove(to, from, length) in the memory `view` covers (`u8` over the same buffer). */
export function copyBytes(view: DataView, u8: Uint8Array, to: number, from: number, length: number): void {
  // A forward word loop is wrong only when the destination overlaps the source from above.
  if (length > WORD_LOOP_MAX || (to > from && to < from + length)) {
    u8.copyWithin(to, from, from + length);
    return;
  }
  let i = 0;
  for (; i + 4 <= length; i += 4) view.setUint32(to + i, view.getUint32(from + i, true), true);
  for (; i < length; i++) view.setUint8(to + i, view.getUint8(from + i));
}

/** memset(to, 0, length). */
export function zeroBytes(view: DataView, u8: Uint8Array, to: number, length: number): void {
  if (length > WORD_LOOP_MAX) {
    u8.fill(0, to, to + length);
    return;
  }
  let i = 0;
  for (; i + 4 <= length; i += 4) view.setUint32(to + i, 0, true);
  for (; i < length; i++) view.setUint8(to + i, 0);
}
