"""Seller levels: published thresholds, shown with their reason on profiles, the API, awards and the console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.payments.models import Dispute, DisputeOutcome, DisputeReason, DisputeStage, Payment
from app.reputation import levels
from app.reputation.levels import SellerLevel, seller_level
from app.reputation.models import ReputationScore
from app.reputation.standing import standings
from tests import factories
from tests.web_helpers import log_in


@pytest.mark.parametrize(
    ("trust", "ratings", "lost", "level"),
    [
        (0.80, 10, 0, SellerLevel.TOP_RATED),
        (0.79, 10, 0, None),  # just below the trust threshold
        (0.95, 9, 0, None),  # too few ratings to be sure
        (0.95, 50, 1, None),  # a dispute lost lately
        (0.29, 5, 0, SellerLevel.BELOW_STANDARD),
        (0.29, 4, 0, None),  # a new vendor is not below standard for being new
        (0.10, 0, 0, None),
        (0.95, 50, 2, SellerLevel.BELOW_STANDARD),  # two disputes lost outweigh the ratings
    ],
)
def test_the_published_thresholds(trust, ratings, lost, level):
    assert seller_level(trust, ratings, lost) == level
    reason = levels.level_reason(level, trust, ratings, lost)
    assert (reason != "") == (level is not None)


def top_rated(session, now, vendor):
    session.add(
        ReputationScore(user_id=vendor.id, trust=0.91, credibility=None, feedback_score=12, percent_positive_12m=100.0,
                        counts={"12m": {"positive": 12, "neutral": 0, "negative": 0}}, detailed={}, computed_at=now)
    )  # fmt: skip
    session.commit()


def test_the_profile_and_api_say_why_and_explain_trust(client, session, now):
    vendor = factories.vendor(session, now=now)
    top_rated(session, now, vendor)
    page = client.get(f"/users/{vendor.id}").get_data(as_text=True)
    assert "Top rated" in page and "from 12 ratings in 12 months" in page
    assert "estimates how likely a trade goes well" in page  # the number is explained next to it
    body = client.get(f"/api/v1/users/{vendor.id}/reputation").get_json()
    assert body["level"] == "top_rated" and "12 ratings" in body["level_reason"]
    newcomer = factories.vendor(session, now=now)
    body = client.get(f"/api/v1/users/{newcomer.id}/reputation").get_json()
    assert body["level"] is None and body["level_reason"] == "" and "starts at 0.10" in body["trust_explained"]
    assert "0.80" in client.get("/reputation/levels").get_data(as_text=True)  # the thresholds are published


def test_awards_and_the_console_show_the_winners_level(client, session, now):
    pool, vendor, _buyers = factories.settled_pool(session, now=now)
    top_rated(session, now, vendor)
    assert "Top rated" in client.get(f"/pools/{pool.id}").get_data(as_text=True)
    log_in(client, pool.organiser.email)
    assert "Top rated" in client.get(f"/pools/{pool.id}/console").get_data(as_text=True)


def test_disputes_lost_lately_make_a_vendor_below_standard(session, now):
    pool, vendor, _buyers = factories.settled_pool(session, now=now)
    for payment in session.scalars(select(Payment).where(Payment.pool_id == pool.id)):  # both members' lines
        session.add(Dispute(payment_id=payment.id, pool_id=pool.id, member_id=payment.member_id, vendor_id=vendor.id,
                            reason=DisputeReason.NOT_DELIVERED, stage=DisputeStage.RESOLVED,
                            outcome=DisputeOutcome.REFUND, refund_minor=payment.amount_minor,
                            vendor_due_at=now, escalate_at=now, opened_at=now - timedelta(days=5),
                            resolved_at=now - timedelta(days=1), updated_at=now))  # fmt: skip
    session.commit()
    assert standings(session, [vendor.id], now=now)[vendor.id].level == SellerLevel.BELOW_STANDARD
    assert (
        standings(session, [vendor.id], now=now + timedelta(days=91))[vendor.id].level is None
    )  # 90 days on, it has passed
