"""Reading and refreshing cached reputation. No Flask here.

Scores count revealed feedback only: hidden (double-blind) feedback must not move a score, or the
score's change would reveal it. What runs when (docs/trust-model.md, "In production"):
- a newly revealed feedback is added to its ratee's stored tally and summary in O(1) (`add_revealed`);
- a revised feedback rereads its ratee's history (`refresh`): a tally cannot take a rating back;
- every night the scheduler's `recompute-reputation` job (and `flask --app wsgi reputation recompute`)
  rebuilds every score from all revealed feedback (`recompute_all`): raters' credibility, which
  needs the whole graph, the tallies, and the summaries' 1-, 6- and 12-month periods.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import Select, Text, cast, delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from app.accounts.models import User, VendorProfile
from app.accounts.vendors import identity_roots
from app.clubs.service import lock_user
from app.reputation import rules
from app.reputation import trust as model
from app.reputation.models import Feedback, ReputationScore


def trust_of(session: Session, user_id: int) -> float:
    """The user's trust (its identity's: linked accounts share one); an account nobody has rated yet
    has the model's prior."""
    return trusts_of(session, [user_id])[user_id]


def trusts_of(session: Session, user_ids: Iterable[int]) -> dict[int, float]:
    """Trust of several users, each its identity's (app.accounts.vendors), in two queries."""
    roots = identity_roots(session, user_ids)
    query = select(ReputationScore.user_id, ReputationScore.trust)
    found = dict(session.execute(query.where(ReputationScore.user_id.in_(set(roots.values())))).all())
    return {user_id: found.get(root, model.DEFAULT.prior_mean) for user_id, root in roots.items()}


def price_factors(session: Session, vendor_ids: Iterable[int]) -> dict[int, Decimal]:
    """For price_and_reputation awards: what each vendor's price is multiplied by when bids are compared."""
    return {
        vendor_id: model.reputation_adjusted_price(Decimal(1), trust)
        for vendor_id, trust in trusts_of(session, vendor_ids).items()
    }


def ratings_query(ratee_ids: Sequence[int] | None = None) -> Select:  # type: ignore[type-arg]
    """Revealed feedback as rows for the trust model, optionally for some ratees.

    Scores come as JSON text: identical texts repeat a lot, so they are decoded once each (see
    _scores); raters' account ages are looked up once per rater, not joined into every row.
    """
    # A vendor linked to an earlier account by its payout identity is rated as that identity.
    ratee = func.coalesce(VendorProfile.identity_root_id, Feedback.ratee_id)
    query = (
        select(
            Feedback.rater_id,
            ratee,
            Feedback.rating,
            Feedback.amount_minor,
            Feedback.created_at,
            cast(Feedback.scores, Text),
        )
        .outerjoin(VendorProfile, VendorProfile.user_id == Feedback.ratee_id)
        .where(Feedback.revealed_at.is_not(None), Feedback.removed_at.is_(None))  # removed: an upheld flag
    )
    if ratee_ids is not None:
        query = query.where(ratee.in_(ratee_ids))
    return query


@lru_cache(maxsize=4096)
def _scores(text: str | None) -> Mapping[str, int]:
    """Decoded detailed scores, shared read-only between ratings with the same text."""
    return MappingProxyType(json.loads(text)) if text else model.NO_SCORES


