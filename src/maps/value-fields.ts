import { copyBytes } from './bytes.js';
import type { MapSpec } from './spec.js';

/**
 * Map value copies that step around the value's special fields (bpf_spin_lock, bpf_timer ...), as
 * the kernel's copy_map_value does: an update, from user space or from a program, leaves the lock
 * word and timer alone, and the copy BPF_MAP_LOOKUP_ELEM returns has them zeroed
 * (check_and_init_map_value). Values without special fields take the plain copies.
 */
export class ValueLayout {
  /** Flat [start, end) pairs of the bytes a copy carries; undefined when the whole value is copied. */
  private readonly spans: readonly number[] | undefined;
  /** Flat [offset, size] pairs of the special fields. */
  private readonly fields: readonly number[];
  readonly hasSpinLock: boolean;
  /** No special fields: copies take the whole value. */
  readonly plain: boolean;

  constructor(spec: MapSpec) {
    const fields = [...(spec.valueFields ?? [])].filter((f) => f.offset < spec.valueSize).sort((a, b) => a.offset - b.offset);
    this.hasSpinLock = fields.some((f) => f.kind === 'spin_lock');
    this.fields = fields.flatMap((f) => [f.offset, Math.min(f.size, spec.valueSize - f.offset)]);
    this.plain = fields.length === 0;
    if (fields.length === 0) {
      this.spans = undefined;
      return;
    }
    const spans: number[] = [];
    let at = 0;
    for (const f of fields) {
      if (f.offset > at) spans.push(at, f.offset);
      at = Math.max(at, f.offset + f.size);
    }
    if (at < spec.valueSize) spans.push(at, spec.valueSize);
    this.spans = spans;
  }

  /** Program side: the `size`-byte value at `from` into the value at `to`, in the memory `view` and `u8` cover. */
  copy(view: DataView, u8: Uint8Array, to: number, from: number, size: number): void {
    const spans = this.spans;
    if (spans === undefined) {
      copyBytes(view, u8, to, from, size);
      return;
    }
    for (let i = 0; i < spans.length; i += 2) copyBytes(view, u8, to + spans[i]!, from + spans[i]!, spans[i + 1]! - spans[i]!);
  }

  /** User side: `value` (one value's bytes) into the value at `to` in `u8`. */
  write(u8: Uint8Array, to: number, value: Uint8Array): void {
    const spans = this.spans;
    if (spans === undefined) {
      u8.set(value, to);
      return;
    }
    for (let i = 0; i < spans.length; i += 2) u8.set(value.subarray(spans[i]!, spans[i + 1]!), to + spans[i]!);
  }

  /** Zeroes the special fields of the value at `at` in `copy` (a copy handed to user space). */
  clearFields(copy: Uint8Array, at = 0): Uint8Array {
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) copy.fill(0, at + fields[i]!, at + fields[i]! + fields[i + 1]!);
    return copy;
  }
}
