"""Metrics of one run (AUC, Kendall tau, spending shares, detection time) and their statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench._sim.market import RunLog
from bench._sim.world import World

MIN_SALES_FOR_TAU = 10
QUARTER_WINDOW = 7  # days of sales averaged when judging that sales fell to a quarter
# Two-sided 95 % Student t quantiles by degrees of freedom; 1.96 beyond the table.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


@dataclass(frozen=True)
class Metrics:
    """The figures of one scenario under one scorer."""

    auc: float  # good vs bad vendors by displayed score, mean over monthly snapshots
    tau: float  # Kendall tau-b of score vs true quality, vendors with >= 10 sales
    bad_spend: float  # share of honest buyers' spending that went to bad vendors
    scam_share: float  # share of honest spending that went to the attacker's vendors while bad
    attacker_revenue: float  # honest spending at the attacker's vendors, minor units
    fake_cost: float  # what the fake transactions cost the attacker, minor units
    days_to_quarter: float  # turned-bad vendors: days until sales fall to 1/4 (nan elsewhere)


def auc(scores: Sequence[float], good: Sequence[bool]) -> float:
    """Return the probability that a random good vendor outscores a random bad one (ties count 1/2)."""
    ranked = sorted(zip(scores, good, strict=True))
    rank_sum, position, n_good = 0.0, 0, sum(good)
    while position < len(ranked):
        end = position
        while end < len(ranked) and ranked[end][0] == ranked[position][0]:
            end += 1
        mean_rank = (position + 1 + end) / 2  # ties share their mean rank
        rank_sum += mean_rank * sum(1 for _, g in ranked[position:end] if g)
        position = end
    n_bad = len(ranked) - n_good
    if not n_good or not n_bad:
        return math.nan
    return (rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad)


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Return Kendall's tau-b (O(n²): a few hundred vendors)."""
    concordant = discordant = ties_x = ties_y = 0
    n = len(xs)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def measure(world: World, log: RunLog) -> Metrics:
    """Compute the metrics of one finished run."""
    config = world.config
    aucs, taus = [], []
    for snapshot in log.snapshots:
        aucs.append(auc([s for _, s, _, _ in snapshot], [q >= config.good_quality for _, _, q, _ in snapshot]))
        sold = [(s, q) for _, s, q, n in snapshot if n >= MIN_SALES_FOR_TAU]
        taus.append(kendall_tau([s for s, _ in sold], [q for _, q in sold]))
    total = bad = scam = attacker = 0.0
    for day, index, amount in log.sales:
        if day < config.attack_start:
            continue
        vendor = world.vendors[index]
        is_bad = vendor.quality_on(day) < config.good_quality
        total += amount
        bad += amount if is_bad else 0
        scam += amount if is_bad and vendor.is_attacker else 0
        attacker += amount if vendor.is_attacker else 0
    return Metrics(_mean(aucs), _mean(taus), bad / total, scam / total, attacker, log.fake_cost,
                   _days_to_quarter(world, log))  # fmt: skip


def _days_to_quarter(world: World, log: RunLog) -> float:
    """Return days from turning bad until the turned vendors' daily sales average 1/4 of before."""
    turned = {v.index: v.turn_day for v in world.vendors if v.turn_day is not None}
    if not turned:
        return math.nan
    by_offset: dict[int, int] = {}
    for day, index, _ in log.sales:
        turn_day = turned.get(index)
        if turn_day is not None:
            by_offset[day - turn_day] = by_offset.get(day - turn_day, 0) + 1
    before = sum(by_offset.get(k, 0) for k in range(-28, 0)) / 28
    horizon = world.config.days - max(turned.values()) - QUARTER_WINDOW
    for k in range(horizon):
        after = sum(by_offset.get(k + d, 0) for d in range(QUARTER_WINDOW)) / QUARTER_WINDOW
        if after <= before / 4:
            return float(k)
    return math.inf


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with the half-width of its 95 % confidence interval."""

    mean: float
    half_width: float

    def __format__(self, spec: str) -> str:
        text = format(self.mean, spec)
        return text if math.isnan(self.half_width) else f"{text}±{format(self.half_width, spec)}"


def estimate(values: Sequence[float]) -> Estimate:
    """Return the mean and 95 % CI half-width (Student t) of per-seed values."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return Estimate(math.nan, math.nan)
    mean = sum(kept) / len(kept)
    if len(kept) < 2 or any(math.isinf(v) for v in kept):
        return Estimate(mean, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1))
    dof = len(kept) - 1
    t = _T95[max(d for d in _T95 if d <= dof)] if dof <= max(_T95) else 1.96  # the next smaller table row
    return Estimate(mean, t * sd / math.sqrt(len(kept)))
