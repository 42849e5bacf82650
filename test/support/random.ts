/**
 * Deterministic xorshift32 for tests and fuzzers, so a failure reproduces from its seed. `random`
 * gives floats in [0, 1); `randomU32` the raw 32-bit words.
 */
export function randomU32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

export function random(seed: number): () => number {
  const next = randomU32(seed);
  return () => next() / 0x100000000;
}
