"""Trust model: a time-decayed, credibility-weighted Bayesian beta score in [0, 1].

Pure logic (no database, no clock: `now` is an argument), so the service and the benchmarks run
this very code. docs/trust-model.md gives the formula and explains every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import NamedTuple

from app.money import PRICE_STEP

_DAY = 86400.0  # seconds
_LN2 = math.log(2.0)
NO_SCORES: Mapping[str, int] = MappingProxyType({})
REPUTATION_PRICE_WEIGHT = Decimal("0.10")  # k in price × (1 + k·(1 − trust))


class Rating(NamedTuple):
    """One revealed feedback, reduced to what the reputation model needs."""

    rater_id: int
    ratee_id: int
    value: int  # +1 positive, 0 neutral, -1 negative
    amount_minor: int  # the transaction's value in minor units
    created_at: datetime  # aware UTC
    rater_created_at: datetime  # when the rater's account was created, aware UTC
    scores: Mapping[str, int] = NO_SCORES  # detailed 1–5 scores by criterion


@dataclass(frozen=True)
class TrustParams:
    """Parameters of the trust model; docs/trust-model.md explains each one."""

    prior_mean: float = 0.1  # m0: the trust of an account nobody has rated (low: whitewashing must not pay)
    prior_strength: float = 2.0  # s0: pseudo-ratings behind the prior
    half_life_days: float = 180.0  # h: long-run evidence halves every h days
    recent_half_life_days: float = 7.0  # hr: the recent view that catches a vendor turning bad
    recent_prior_strength: float = 10.0  # sr: pseudo-ratings pulling the recent view to the long one
    recent_margin: float = 0.05  # d: the recent view lowers trust only by how far it is more than d below
    negative_weight: float = 3.0  # k-: one negative counts as this many positives
    recent_negative_weight: float = 8.0  # kr: the same in the recent view, where a burst of them is news
    value_ref_minor: int = 1000  # a0: a transaction of a0 minor units weighs 1/2
    value_steepness: float = 3.0  # gamma: value weight a^gamma / (a^gamma + a0^gamma)
    age_scale_days: float = 30.0  # tau: a rater's account age factor is 1 − e^(−age/tau)
    history_scale: float = 3.0  # H0: value-weighted distinct counterparties for 63 % credibility
    trust_floor: float = 0.5  # g0: a rater's own trust t scales its credibility by g0 + (1 − g0)·t

    def __post_init__(self) -> None:
        if not 0.0 < self.prior_mean < 1.0:
            raise ValueError("prior_mean must lie strictly between 0 and 1")
        scales = (self.prior_strength, self.half_life_days, self.recent_half_life_days, self.recent_prior_strength,
                  self.negative_weight, self.recent_negative_weight, self.value_ref_minor, self.value_steepness,
                  self.age_scale_days, self.history_scale)  # fmt: skip
        if min(scales) <= 0:
            raise ValueError("trust parameters other than prior_mean and trust_floor must be positive")
        if not 0.0 <= self.recent_margin < 1.0:
            raise ValueError("recent_margin must lie in [0, 1)")
        if not 0.0 <= self.trust_floor <= 1.0:
            raise ValueError("trust_floor must lie in [0, 1]")


DEFAULT = TrustParams()


def value_weight(amount_minor: int, params: TrustParams = DEFAULT) -> float:
    """Return how much a transaction's value lets its rating count, in [0, 1)."""
    # Steeper than linear well below a0, so that weight bought with tiny purchases costs more per
    # unit of money than with ordinary ones; flat above a0, so that a big spender is no bigger voice.
    if amount_minor <= 0:
        return 0.0
    return 1.0 / (1.0 + (params.value_ref_minor / amount_minor) ** params.value_steepness)


def fresh_credibility(amount_minor: int, params: TrustParams = DEFAULT) -> float:
    """Return the credibility of a rater whose only counterparty is the ratee, met once."""
    own_trust = params.trust_floor + (1.0 - params.trust_floor) * params.prior_mean
    return -math.expm1(-value_weight(amount_minor, params) / params.history_scale) * own_trust


