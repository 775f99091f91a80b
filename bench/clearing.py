"""Time clear() and clear_split() on synthetic pools: n commitments against many bids of many tiers.

Run: .venv/bin/python bench/clearing.py [--sizes 1000,10000,100000] [--bids 500] [--tiers 10]
(or python -m bench.clearing). Pure Python, no database: the very clear() the pools service runs.
Figures drift between machines, so each is also given as a multiple of a raw baseline measured
in the same run: one Python pass summing the n commitments' quantities.

Scenarios (seeded): each commitment is a demand curve of 1 to 5 points (uniformly), the first
for 1..20 units at a maximum spread (normal, sd 6 %) around the bids' prices, each next point 1..6
units more at a maximum 1-4 % lower (--flat: one point each, as in round 1); each bid's tier
starts are random fractions of the pool's total demand and its price falls 0.5-2 % per tier;
the pool's min_quantity is 10 % of the demand.
  mixed             capacities 0.3-1.5x the demand: about half the bids bind on capacity
  capacity-binding  capacities 0.2-0.6x the demand: every bid binds, so fills are walked
  worst case        every bid binds with a distinct capacity and tiers starting just below
                    it, so the bounds never settle a tier and every bid needs its own fill

Each scenario prints the single rule (clear(): one winner) and then the split rule (clear_split():
several winners at one uniform price) on the same inputs, with the candidate prices the split
actually filled ("examined") out of the distinct tier prices. Target: split under 2 s at n=100,000.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from app.bids import clearing
from app.bids.clearing import Demand, Offer, Tier, clear
from app.bids.rules import fingerprint
from app.bids.split import clear_split
from app.pools.curves import Point, quantity_at

BASE_PRICE = 100  # a unit price of 100.00 in the pool's currency
CENT = Decimal("0.01")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Pool:
    """One synthetic pool: its commitments (in join order), bids and tipping point."""

    demands: list[Demand]
    offers: list[Offer]
    min_quantity: int


def make_demands(n: int, rng: random.Random, flat: bool = False) -> list[Demand]:
    """Make n commitments in join order, as the pools service loads them."""
    demands = []
    for cid in range(1, n + 1):
        price = Decimal(rng.gauss(0.97, 0.06) * BASE_PRICE).quantize(CENT)
        joined = START + timedelta(seconds=7 * cid)
        points = [Point(rng.randint(1, 20), price)]
        for _ in range(0 if flat else rng.randrange(5)):
            lower = (points[-1].max_unit_price * Decimal(1 - rng.uniform(0.01, 0.04))).quantize(CENT)
            if lower >= points[-1].max_unit_price or lower <= 0:
                break
            points.append(Point(points[-1].quantity + rng.randint(1, 6), lower))
        *smaller, last = points
        demands.append(
            Demand(cid, rng.randrange(1, n + 1), last.quantity, last.max_unit_price, (joined, cid), tuple(smaller))
        )
    return demands


def make_curve(total: int, tiers: int, rng: random.Random) -> tuple[Tier, ...]:
    """Make a falling price curve whose tiers start at random fractions of the demand."""
    starts = sorted(rng.sample(range(1, 1000), tiers))
    price = Decimal(rng.uniform(0.95, 1.12) * BASE_PRICE).quantize(CENT)
    curve = []
    for start in starts:
        curve.append(Tier(max(1, total * start // 1000), price))
        price = (price * Decimal(1 - rng.uniform(0.005, 0.02))).quantize(CENT)
    return tuple(curve)


def make_offer(bid_id: int, curve: tuple[Tier, ...], capacity: int) -> Offer:
    """Make a bid placed bid_id seconds after the start."""
    return Offer(bid_id, bid_id, curve, capacity, (START + timedelta(seconds=bid_id), bid_id))


def make_pool(scenario: str, n: int, bids: int, tiers: int, seed: int, flat: bool = False) -> Pool:
    """Make the pool of a scenario: same commitments for every scenario at a given n and seed."""
    rng = random.Random(seed)
    demands = make_demands(n, rng, flat)
    total = sum(d.quantity for d in demands)
    offers = []
    for bid_id in range(1, bids + 1):
        curve = make_curve(total, tiers, rng)
        if scenario == "mixed":
            offers.append(make_offer(bid_id, curve, int(total * rng.uniform(0.3, 1.5))))
        elif scenario == "capacity-binding":
            offers.append(make_offer(bid_id, curve, int(total * rng.uniform(0.2, 0.6))))
        elif scenario == "worst case":
            capacity = total // 2 + bid_id  # distinct, so no two bids share a cached fill
            steep = tuple(Tier(capacity - tiers + k, t.unit_price) for k, t in enumerate(curve))
            offers.append(make_offer(bid_id, steep, capacity))
        else:
            raise SystemExit(f"unknown scenario {scenario!r}; see --help")
    return Pool(demands, offers, total // 10)


def award(pool: Pool) -> Callable[[], object]:
    """Return a call of clear() on the pool, ready to time."""
    return partial(clear, pool.demands, pool.offers, min_quantity=pool.min_quantity)


def sum_quantities(demands: list[Demand]) -> int:
    """Sum the quantities: the raw one-pass baseline."""
    return sum(d.quantity for d in demands)


def best_time(action: Callable[[], object], repeat: int) -> float:
    """Return the best wall time of repeat runs of action, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def count_fills(pool: Pool) -> int:
    """Count the first-fit walks one clear() makes (diagnostic: wraps a private method)."""
    original = clearing.DemandBook.fill
    calls = 0

    def counting(book: clearing.DemandBook, *args: object, **kwargs: object) -> int:
        nonlocal calls
        calls += 1
        return original(book, *args, **kwargs)  # type: ignore[arg-type]

    clearing.DemandBook.fill = counting  # type: ignore[method-assign,assignment]
    try:
        clear(pool.demands, pool.offers, min_quantity=pool.min_quantity)
    finally:
        clearing.DemandBook.fill = original  # type: ignore[method-assign]
    return calls - 1  # the winner's served list is built by one more walk


