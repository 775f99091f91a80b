"""A revealed feedback updates its ratee in O(1) from the stored tally, and agrees with a full reread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.reputation import scores, service
from app.reputation.models import Feedback, ReputationScore
from app.scheduler.jobs import JOBS_BY_ID
from tests import factories
from tests.reputation.test_feedback import rate


def snapshot(session, user_id):
    session.expire_all()
    row = session.get(ReputationScore, user_id)
    return row.trust, row.feedback_score, row.percent_positive_12m, row.counts, row.detailed


def test_each_reveal_adds_to_the_tally_and_matches_rereading_the_history(session, now):
    vendor = factories.vendor(session, now=now, created_at=now - timedelta(days=500))
    for day, ratings in enumerate([(1, 1), (1, -1), (0, 1), (-1, -1), (1, 1)]):
        at = now + timedelta(days=70 * day)
        pool, _, buyers = factories.settled_pool(session, now=at, member_age_days=400, winner=vendor)
        for buyer, value in zip(buyers, ratings, strict=True):
            rate(session, pool, buyer, vendor, at, rating=value, scores={"item_as_described": 4 + (value > 0)})
        revealed_at = at + timedelta(days=61)
        service.reveal_expired(session, now=revealed_at)
        session.commit()
        incremental = snapshot(session, vendor.id)
        row = session.get(ReputationScore, vendor.id)
        assert row.tally_as_of is not None  # the next reveal adds to this tally
        scores.refresh(session, [vendor.id], now=revealed_at)  # the exact path: reread every rating
        session.commit()
        exact = snapshot(session, vendor.id)
        trust, score, percent, counts, detailed = incremental
        assert trust == pytest.approx(exact[0], abs=1e-9)
        assert (score, percent, counts["12m"], detailed) == (exact[1], exact[2], exact[3]["12m"], exact[4])
        # The 1- and 6-month periods only gain ratings between nightly recomputes: never fewer.
        for period in ("1m", "6m"):
            assert all(counts[period][kind] >= exact[3][period][kind] for kind in counts[period])
    assert session.scalar(select(func.count()).select_from(Feedback).where(Feedback.ratee_id == vendor.id)) == 10


def test_a_reveal_reads_no_history(session, now, count_queries):
    """Adding a rating costs the same few statements whatever the ratee's history holds."""
    vendor = factories.vendor(session, now=now, created_at=now - timedelta(days=500))
    costs = []
    for round_ in range(3):
        at = now + timedelta(days=70 * round_)
        pool, _, buyers = factories.settled_pool(session, now=at, members=1 + round_ * 3, member_age_days=400,
                                                 winner=vendor)  # fmt: skip
        for buyer in buyers:
            rate(session, pool, buyer, vendor, at)
        due = list(session.scalars(select(Feedback).where(Feedback.revealed_at.is_(None), Feedback.pool_id == pool.id)))
        count_queries.statements.clear()
        service.reveal(session, due[:1], now=at + timedelta(days=61))
        costs.append(count_queries.count)
        session.commit()
    assert costs[1] == costs[2]  # 4 then 7 earlier ratings: the same statements


def test_the_nightly_job_recomputes_every_score(session, now):
    pool, vendor, (alice, bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, vendor, now)
    rate(session, pool, bob, vendor, now, rating=-1)
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    job = JOBS_BY_ID["recompute-reputation"]
    assert job.trigger == "cron"
    assert job.func(session, {}, now=now + timedelta(days=62)) >= 1
    row = session.get(ReputationScore, vendor.id)
    assert row.credibility is None or 0 <= row.credibility <= 1
    assert row.computed_at == now + timedelta(days=62) and row.tally_as_of is not None


def test_the_operator_command_recomputes(app, session, now):
    pool, vendor, (alice, _bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, vendor, now)
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    result = app.test_cli_runner().invoke(args=["reputation", "recompute"])
    assert result.exit_code == 0, result.output
    assert "Recomputed" in result.output


@pytest.mark.postgres
def test_two_schedulers_never_recompute_at_once(session, engine, now):
    """The nightly job takes an advisory lock: while another process holds it, a run does nothing."""
    from sqlalchemy import text

    from app.db.locks import lock_key

    pool, vendor, (alice, _bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, vendor, now)
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    before = session.get(ReputationScore, vendor.id).computed_at
    job = JOBS_BY_ID["recompute-reputation"]
    with engine.connect() as other:  # another scheduler, mid-recompute
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key("recompute-reputation")})
        assert job.func(session, {}, now=now + timedelta(days=62)) == 0
        session.expire_all()
        assert session.get(ReputationScore, vendor.id).computed_at == before
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key("recompute-reputation")})
    assert job.func(session, {}, now=now + timedelta(days=62)) >= 1
