// The one hash mixer (murmur3's word and final mixes), used two ways:
//
// - keyed, for every table an attacker can fill (connections, neighbours, address maps, ICMP
//   budgets): each key word is first multiplied by a per-process secret odd number and offset
//   by another, so input differences that collide in plain murmur do not collide here, and no
//   outsider can aim packets at one bucket (a one-word key takes the final mix alone);
// - stable (a fixed seed), where every process must agree: Maglev and the source hashes, whose
//   tables must be the same on every director behind one VIP.

import { randomInt } from 'node:crypto';

const secretWord = () => randomInt(0, 2 ** 32) >>> 0;
/**
 * Per process, per start: odd multiplier, offset and seed; int32, so V8 holds them as small
 * integers, not doubles (read in a loop, each use is a context load and a small-integer check,
 * off the chain of loads that finds a table).
 */
export const SECRET_MUL = secretWord() | 1;
export const SECRET_ADD = secretWord() | 0;
export const SECRET_SEED = secretWord() | 0;

/** Folds one 32-bit word into a running hash. */
export function mixWord(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * The final avalanche: every output bit depends on every input bit. Signed 32 bits, for a
 * mask or a shift: V8 keeps an int32 in a register, but boxes an unsigned result above 2^31
 * on every return from a call it did not inline (an allocation per lookup).
 */
export function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** avalanche(), unsigned: for arithmetic such as `%`. */
export function finish(h: number): number {
  return avalanche(h) >>> 0;
}

/**
 * A key word with the process secret mixed in (before mixWord). Written for V8, which knows a
 * module variable only as a number: `| 0` hands Math.imul an int32 without a round trip through
 * a double, and the offset goes in by XOR, which stays an int32 where `+` would be a float add
 * and a truncation on every lookup.
 */
export function keyed(w: number): number {
  return Math.imul(w, SECRET_MUL | 0) ^ SECRET_ADD;
}

/** The bucket of one word (an address) in a keyed table of 2^(32 - shift) buckets: the final mix of the word with the secret in it. */
export function keyedBucket1(a: number, shift: number): number {
  return avalanche(keyed(a)) >>> shift;
}

/** The same on every director: for schedulers that must agree across processes. */
export function stableHash2(a: number, b: number): number {
  return finish(mixWord(mixWord(0x3243f6a8, a), b));
}

/** Keyed hash of an IPv6 address (16 bytes at `b[o..]`): unsigned 32 bits. */
export function keyedHash6(b: Uint8Array, o: number): number {
  let h = SECRET_SEED;
  for (let i = 0; i < 16; i += 4) h = mixWord(h, keyed(((b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3]) | 0));
  return finish(h);
}
