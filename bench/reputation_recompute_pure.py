"""Time a full trust recompute over synthetic ratings, and the incremental update of one ratee.

Run: .venv/bin/python -m bench.reputation_recompute_pure [--ratings 1000000] [--seed 1]
Pure Python, no database: the very compute_trust the service runs.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from app.reputation.trust import DEFAULT, Rating, compute_reputation, tally_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730  # ratings spread over two years


def synthetic_ratings(count: int, seed: int) -> list[Rating]:
    """Make a marketplace-shaped rating set: popular vendors, many buyers, both directions rated."""
    rng = random.Random(seed)
    n_vendors, n_buyers = max(count // 500, 10), max(count // 10, 100)
    vendor_weights = [1.0 / (k + 1) ** 0.8 for k in range(n_vendors)]  # a long tail of popularity
    quality = [rng.betavariate(9, 1) for _ in range(n_vendors)]
    created = [NOW - timedelta(days=rng.uniform(0, 5 * 365)) for _ in range(n_vendors + n_buyers)]
    ratings: list[Rating] = []
    while len(ratings) < count:
        vendor = rng.choices(range(n_vendors), vendor_weights, k=256)
        for v in vendor:
            buyer = n_vendors + rng.randrange(n_buyers)
            at = NOW - timedelta(days=rng.uniform(0, SPAN_DAYS))
            amount = int(math.exp(rng.gauss(8.3, 0.8)))
            good = rng.random() < quality[v]
            value = (1 if rng.random() < 0.9 else 0) if good else (-1 if rng.random() < 0.7 else 0)
            ratings.append(Rating(buyer, v, value, amount, at, max(created[buyer], at - timedelta(days=1))))
            ratings.append(Rating(v, buyer, 1, amount, at + timedelta(days=1), created[v]))
    return ratings[:count]


def main() -> None:
    """Time compute_trust on the synthetic set and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    ratings = synthetic_ratings(args.ratings, args.seed)
    made = time.perf_counter() - started
    started = time.perf_counter()
    result = compute_reputation(ratings, NOW, DEFAULT)
    full = time.perf_counter() - started
    busiest = max(result.tallies, key=lambda ratee: result.tallies[ratee].pos)
    own = [r for r in ratings if r.ratee_id == busiest]
    started = time.perf_counter()
    tally = tally_for(busiest, own, result.credibility, NOW)
    rebuilt = time.perf_counter() - started
    newest = Rating(n_first_buyer(ratings), busiest, 1, 5000, NOW, NOW - timedelta(days=400))
    started = time.perf_counter()
    for _ in range(1000):
        tally.add(newest, result.credibility.get(newest.rater_id, 0.0), 1).trust(NOW)
    one_add = (time.perf_counter() - started) / 1000
    trusts = sorted(result.trust.values())
    print(f"ratings                      {len(ratings):>12,}")
    print(f"accounts                     {len(result.trust):>12,}")
    print(f"synthetic data built in      {made:>11.2f} s")
    print(f"full recompute (compute_trust) {full:>9.2f} s   {'PASS' if full < 60 else 'FALL-SHORT'} (target < 60 s)")
    print(f"one ratee rebuilt ({len(own):,} ratings) {rebuilt * 1000:>7.1f} ms")
    print(f"one new rating, O(1) update  {one_add * 1e6:>11.1f} µs")
    print(f"trust quartiles              {trusts[len(trusts) // 4]:.3f} {trusts[len(trusts) // 2]:.3f} "
          f"{trusts[3 * len(trusts) // 4]:.3f}")  # fmt: skip


def n_first_buyer(ratings: list[Rating]) -> int:
    """Return the id of some buyer in the set (the rater of the first buyer→vendor rating)."""
    return ratings[0].rater_id


if __name__ == "__main__":
    main()
