// What the ingress keeps of the orders and signers it saw: the order cache (src/cache.rs) and the
// entity scores that give each order its priority (src/entity.rs).

/** mini-moka with a time-to-live, as OrderCache (src/cache.rs) builds it. */
export class OrderCache {
  private readonly entries = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  constructor(private readonly ttlMs: number) {}

  contains(hash: string): boolean {
    const expires = this.entries.get(hash);
    const live = expires !== undefined && expires > Date.now();
    if (!live) this.entries.delete(hash);
    if (live) this.hits++;
    else this.misses++;
    return live;
  }

  insert(hash: string): void {
    this.entries.set(hash, Date.now() + this.ttlMs);
  }

  get hitRatio(): number {
    const total = this.hits + this.misses;
    return total === 0 ? 0 : this.hits / total;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** B256::sample(10): the first 8 bytes, big-endian, divisible by 10. */
export const sampled = (hash: Buffer) => hash.readBigUInt64BE(0) % 10n === 0n;

interface EntityScore {
  requests: number;
  invalid: number;
}

/** src/entity.rs: scores per 4 s bucket over 60 s, and the priority they give. */
export class Entities {
  private readonly data = new Map<string, { buckets: Map<number, EntityScore>; requests: number[] }>();
  private readonly start = Date.now();

  constructor(
    private readonly lookbackMs: number,
    private readonly bucketMs: number,
    private readonly rateLookbackMs: number,
  ) {}

  private entity(signer: string) {
    let e = this.data.get(signer);
    if (!e) {
      e = { buckets: new Map(), requests: [] };
      this.data.set(signer, e);
    }
    return e;
  }

  private cleanup(buckets: Map<number, EntityScore>): void {
    const oldest = Date.now() - this.lookbackMs;
    for (const at of buckets.keys()) {
      if (at < oldest) buckets.delete(at);
    }
  }

  score(signer: string): EntityScore {
    const { buckets } = this.entity(signer);
    this.cleanup(buckets);
    const at = this.start + Math.floor((Date.now() - this.start) / this.bucketMs) * this.bucketMs;
    let score = buckets.get(at);
    if (!score) {
      score = { requests: 0, invalid: 0 };
      buckets.set(at, score);
    }
    return score;
  }

  /** Entity::priority with the default SpamThresholds (high 6, medium 3). */
  priority(signer: string, isReplacement: boolean, isNonRevertible: boolean, hasBlobs: boolean): Priority {
    if (hasBlobs) return "low";
    const { buckets } = this.entity(signer);
    this.cleanup(buckets);
    const scores = [...buckets.values()].map((s) => {
      const requestPenalty = Math.min(Math.log10(s.requests), 3);
      const invalidPenalty = Math.min((s.requests > 0 ? s.invalid / s.requests : 0) * 5, 5);
      return requestPenalty + invalidPenalty;
    });
    const score = scores.reduce((a, b) => a + b, 0) / scores.length;
    if ((score < 3 && isReplacement) || isNonRevertible) return "high";
    if (6 > score && score < 3) return "medium";
    return "low";
  }

  /** The optional rate limit: requests of the signer within the lookback. */
  overLimit(signer: string, limit: number): boolean {
    const e = this.entity(signer);
    const now = Date.now();
    e.requests = e.requests.filter((t) => t > now - this.rateLookbackMs);
    if (e.requests.length > limit) return true;
    e.requests.push(now);
    return false;
  }

  maintain(): { before: number; after: number } {
    const before = this.data.size;
    for (const [signer, e] of this.data) {
      this.cleanup(e.buckets);
      if (e.requests.length === 0 && e.buckets.size === 0) this.data.delete(signer);
    }
    return { before, after: this.data.size };
  }
}

export type Priority = "high" | "medium" | "low";
