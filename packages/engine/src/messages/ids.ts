import { randomBytes } from 'node:crypto';

/** Random identifiers from a pooled CSPRNG buffer (one syscall per 4 KiB, not per id). */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

/** RFC 3261 §8.1.1.7: the branch "MUST always begin with the characters z9hG4bK". */
export const BRANCH_MAGIC = 'z9hG4bK';

export function newBranch(): string {
  return BRANCH_MAGIC + randomHex(10);
}

/** §19.3: tags need at least 32 bits of randomness; we use 64. */
export function newTag(): string {
  return randomHex(8);
}

export function newCallId(): string {
  return randomHex(16);
}