def run_scenario(scenario: str, args: argparse.Namespace) -> None:
    """Print one scenario's table: n, seconds, multiple of the baseline, normalised growth."""
    print(f"\n{scenario}: {args.bids} bids x {args.tiers} tiers, best of {args.repeat}")
    print(f"{'n':>8} {'seconds':>9} {'x pass':>8} {'s/(n log n)':>12} {'fills':>6}  winner")
    rows: list[tuple[int, float]] = []
    for n in args.sizes:
        pool = make_pool(scenario, n, args.bids, args.tiers, args.seed, args.flat)
        outcome = clear(pool.demands, pool.offers, min_quantity=pool.min_quantity)
        seconds = best_time(award(pool), args.repeat)
        baseline = best_time(partial(sum_quantities, pool.demands), args.repeat)
        rows.append((n, seconds))
        scaled = seconds / (n * math.log2(n)) / (rows[0][1] / (rows[0][0] * math.log2(rows[0][0])))
        won = (
            "none"
            if outcome is None
            else f"bid {outcome.bid_id}, {outcome.served_quantity} units at {outcome.unit_price}"
        )
        print(f"{n:>8} {seconds:>9.3f} {seconds / baseline:>8.0f} {scaled:>12.2f} {count_fills(pool):>6}  {won}")
    print(growth_note(rows))


def run_split(scenario: str, args: argparse.Namespace) -> None:
    """Print the split rule's table for one scenario, beside the single rule on the same pools."""
    print(f"{scenario}, split: best of {args.repeat}")
    print(f"{'n':>8} {'seconds':>9} {'x pass':>8} {'s/(n log n)':>12} {'examined':>13}  award (single rule's served)")
    rows: list[tuple[int, float]] = []
    for n in args.sizes:
        pool = make_pool(scenario, n, args.bids, args.tiers, args.seed, args.flat)
        single = clear(pool.demands, pool.offers, min_quantity=pool.min_quantity)
        outcome = clear_split(pool.demands, pool.offers, min_quantity=pool.min_quantity)
        seconds = best_time(
            partial(clear_split, pool.demands, pool.offers, min_quantity=pool.min_quantity), args.repeat
        )
        baseline = best_time(partial(sum_quantities, pool.demands), args.repeat)
        rows.append((n, seconds))
        scaled = seconds / (n * math.log2(n)) / (rows[0][1] / (rows[0][0] * math.log2(rows[0][0])))
        prices = len({tier.unit_price for offer in pool.offers for tier in offer.tiers})
        examined = f"{outcome.examined if outcome else 0} of {prices}"
        won = (
            "none"
            if outcome is None
            else f"{len(outcome.winners)} winners, {outcome.served_quantity} units at {outcome.unit_price}"
        )
        alone = "none" if single is None else f"{single.served_quantity}"
        print(f"{n:>8} {seconds:>9.3f} {seconds / baseline:>8.0f} {scaled:>12.2f} {examined:>13}  {won} ({alone})")
    print(growth_note(rows))