def account_ages(session: Session, user_ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """When each user's account was created (all users, or the given ones)."""
    query = select(User.id, User.created_at)
    if user_ids is not None:
        query = query.where(User.id.in_(set(user_ids)))
    return {user_id: created_at for user_id, created_at in session.execute(query)}


def as_ratings(rows: Iterable[Any], created: Mapping[int, datetime]) -> list[model.Rating]:
    """Rows of ratings_query() as the trust model's records."""
    return [
        model.Rating(rater_id, ratee_id, value, amount, at, created[rater_id], _scores(scores))
        for rater_id, ratee_id, value, amount, at, scores in rows
    ]


def refresh(session: Session, user_ids: Iterable[int], *, now: datetime) -> None:
    """Recompute a few users' scores (their identities') from their revealed feedback, not a full recompute."""
    ids = sorted(set(identity_roots(session, user_ids).values()))
    rows = session.execute(ratings_query(ids)).all()
    raters = {row[0] for row in rows}
    ratings: dict[int, list[model.Rating]] = {user_id: [] for user_id in ids}
    for rating in as_ratings(rows, account_ages(session, raters)):
        ratings[rating.ratee_id].append(rating)
    query = select(ReputationScore.user_id, ReputationScore.credibility).where(ReputationScore.user_id.in_(raters))
    credibility = {user_id: value for user_id, value in session.execute(query) if value is not None}
    for user_id in ids:
        tally = model.tally_for(user_id, ratings[user_id], credibility, now)
        summary = rules.ebay_summary(ratings[user_id], now)
        store(session, user_id, tally.trust(now), None, summary, now, keep_credibility=True, tally=tally)


def add_revealed(session: Session, feedback: Sequence[Feedback], *, now: datetime) -> None:
    """Add newly revealed feedback to its ratees' scores in O(1) each, from their stored tallies.

    A ratee without a tally yet (never scored, or scored before tallies existed) is refreshed from
    its history once. Each ratee's row lock serialises two reveals for the same ratee. A rater's
    repeat counts by the ratings of this ratee revealed before it (the nightly recompute orders
    repeats by when they were written).
    """
    roots = identity_roots(session, {item.ratee_id for item in feedback})
    by_ratee: dict[int, list[Feedback]] = {}
    for item in sorted(feedback, key=lambda f: (f.created_at, f.id)):
        by_ratee.setdefault(roots[item.ratee_id], []).append(item)
    raters = {item.rater_id for item in feedback}
    created = account_ages(session, raters)
    query = select(ReputationScore.user_id, ReputationScore.credibility).where(ReputationScore.user_id.in_(raters))
    credibility = {user_id: value for user_id, value in session.execute(query) if value is not None}
    between = _revealed_between(session, {(item.rater_id, item.ratee_id) for item in feedback})
    for ratee_id in sorted(by_ratee):
        lock_user(session, ratee_id)
        row = session.get(ReputationScore, ratee_id, populate_existing=True)
        if row is None or row.tally_as_of is None:
            refresh(session, [ratee_id], now=now)
            continue
        tally = model.TrustTally(
            row.tally_as_of, row.tally_pos, row.tally_neg, row.tally_recent_pos, row.tally_recent_neg
        )
        summary = rules.EbaySummary(row.feedback_score, row.percent_positive_12m, row.counts, row.detailed)
        for item in by_ratee[ratee_id]:
            rating = model.Rating(item.rater_id, ratee_id, item.rating, item.amount_minor, item.created_at,
                                  created[item.rater_id], MappingProxyType(item.scores or {}))  # fmt: skip
            earlier = [
                value for at, value in between[(item.rater_id, item.ratee_id)] if at < (item.created_at, item.id)
            ]
            if item.rater_id not in (ratee_id, item.ratee_id) and item.created_at <= now:
                weight = credibility.get(item.rater_id, model.fresh_credibility(item.amount_minor))
                tally = tally.add(rating, weight, len(earlier) + 1)
            summary = rules.with_rating(summary, rating, now, rater_net_before=sum(earlier))
        store(session, ratee_id, tally.trust(now), None, summary, now, keep_credibility=True, tally=tally)


def _revealed_between(session: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[Any, int]]]:
    """Each (rater, ratee) pair's revealed ratings, as ((created_at, id), rating), in one query for the batch.

    A rater rates one ratee once per pool, so a pair rarely has more than a few.
    """
    found: dict[tuple[int, int], list[tuple[Any, int]]] = {pair: [] for pair in pairs}
    query = select(Feedback.rater_id, Feedback.ratee_id, Feedback.created_at, Feedback.id, Feedback.rating).where(
        tuple_(Feedback.rater_id, Feedback.ratee_id).in_(sorted(pairs)),
        Feedback.revealed_at.is_not(None),
        Feedback.removed_at.is_(None),
    )
    for rater_id, ratee_id, created_at, feedback_id, rating in session.execute(query):
        found[(rater_id, ratee_id)].append(((created_at, feedback_id), rating))
    return found


def store(
    session: Session,
    user_id: int,
    trust: float,
    credibility: float | None,
    summary: object,
    now: datetime,
    *,
    keep_credibility: bool = False,
    tally: model.TrustTally | None = None,
) -> ReputationScore:
    """Write one user's cached scores (and the trust model's tally behind them, when given)."""
    row = session.get(ReputationScore, user_id) or ReputationScore(user_id=user_id)
    if row not in session:
        session.add(row)
    row.trust = trust
    if not keep_credibility or row.credibility is None:
        row.credibility = credibility
    row.feedback_score = summary.feedback_score  # type: ignore[attr-defined]
    row.percent_positive_12m = summary.percent_positive_12m  # type: ignore[attr-defined]
    row.counts = summary.counts  # type: ignore[attr-defined]
    row.detailed = summary.detailed  # type: ignore[attr-defined]
    row.computed_at = now
    if tally is not None:
        row.tally_as_of, row.tally_pos, row.tally_neg = tally.as_of, tally.pos, tally.neg
        row.tally_recent_pos, row.tally_recent_neg = tally.recent_pos, tally.recent_neg
    return row


def recompute_all(session: Session, *, now: datetime, batch: int = 5000) -> int:
    """Recompute every user's scores from all revealed feedback (the nightly job; after model changes).

    Trust needs the whole graph (raters' credibility depends on their own ratings), so this reads
    every revealed rating once, streams it, and writes the scores back in batches.
    """
    created = account_ages(session)
    ratings = as_ratings(session.execute(ratings_query().execution_options(yield_per=batch)), created)
    result = model.compute_reputation(ratings, now)
    by_ratee: dict[int, list[model.Rating]] = {}
    for rating in ratings:
        by_ratee.setdefault(rating.ratee_id, []).append(rating)
    rows = []
    for user_id in set(result.trust) | set(by_ratee):
        summary = rules.ebay_summary(by_ratee.get(user_id, []), now)
        tally = result.tallies.get(user_id, model.TrustTally(now))
        rows.append(
            {
                "tally_as_of": tally.as_of,
                "tally_pos": tally.pos,
                "tally_neg": tally.neg,
                "tally_recent_pos": tally.recent_pos,
                "tally_recent_neg": tally.recent_neg,
                "user_id": user_id,
                "trust": result.trust.get(user_id, model.DEFAULT.prior_mean),
                "credibility": result.credibility.get(user_id),
                "feedback_score": summary.feedback_score,
                "percent_positive_12m": summary.percent_positive_12m,
                "counts": summary.counts,
                "detailed": summary.detailed,
                "computed_at": now,
            }
        )
    session.execute(delete(ReputationScore))
    for start in range(0, len(rows), batch):
        session.execute(insert(ReputationScore), rows[start : start + batch])
    return len(rows)
