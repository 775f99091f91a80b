"""The four scorers compared: eBay percent positive, plain mean, plain beta, Buyswarm trust."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.reputation.trust import (
    DEFAULT,
    Rating,
    TrustParams,
    TrustTally,
    compute_reputation,
    fresh_credibility,
)


class Scorer(Protocol):
    """What the market needs from a scorer: see ratings, show scores."""

    name: str
    fresh: float  # what a vendor account with no feedback shows, as of the last scores() call

    def observe(self, rating: Rating) -> None:
        """Take one revealed rating into account."""

    def refresh(self, day: int, now: datetime) -> None:
        """Do the day's periodic work (a full recompute for the trust model)."""

    def scores(self, idents: list[int], now: datetime) -> dict[int, float]:
        """Return the displayed score of each vendor account."""


class _Counting:
    """Shared bookkeeping of the naive scorers: counts per ratee, updated as ratings arrive."""

    name = "counting"

    def __init__(self) -> None:
        self.pos: dict[int, int] = {}
        self.neu: dict[int, int] = {}
        self.neg: dict[int, int] = {}
        self.fresh = 0.5

    def observe(self, rating: Rating) -> None:
        """Count one revealed rating."""
        counts = self.pos if rating.value > 0 else self.neg if rating.value < 0 else self.neu
        counts[rating.ratee_id] = counts.get(rating.ratee_id, 0) + 1

    def refresh(self, day: int, now: datetime) -> None:
        """Nothing to do: counts are always current."""


class EbayPercent(_Counting):
    """eBay's percent positive: positives / (positives + negatives); the whole year is in its 12 months."""

    name = "ebay_pct"

    def scores(self, idents: list[int], now: datetime) -> dict[int, float]:
        """Return percent positive (as a fraction); an unrated account shows the market's mean."""
        shown: dict[int, float] = {}
        for ident in idents:
            pos, neg = self.pos.get(ident, 0), self.neg.get(ident, 0)
            if pos + neg:
                shown[ident] = pos / (pos + neg)
        # A buyer facing "no feedback yet" can only expect the average vendor.
        self.fresh = sum(shown.values()) / len(shown) if shown else 0.5
        return {ident: shown.get(ident, self.fresh) for ident in idents}


class PlainMean(_Counting):
    """The mean rating on a 0–1 scale (negative 0, neutral 1/2, positive 1)."""

    name = "mean"

    def scores(self, idents: list[int], now: datetime) -> dict[int, float]:
        """Return the mean rating; an unrated account shows the market's mean."""
        shown: dict[int, float] = {}
        for ident in idents:
            pos, neu, neg = self.pos.get(ident, 0), self.neu.get(ident, 0), self.neg.get(ident, 0)
            if pos + neu + neg:
                shown[ident] = (pos + neu / 2) / (pos + neu + neg)
        self.fresh = sum(shown.values()) / len(shown) if shown else 0.5
        return {ident: shown.get(ident, self.fresh) for ident in idents}


class PlainBeta(_Counting):
    """The plain beta reputation: (positives + 1) / (positives + negatives + 2), no weights, no decay."""

    name = "beta"

    def scores(self, idents: list[int], now: datetime) -> dict[int, float]:
        """Return the beta posterior mean of each account."""
        return {i: (self.pos.get(i, 0) + 1) / (self.pos.get(i, 0) + self.neg.get(i, 0) + 2) for i in idents}


class BuyswarmTrust:
    """app.reputation.trust as the service runs it: incremental updates, periodic full recompute."""

    name = "buyswarm"

    def __init__(self, full_every: int, params: TrustParams = DEFAULT) -> None:
        self.params, self.full_every = params, full_every
        self.fresh = params.prior_mean
        self.ratings: list[Rating] = []
        self.tallies: dict[int, TrustTally] = {}
        self.credibility: dict[int, float] = {}
        self.ranks: dict[tuple[int, int], int] = {}

    def observe(self, rating: Rating) -> None:
        """Store the rating and update its ratee's tally in O(1) with cached credibility."""
        self.ratings.append(rating)
        pair = (rating.rater_id, rating.ratee_id)
        self.ranks[pair] = rank = self.ranks.get(pair, 0) + 1
        credibility = self.credibility.get(rating.rater_id)
        if credibility is None:
            credibility = fresh_credibility(rating.amount_minor, self.params)
        tally = self.tallies.get(rating.ratee_id) or TrustTally(rating.created_at)
        self.tallies[rating.ratee_id] = tally.add(rating, credibility, rank, self.params)

    def refresh(self, day: int, now: datetime) -> None:
        """Every `full_every` days, recompute everything from all ratings (as a nightly job would)."""
        if day % self.full_every == 0 and self.ratings:
            result = compute_reputation(self.ratings, now, self.params)
            self.tallies, self.credibility = result.tallies, result.credibility

    def scores(self, idents: list[int], now: datetime) -> dict[int, float]:
        """Return each account's trust; an unrated one has the prior."""
        prior = self.params.prior_mean
        return {i: self.tallies[i].trust(now, self.params) if i in self.tallies else prior for i in idents}


def make_scorer(name: str, full_every: int, params: TrustParams = DEFAULT) -> Scorer:
    """Return a fresh scorer by name."""
    naive: dict[str, type[EbayPercent | PlainMean | PlainBeta]] = {
        "ebay_pct": EbayPercent, "mean": PlainMean, "beta": PlainBeta}  # fmt: skip
    return BuyswarmTrust(full_every, params) if name == "buyswarm" else naive[name]()


SCORERS = ("ebay_pct", "mean", "beta", "buyswarm")
