"""One simulated year: buyers choose vendors by displayed score, outcomes follow hidden quality."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from app.reputation.trust import Rating
from bench._sim import attacks
from bench._sim.scorers import Scorer
from bench._sim.world import Buyer, Vendor, World, buyer_rating, day_time, prehistory, vendor_rating

SNAPSHOT_EVERY = 30  # days between AUC / Kendall tau snapshots


@dataclass
class RunLog:
    """What a run leaves for the metrics."""

    sales: list[tuple[int, int, int]] = field(default_factory=list)  # honest (day, vendor index, amount)
    snapshots: list[list[tuple[int, float, float, int]]] = field(default_factory=list)  # (index, score, q, sales)
    fake_cost: float = 0.0  # what the attacker's fake transactions cost it, minor units
    fake_count: int = 0


class Market:
    """The daily loop of one scenario under one scorer."""

    def __init__(self, world: World, scorer: Scorer, seed: int) -> None:
        self.world, self.scorer, self.config = world, scorer, world.config
        # Separate streams, so that scenarios and scorers draw the same numbers as long as they can.
        self.shop_rng = random.Random(f"{seed}-shop")
        self.taste_rng = random.Random(f"{seed}-taste")
        self.fate_rng = random.Random(f"{seed}-fate")
        self.attack_rng = random.Random(f"{seed}-fake")
        self.pending: dict[int, list[Rating]] = defaultdict(list)
        self.retaliations: dict[int, list[tuple[Buyer, Vendor]]] = defaultdict(list)
        self.is_open = world.scenario == "retaliate_open"  # feedback visible at once: no double-blind
        self.log = RunLog()
        # A buyer's taste: normal noise, drawn from a table because random.gauss is slow in a hot loop.
        table = random.Random(f"{seed}-taste-table")
        self.noise = [table.gauss(0.0, self.config.choice_noise) for _ in range(1 << 16)]
        self.shoppers: dict[int, list[Buyer]] = defaultdict(list)
        for buyer in world.buyers:
            self._plan_next(buyer, buyer.joins - 1)
        for rating in prehistory(world, seed):
            scorer.observe(rating)

    def run(self) -> RunLog:
        """Simulate every day and return the log."""
        config = self.config
        for day in range(config.days):
            now = day_time(day)
            for rating in self.pending.pop(day, []):
                self.scorer.observe(rating)
            for buyer, vendor in self.retaliations.pop(day, []):
                buyer.fear += 1  # bitten once, shy ever after
                vendor.retaliations += 1  # and everyone can see the vendor's record
            self.scorer.refresh(day, now)
            active = [v for v in self.world.vendors if v.joins <= day]
            scores = self.scorer.scores([v.ident for v in active], now)
            if day >= config.attack_start and attacks.act(self, day, active, scores):
                scores = self.scorer.scores([v.ident for v in active], now)
            self._shop(day, active, scores)
            if day >= config.attack_start + SNAPSHOT_EVERY and (day - config.attack_start) % SNAPSHOT_EVERY == 0:
                snap = [(v.index, scores[v.ident], v.quality_on(day), v.ident_sales) for v in active]
                self.log.snapshots.append(snap)
        return self.log

    def _shop(self, day: int, active: list[Vendor], scores: dict[int, float]) -> None:
        """Let each honest buyer who shops today pick the best-looking of a few vendors."""
        shown = percentiles(scores)
        shop, pick, taste = self.shop_rng, self.shop_rng.random, self.taste_rng.getrandbits
        n, k, noise = len(active), self.config.candidates, self.noise
        for buyer in self.shoppers.pop(day, []):
            self._plan_next(buyer, day)
            amount = max(1, int(buyer.median_minor * math.exp(shop.gauss(0.0, 0.5))))
            candidates = [active[int(pick() * n)] for _ in range(k)]  # with replacement: a handful, sometimes fewer
            vendor = max(candidates, key=lambda v: shown[v.ident] + noise[taste(16)])
            self.log.sales.append((day, vendor.index, amount))
            vendor.ident_sales += 1
            self._rate_sale(day, buyer, vendor, amount)

    def _plan_next(self, buyer: Buyer, day: int) -> None:
        """Draw the buyer's next shopping day (a geometric gap at its daily rate)."""
        gap = 1 + int(math.log(1.0 - self.shop_rng.random()) / math.log(1.0 - buyer.rate))
        self.shoppers[day + gap].append(buyer)

    def _rate_sale(self, day: int, buyer: Buyer, vendor: Vendor, amount: int) -> None:
        """Decide the outcome and both sides' feedback, and schedule their reveal."""
        fate, scenario = self.fate_rng, self.world.scenario
        good = fate.random() < vendor.quality_on(day)
        draw = fate.random
        delivered = day + 2 + int(draw() * 5)  # 2–6 days
        buyer_day, buyer_value = delivered + int(draw() * 5), buyer_rating(fate, good)
        vendor_day, vendor_value = day + 1 + int(draw() * 6), vendor_rating(fate, buyer.reliability)
        if self.is_open and buyer_value == -1 and fate.random() < 1.0 - 0.5 ** (buyer.fear + vendor.retaliations / 3):
            buyer_value = None  # bitten before, or warned by the vendor's record: it keeps quiet
        if vendor.is_attacker and scenario == "retaliate_open" and buyer_value == -1:
            vendor_day, vendor_value = buyer_day + 1, -1  # it sees the negative and strikes back
            self.retaliations[vendor_day].append((buyer, vendor))
        elif vendor.is_attacker and scenario == "retaliate_blind":
            vendor_value = -1 if not good else 1  # it cannot see the rating, so it pre-empts the likely one
        born = self.world.born
        by_buyer = (
            None
            if buyer_value is None
            else Rating(buyer.ident, vendor.ident, buyer_value, amount, day_time(buyer_day), born[buyer.ident])
        )
        by_vendor = (
            None
            if vendor_value is None
            else Rating(vendor.ident, buyer.ident, vendor_value, amount, day_time(vendor_day), born[vendor.ident])
        )
        self.schedule(by_buyer, buyer_day, by_vendor, vendor_day, delivered)

    def schedule(self, first: Rating | None, first_day: int, second: Rating | None, second_day: int,
                 delivered: int) -> None:  # fmt: skip
        """Queue a transaction's two ratings for when the feedback rules reveal them."""
        if self.is_open or (first is not None and second is not None):
            both = max(first_day, second_day)  # double-blind: both show once both sides rated
            if first is not None:
                self.pending[first_day if self.is_open else both].append(first)
            if second is not None:
                self.pending[second_day if self.is_open else both].append(second)
            return
        closes = delivered + self.config.window_days  # a lone rating shows when the window closes
        if first is not None:
            self.pending[max(first_day, closes)].append(first)
        if second is not None:
            self.pending[max(second_day, closes)].append(second)


def percentiles(scores: dict[int, float]) -> dict[int, float]:
    """Map each score to its percentile rank in [0, 1]; ties share their mean rank."""
    ordered = sorted(scores.values())
    n = len(ordered)
    if n < 2:
        return dict.fromkeys(scores, 0.5)
    first: dict[float, int] = {}
    last: dict[float, int] = {}
    for position, value in enumerate(ordered):
        first.setdefault(value, position)
        last[value] = position
    return {ident: (first[s] + last[s]) / 2 / (n - 1) for ident, s in scores.items()}