def growth_note(rows: list[tuple[int, float]]) -> str:
    """Describe how time grew between the two largest sizes against n and n log n."""
    if len(rows) < 2:
        return "growth: one size only"
    (n1, t1), (n2, t2) = rows[-2], rows[-1]
    n_log_n = (n2 * math.log2(n2)) / (n1 * math.log2(n1))
    exponent = math.log(t2 / t1) / math.log(n2 / n1)
    return (
        f"growth {n1:,} -> {n2:,}: time x{t2 / t1:.1f} for n x{n2 / n1:.0f} "
        f"(n log n predicts x{n_log_n:.1f}; fitted exponent {exponent:.2f})"
    )


def naive_clear_seconds(pool: Pool) -> float:
    """Time the naive clearing: walk every commitment for every bid and tier."""
    started = time.perf_counter()
    for offer in pool.offers:
        for tier in offer.tiers:
            left = offer.capacity
            for d in pool.demands:
                taking = quantity_at(d.points, tier.unit_price)
                if taking and taking <= left:
                    left -= taking
    return time.perf_counter() - started


def seconds_per_fill(pool: Pool, seed: int, count: int = 200) -> float:
    """Time one capacity-binding first-fit fill at random thresholds (diagnostic: private API)."""
    book = clearing.DemandBook(pool.demands)
    total = sum(d.quantity for d in pool.demands)
    rng = random.Random(seed)
    queries = [(rng.randrange(len(book.prices) // 2), rng.randrange(total // 10, total // 2)) for _ in range(count)]
    started = time.perf_counter()
    for rank, capacity in queries:
        book.fill(rank, capacity)
    return (time.perf_counter() - started) / count


def run_extras(args: argparse.Namespace) -> None:
    """Print the naive comparison, the shuffled-input figure and the fingerprint's cost."""
    small, large = min(args.sizes), max(args.sizes)
    pool = make_pool("mixed", small, args.bids, args.tiers, args.seed, args.flat)
    naive = naive_clear_seconds(pool)
    fast = best_time(award(pool), args.repeat)
    print(f"\nnaive walk at n={small:,}: {naive:.2f} s, {naive / fast:.0f}x clear(); it grows with n,")
    print(f"  so at n={large:,} it would take about {naive * large / small:.0f} s")
    pool = make_pool("mixed", large, args.bids, args.tiers, args.seed, args.flat)
    mixed = list(pool.demands)
    random.Random(args.seed).shuffle(mixed)
    seconds = best_time(lambda: clear(mixed, pool.offers, min_quantity=pool.min_quantity), args.repeat)
    print(f"mixed, n={large:,}, commitments in random order (one more sort): {seconds:.3f} s")
    seconds = best_time(lambda: fingerprint(pool.demands, pool.offers, pool.min_quantity), 1)
    print(f"fingerprint of the n={large:,} pool: {seconds:.3f} s")
    fill = seconds_per_fill(pool, args.seed)
    worst = fill * args.bids * args.tiers
    print(f"one capacity-binding fill at n={large:,}: {fill * 1000:.2f} ms; if every bid x tier needed its own")
    print(f"  fill (no scenario above comes close), that would add {worst:.2f} s to the clearing")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 10_000, 100_000],
        help="comma-separated commitment counts (default 1000,10000,100000)",
    )
    parser.add_argument("--bids", type=int, default=500, help="bids per pool (default 500)")
    parser.add_argument("--tiers", type=int, default=10, help="tiers per bid (default 10)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the best counts (default 3)")
    parser.add_argument(
        "--scenarios", default="mixed,capacity-binding,worst case", help="comma-separated scenarios to run"
    )
    parser.add_argument("--flat", action="store_true", help="one-point commitments (round 1's demand)")
    parser.add_argument("--no-extras", action="store_true", help="skip the naive, shuffled and fingerprint figures")
    return parser.parse_args()


def main() -> None:
    """Run the scenarios and print their tables."""
    args = parse_args()
    for scenario in args.scenarios.split(","):
        run_scenario(scenario.strip(), args)
        run_split(scenario.strip(), args)
    if not args.no_extras:
        run_extras(args)


if __name__ == "__main__":
    main()