def _static_weight(rating: Rating, rank: int, params: TrustParams) -> float:
    """Weight a rating by value, rater age and repetition, before credibility and decay."""
    age_days = max((rating.created_at - rating.rater_created_at).total_seconds() / _DAY, 0.0)
    age = -math.expm1(-age_days / params.age_scale_days)
    # A rater's n ratings of one ratee add up to sqrt(n) ratings: repeats say less than new voices.
    return age * value_weight(rating.amount_minor, params) * (math.sqrt(rank) - math.sqrt(rank - 1))


def _split(value: int, params: TrustParams) -> tuple[float, float]:
    """Return the (positive, negative) evidence of one unit of rating weight."""
    if value > 0:
        return 1.0, 0.0
    if value < 0:
        return 0.0, params.negative_weight
    return 0.5, 0.5


def _beta_trust(pos: float, neg: float, recent_pos: float, recent_neg: float, params: TrustParams) -> float:
    """Combine long-run and recent evidence: bad news counts at once, good news slowly."""
    # The recent view pulls trust down only by how far it falls more than the margin below the long
    # run: the odd unlucky week of an honest vendor is noise, a burst of (heavier) negatives is news.
    strength = params.prior_strength
    long_run = (params.prior_mean * strength + pos) / (strength + pos + neg)
    recent_strength = params.recent_prior_strength
    recent = (long_run * recent_strength + recent_pos) / (recent_strength + recent_pos + recent_neg)
    return min(long_run, recent + params.recent_margin)


@dataclass(frozen=True, slots=True)
class TrustTally:
    """Decayed evidence about one ratee as of `as_of`; a new rating updates it in O(1)."""

    as_of: datetime
    pos: float = 0.0  # long-run positive evidence at as_of
    neg: float = 0.0  # long-run negative evidence at as_of
    recent_pos: float = 0.0  # the same on the recent half-life
    recent_neg: float = 0.0

    def at(self, when: datetime, params: TrustParams = DEFAULT) -> TrustTally:
        """Return this tally decayed to `when`."""
        days = (when - self.as_of).total_seconds() / _DAY
        decay, recent = 0.5 ** (days / params.half_life_days), 0.5 ** (days / params.recent_half_life_days)
        return TrustTally(when, self.pos * decay, self.neg * decay, self.recent_pos * recent, self.recent_neg * recent)

    def add(self, rating: Rating, credibility: float, rank: int, params: TrustParams = DEFAULT) -> TrustTally:
        """Return this tally with one more rating, the rater's `rank`-th (1, 2, …) of this ratee."""
        base = self if rating.created_at <= self.as_of else self.at(rating.created_at, params)
        days = (base.as_of - rating.created_at).total_seconds() / _DAY
        weight = min(max(credibility, 0.0), 1.0) * _static_weight(rating, rank, params)
        pos, neg = _split(rating.value, params)
        recent_neg = neg * params.recent_negative_weight / params.negative_weight  # kr instead of k-
        decay, recent = 0.5 ** (days / params.half_life_days), 0.5 ** (days / params.recent_half_life_days)
        return TrustTally(base.as_of, base.pos + weight * pos * decay, base.neg + weight * neg * decay,
                          base.recent_pos + weight * pos * recent,
                          base.recent_neg + weight * recent_neg * recent)  # fmt: skip

    def trust(self, now: datetime, params: TrustParams = DEFAULT) -> float:
        """Return the trust in [0, 1] that this evidence gives at `now`."""
        t = self.at(now, params)
        return _beta_trust(t.pos, t.neg, t.recent_pos, t.recent_neg, params)


@dataclass(frozen=True)
class TrustResult:
    """A full recompute: trust per account, each rater's credibility, and per-ratee tallies."""

    trust: dict[int, float]
    credibility: dict[int, float]
    tallies: dict[int, TrustTally]


# Per rater, per ratee: decayed positive, negative, recent positive and recent negative static
# evidence, then the largest value weight of a transaction between them.
_Evidence = dict[int, dict[int, list[float]]]


def _order(rating: Rating) -> tuple[datetime, int, datetime, int]:
    # Ties on time break on anything but the value, so that changing a value never reorders repeats.
    return rating.created_at, rating.amount_minor, rating.rater_created_at, rating.value


