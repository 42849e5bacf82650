/**
 * Reusable memory for the static passes' temporaries. Typed arrays allocated afresh for every
 * program cost more (allocation, zeroing, collection) than the passes that fill them; these are
 * views into one buffer, zeroed on hand-out. A view stays valid until the next `resetScratch()`
 * (buildCfg calls it first), so nothing that outlives buildCfg may come from here.
 */
const INITIAL_BYTES = 1 << 16;
/** A buffer grown past this for a big program is let go afterwards, not kept for good. */
const KEEP_BYTES = 1 << 22;
let buffer = new ArrayBuffer(INITIAL_BYTES);
let used = 0;

export function resetScratch(): void {
  used = 0;
  if (buffer.byteLength > KEEP_BYTES) buffer = new ArrayBuffer(INITIAL_BYTES);
}

function take(bytes: number): number {
  const at = used;
  used += (bytes + 7) & ~7;
  if (used > buffer.byteLength) {
    // Views already handed out keep the old buffer alive; later ones come from a bigger one.
    buffer = new ArrayBuffer(Math.max(used * 2, buffer.byteLength * 2));
    used = (bytes + 7) & ~7;
    return 0;
  }
  return at;
}

export function scratchInt32(length: number): Int32Array {
  const at = take(4 * length);
  const view = new Int32Array(buffer, at, length);
  view.fill(0);
  return view;
}

export function scratchUint8(length: number): Uint8Array {
  const at = take(length);
  const view = new Uint8Array(buffer, at, length);
  view.fill(0);
  return view;
}
