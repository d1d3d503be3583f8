import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * A set of configured secrets (API tokens, write keys) that answers membership in time independent of
 * the candidate: both sides are hashed to 32 bytes, so lengths leak nothing, and every secret is
 * compared, so the position of a match leaks nothing either.
 */
export class SecretSet {
  private readonly digests: readonly Buffer[];

  constructor(secrets: Iterable<string>) {
    this.digests = [...new Set(secrets)].map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  has(candidate: string): boolean {
    const d = digest(candidate);
    let found = false;
    for (const secret of this.digests) found = timingSafeEqual(secret, d) || found;
    return found;
  }
}