def _group(ratings: Iterable[Rating], now: datetime) -> dict[int, dict[int, list[Rating]]]:
    """Group the ratings that count (not self-ratings, not future ones) by rater, then ratee."""
    groups: dict[int, dict[int, list[Rating]]] = {}
    for r in ratings:
        if r[0] != r[1] and r[4] <= now:
            by_ratee = groups.get(r[0])
            if by_ratee is None:
                groups[r[0]] = {r[1]: [r]}
            elif (group := by_ratee.get(r[1])) is None:
                by_ratee[r[1]] = [r]
            else:
                group.append(r)
    return groups


def _pair_evidence(ratings: Iterable[Rating], now: datetime, params: TrustParams) -> _Evidence:
    """Aggregate the static, decayed evidence of every rating by (rater, ratee) pair."""
    lam, lam_recent = _LN2 / (params.half_life_days * _DAY), _LN2 / (params.recent_half_life_days * _DAY)
    tau, ref, negative = params.age_scale_days * _DAY, params.value_ref_minor, params.negative_weight
    recent_negative = params.recent_negative_weight
    steep, exp, expm1, sqrt = params.value_steepness, math.exp, math.expm1, math.sqrt
    evidence: _Evidence = {}
    for rater, by_ratee in _group(ratings, now).items():
        evidence[rater] = out = {}
        for ratee, group in by_ratee.items():  # this loop inlines _static_weight and _split: the hot path
            if len(group) > 1:
                group.sort(key=_order)  # oldest first, so that repeats get their sqrt(n) share
            acc = [0.0, 0.0, 0.0, 0.0, 0.0]
            for rank, (_, _, value, amount, created_at, rater_created_at, _) in enumerate(group, 1):
                worth = 1.0 / (1.0 + (ref / amount) ** steep) if amount > 0 else 0.0
                if worth > acc[4]:
                    acc[4] = worth
                age = (created_at - rater_created_at).total_seconds()
                weight = -expm1(-age / tau) * worth if age > 0 else 0.0
                if rank > 1:
                    weight *= sqrt(rank) - sqrt(rank - 1)
                seconds = (now - created_at).total_seconds()
                decay, recent = weight * exp(-lam * seconds), weight * exp(-lam_recent * seconds)
                if value > 0:
                    acc[0] += decay
                    acc[2] += recent
                elif value < 0:
                    acc[1] += negative * decay
                    acc[3] += recent_negative * recent
                else:
                    acc[0] += decay / 2
                    acc[1] += decay / 2
                    acc[2] += recent / 2
                    acc[3] += recent_negative / negative * recent / 2
            out[ratee] = acc
    return evidence


def _partners(evidence: _Evidence) -> dict[int, dict[int, float]]:
    """Map each account to its counterparties and the largest value weight it traded with each."""
    partners: dict[int, dict[int, float]] = {rater: {} for rater in evidence}
    for rater, by_ratee in evidence.items():
        mine = partners[rater]
        for ratee, acc in by_ratee.items():
            worth = acc[4]
            if worth >= mine.get(ratee, 0.0):
                mine[ratee] = worth
            theirs = partners.get(ratee)
            if theirs is None:
                partners[ratee] = {rater: worth}
            elif worth >= theirs.get(rater, 0.0):
                theirs[rater] = worth
    return partners


def _structural_credibility(partners: dict[int, dict[int, float]], params: TrustParams) -> dict[int, float]:
    """Return history × (1 − insularity) per account: broad, costly trade counts, rings do not."""
    closed = dict.fromkeys(partners, 0.0)
    for i, mine in partners.items():
        if len(mine) < 2:
            continue  # an account with one counterparty closes no triangle
        keys = mine.keys()
        for j, weight in mine.items():
            theirs = partners[j]
            if j <= i or len(theirs) < 2 or keys.isdisjoint(theirs.keys()):
                continue
            # Share of the busier side's other counterparties that both have: near 1 in a ring,
            # near 0 for a buyer and a vendor who each trade with the wider market.
            shared = weight * len(keys & theirs.keys()) / (max(len(mine), len(theirs)) - 1)
            closed[i] += shared
            closed[j] += shared
    base = {}
    for i, mine in partners.items():
        history = sum(mine.values())
        insularity = closed[i] / history if history > 0 else 0.0
        base[i] = -math.expm1(-history / params.history_scale) * (1.0 - insularity)
    return base


