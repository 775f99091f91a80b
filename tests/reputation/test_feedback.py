"""Feedback on the database: who may rate whom, the window, double-blind, revisions, replies, scores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import Conflict, NotFound, ValidationFailed
from app.reputation import service
from app.reputation.models import Feedback, ReputationScore
from app.reputation.profile import reputation_view
from tests import factories


@pytest.fixture
def settled(session, now):
    return factories.settled_pool(session, now=now)


def rate(session, pool, rater, ratee, now, rating=1, scores=None, comment=""):
    made = service.leave_feedback(
        session,
        pool_id=pool.id,
        rater=rater,
        ratee_id=ratee.id,
        rating=rating,
        scores_by_criterion=scores or {},
        comment=comment,
        now=now,
    )
    session.commit()
    return made


def test_each_party_may_rate_exactly_the_others(session, settled):
    pool, vendor, (alice, bob) = settled
    directions = lambda who: sorted((p.ratee_id, p.direction) for p in service.rateable(session, pool, who))  # noqa: E731
    assert directions(alice) == sorted([(vendor.id, "buyer_to_vendor"), (pool.organiser_id, "member_to_organiser")])
    assert directions(vendor) == sorted([(alice.id, "vendor_to_buyer"), (bob.id, "vendor_to_buyer")])
    assert directions(pool.organiser) == []  # the organiser took no part in the trade


def test_feedback_is_hidden_until_the_other_side_rates(session, settled, now):
    pool, vendor, (alice, _) = settled
    first = rate(session, pool, alice, vendor, now)
    assert first.revealed_at is None
    assert reputation_view(session, vendor.id).feedback_score == 0  # a hidden rating moves no score
    rate(session, pool, vendor, alice, now)
    session.refresh(first)
    assert first.revealed_at is not None
    assert reputation_view(session, vendor.id).feedback_score == 1


def test_the_window_end_reveals_one_sided_feedback(session, settled, now):
    pool, vendor, (alice, _) = settled
    rate(session, pool, alice, vendor, now, rating=-1)
    assert service.reveal_expired(session, now=now + timedelta(days=59)) == 0
    assert service.reveal_expired(session, now=now + timedelta(days=61)) == 1
    session.commit()
    assert reputation_view(session, vendor.id).feedback_score == -1


def test_strangers_cannot_rate(session, settled, now):
    pool, vendor, _ = settled
    with pytest.raises(NotFound):
        rate(session, pool, factories.user(session, now=now), vendor, now)


def test_nobody_rates_themselves(session, settled):
    pool, vendor, _ = settled
    with pytest.raises(ValidationFailed):
        rate(session, pool, vendor, vendor, pool.settled_at)


def test_one_feedback_per_pool_rater_and_ratee(session, settled, now):
    pool, vendor, (alice, _) = settled
    rate(session, pool, alice, vendor, now)
    with pytest.raises(Conflict):
        rate(session, pool, alice, vendor, now)
    assert session.scalar(select(func.count(Feedback.id))) == 1


def test_feedback_closes_60_days_after_settlement(session, settled):
    pool, vendor, (alice, _) = settled
    with pytest.raises(service.FeedbackClosed):
        rate(session, pool, alice, vendor, pool.settled_at + timedelta(days=61))


def test_an_unsettled_pool_takes_no_feedback(session, now):
    pool = factories.open_pool(session, now=now)
    member = factories.user(session, now=now)
    factories.commitment(session, pool=pool, now=now, member=member)
    with pytest.raises(NotFound):
        rate(session, pool, member, pool.organiser, now)


@pytest.mark.parametrize(
    ("rating", "scores", "comment", "field"),
    [
        (2, {}, "", "rating"),
        (1, {"item_as_described": 6}, "", "scores"),
        (1, {"paid_promptly": 4}, "", "scores"),  # a vendor→buyer criterion in a buyer→vendor rating
        (1, {}, "x" * 1001, "comment"),
    ],
)
def test_bad_feedback_is_refused_and_stores_nothing(session, settled, now, rating, scores, comment, field):
    pool, vendor, (alice, _) = settled
    with pytest.raises(ValidationFailed) as refused:
        rate(session, pool, alice, vendor, now, rating=rating, scores=scores, comment=comment)
    assert field in refused.value.errors
    session.rollback()
    assert session.scalar(select(func.count(Feedback.id))) == 0


def test_one_revision_within_30_days(session, settled, now):
    pool, vendor, (alice, _) = settled
    made = rate(session, pool, alice, vendor, now, rating=-1)
    service.revise(
        session,
        feedback_id=made.id,
        rater=alice,
        rating=1,
        scores_by_criterion={},
        comment="Sorted!",
        now=now + timedelta(days=2),
    )
    with pytest.raises(Conflict):
        service.revise(
            session,
            feedback_id=made.id,
            rater=alice,
            rating=0,
            scores_by_criterion={},
            comment="",
            now=now + timedelta(days=3),
        )


def test_revisions_end_after_30_days(session, settled, now):
    pool, vendor, (alice, _) = settled
    made = rate(session, pool, alice, vendor, now)
    with pytest.raises(service.FeedbackClosed):
        service.revise(
            session,
            feedback_id=made.id,
            rater=alice,
            rating=0,
            scores_by_criterion={},
            comment="",
            now=now + timedelta(days=31),
        )


def test_the_ratee_replies_once_to_revealed_feedback(session, settled, now):
    pool, vendor, (alice, _) = settled
    made = rate(session, pool, alice, vendor, now, rating=-1)
    with pytest.raises(NotFound):  # still hidden
        service.reply(session, feedback_id=made.id, ratee=vendor, text="Sorry", now=now)
    rate(session, pool, vendor, alice, now)
    service.reply(session, feedback_id=made.id, ratee=vendor, text="We replaced the panel.", now=now)
    with pytest.raises(Conflict):
        service.reply(session, feedback_id=made.id, ratee=vendor, text="Again", now=now)


def test_detailed_scores_are_averaged(session, settled, now):
    pool, vendor, (alice, bob) = settled
    rate(session, pool, alice, vendor, now, scores={"communication": 5})
    rate(session, pool, bob, vendor, now, scores={"communication": 2})
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    assert session.get(ReputationScore, vendor.id).detailed == {"communication": {"average": 3.5, "count": 2}}


def test_positive_feedback_from_established_accounts_raises_trust(session, now):
    pool, vendor, (alice, bob) = factories.settled_pool(session, now=now, member_age_days=400)
    before = reputation_view(session, vendor.id).trust
    rate(session, pool, alice, vendor, now)
    rate(session, pool, bob, vendor, now)
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    assert reputation_view(session, vendor.id).trust > before


def test_ratings_from_brand_new_accounts_barely_count(session, settled, now):
    pool, vendor, (alice, bob) = settled
    rate(session, pool, alice, vendor, now)
    rate(session, pool, bob, vendor, now)
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    assert reputation_view(session, vendor.id).trust < 0.2


def test_a_full_recompute_agrees_with_incremental_updates(session, now):
    from app.reputation.models import ReputationScore
    from app.reputation.scores import recompute_all, refresh

    pool, vendor, (alice, bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, vendor, now)
    rate(session, pool, bob, vendor, now, rating=-1)
    rate(session, pool, vendor, alice, now)
    later = now + timedelta(days=61)
    service.reveal_expired(session, now=later)
    refresh(session, [vendor.id, alice.id], now=later)  # everyone's incremental scores as of `later`
    session.commit()
    incremental = {r.user_id: (r.feedback_score, r.counts) for r in session.scalars(select(ReputationScore))}
    assert recompute_all(session, now=later) >= 2
    session.commit()
    session.expire_all()
    full = {r.user_id: (r.feedback_score, r.counts) for r in session.scalars(select(ReputationScore))}
    assert {k: full[k] for k in incremental} == incremental
    assert 0 <= session.get(ReputationScore, vendor.id).trust <= 1