def _tallies(evidence: _Evidence, credibility: Mapping[int, float] | None, now: datetime) -> dict[int, TrustTally]:
    """Sum each ratee's evidence, every pair weighted by its rater's credibility (1 when None)."""
    sums: dict[int, list[float]] = {}
    for rater, by_ratee in evidence.items():
        c = 1.0 if credibility is None else credibility[rater]
        for ratee, acc in by_ratee.items():
            s = sums.get(ratee)
            if s is None:
                sums[ratee] = [c * acc[0], c * acc[1], c * acc[2], c * acc[3]]
            else:
                s[0] += c * acc[0]
                s[1] += c * acc[1]
                s[2] += c * acc[2]
                s[3] += c * acc[3]
    return {ratee: TrustTally(now, *s) for ratee, s in sums.items()}


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")


def compute_reputation(ratings: Iterable[Rating], now: datetime, params: TrustParams = DEFAULT) -> TrustResult:
    """Recompute every account's trust, credibility and tally from all ratings."""
    _require_aware(now)
    pairs = _pair_evidence(ratings, now, params)
    partners = _partners(pairs)
    base = _structural_credibility(partners, params)
    # Raters' own trust comes from a first pass without credibility, so that a ratee's trust never
    # feeds back into the weight of its own raters (this keeps trust monotone in its ratings).
    first = _tallies(pairs, None, now)
    prior = params.prior_mean
    floor = params.trust_floor
    own = {i: first[i].trust(now, params) if i in first else prior for i in partners}
    credibility = {i: base[i] * (floor + (1.0 - floor) * own[i]) for i in partners}
    tallies = _tallies(pairs, credibility, now)
    trust = {i: tallies[i].trust(now, params) if i in tallies else prior for i in partners}
    return TrustResult(trust, credibility, tallies)


def compute_trust(ratings: Iterable[Rating], now: datetime, params: TrustParams = DEFAULT) -> dict[int, float]:
    """Return the trust in [0, 1] of every account that appears in `ratings`."""
    return compute_reputation(ratings, now, params).trust


def tally_for(
    ratee_id: int,
    ratings: Iterable[Rating],
    rater_credibility: Mapping[int, float],
    now: datetime,
    params: TrustParams = DEFAULT,
) -> TrustTally:
    """Build one ratee's tally from its ratings and the raters' cached credibility."""
    _require_aware(now)
    rows = sorted((r for r in ratings if r.ratee_id == ratee_id != r.rater_id and r.created_at <= now), key=_order)
    tally, ranks = TrustTally(now), dict[int, int]()
    for r in rows:
        ranks[r.rater_id] = rank = ranks.get(r.rater_id, 0) + 1
        credibility = rater_credibility.get(r.rater_id)
        if credibility is None:  # a rater the last full recompute has not seen yet
            credibility = fresh_credibility(r.amount_minor, params)
        tally = tally.add(r, credibility, rank, params)
    return tally


def trust_for(
    ratee_id: int,
    ratings: Iterable[Rating],
    rater_credibility: Mapping[int, float],
    now: datetime,
    params: TrustParams = DEFAULT,
) -> float:
    """Return one ratee's trust from its ratings and cached rater credibility, without a full recompute."""
    return tally_for(ratee_id, ratings, rater_credibility, now, params).trust(now, params)


def reputation_adjusted_price(unit_price: Decimal, trust: float, weight: Decimal = REPUTATION_PRICE_WEIGHT) -> Decimal:
    """Return unit_price × (1 + weight·(1 − trust)), to 4 places, for price_and_reputation awards."""
    if not 0.0 <= trust <= 1.0:  # also refuses NaN
        raise ValueError("trust must lie in [0, 1]")
    if unit_price < 0:
        raise ValueError("unit_price must not be negative")
    exact_trust = Decimal(trust).quantize(PRICE_STEP, ROUND_HALF_EVEN)
    factor = 1 + weight * (1 - exact_trust)
    return (unit_price * factor).quantize(PRICE_STEP, ROUND_HALF_EVEN)
