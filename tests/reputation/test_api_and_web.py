"""Feedback and reputation over the API and on the web pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.reputation import service
from app.reputation.models import Feedback
from tests import factories
from tests.web_helpers import log_in, submit


@pytest.fixture
def settled(session, now):
    return factories.settled_pool(session, now=now)


def test_leave_feedback_over_the_api(client, session, settled, now):
    pool, vendor, (alice, _) = settled
    response = client.post(
        f"/api/v1/pools/{pool.id}/feedback",
        headers=factories.token(session, alice, now=now),
        json={
            "ratee_id": vendor.id,
            "rating": 1,
            "scores": {"communication": 5},
            "comment": "<script>alert(1)</script> Great",
        },
    )
    assert response.status_code == 201
    assert response.get_json()["revealed"] is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"rating": 3}, 422, "rating"),
        ({"rating": 1, "scores": {"communication": 0}}, 422, "scores"),
        ({"rating": 1, "scores": {"clarity": 4}}, 422, "scores"),
        ({"rating": 1, "comment": "x" * 1001}, 422, "comment"),
        ({"rating": "good"}, 422, "rating"),
    ],
)
def test_bad_feedback_over_the_api_changes_nothing(client, session, settled, now, body, status, field):
    pool, vendor, (alice, _) = settled
    response = client.post(
        f"/api/v1/pools/{pool.id}/feedback",
        headers=factories.token(session, alice, now=now),
        json={"ratee_id": vendor.id} | body,
    )
    assert response.status_code == status
    assert field in response.get_json()["errors"]
    assert session.scalar(select(func.count(Feedback.id))) == 0


def test_a_non_party_gets_404(client, session, settled, now):
    pool, vendor, _ = settled
    stranger = factories.token(session, factories.user(session, now=now), now=now)
    response = client.post(
        f"/api/v1/pools/{pool.id}/feedback", headers=stranger, json={"ratee_id": vendor.id, "rating": 1}
    )
    assert response.status_code == 404


def test_rating_twice_is_409(client, session, settled, now):
    pool, vendor, (alice, _) = settled
    auth = factories.token(session, alice, now=now)
    body = {"ratee_id": vendor.id, "rating": 1}
    client.post(f"/api/v1/pools/{pool.id}/feedback", headers=auth, json=body)
    response = client.post(f"/api/v1/pools/{pool.id}/feedback", headers=auth, json=body)
    assert response.status_code == 409 and response.get_json()["code"] == "already_rated"


def test_the_reputation_endpoint(client, session, settled, now):
    pool, vendor, (alice, bob) = settled
    for buyer in (alice, bob):
        service.leave_feedback(
            session,
            pool_id=pool.id,
            rater=buyer,
            ratee_id=vendor.id,
            rating=1,
            scores_by_criterion={"delivery_time": 4},
            comment="",
            now=now,
        )
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    body = client.get(f"/api/v1/users/{vendor.id}/reputation").get_json()
    assert body["feedback_score"] == 2 and body["percent_positive_12m"] == 100.0
    assert body["detailed"] == {"delivery_time": {"average": 4.0, "count": 2}}
    assert 0 <= body["trust"] <= 1
    assert client.get("/api/v1/users/99999/reputation").status_code == 404


def test_comments_are_shown_escaped(client, session, settled, now):
    pool, vendor, (alice, _) = settled
    service.leave_feedback(
        session,
        pool_id=pool.id,
        rater=alice,
        ratee_id=vendor.id,
        rating=-1,
        scores_by_criterion={},
        comment="<script>alert('x')</script>",
        now=now,
    )
    service.reveal_expired(session, now=now + timedelta(days=61))
    session.commit()
    page = client.get(f"/users/{vendor.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_members_rate_on_the_pool_page(client, session, settled, now):
    pool, vendor, (alice, _) = settled
    alice.email = "alice@example.com"
    session.commit()
    log_in(client, "alice@example.com")
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "Rate this pool" in page and "Item as described" in page
    response = submit(
        client,
        f"/pools/{pool.id}",
        f"/pools/{pool.id}/feedback",
        {"ratee_id": vendor.id, "rating": "1", "score_item_as_described": "5", "comment": "Spot on"},
        follow=True,
    )
    assert "stays hidden until they rate you too" in response.get_data(as_text=True)
    assert session.scalar(select(Feedback.comment)) == "Spot on"


def test_a_profile_with_many_feedback_renders_with_few_queries(client, session, now, count_queries):
    vendor = factories.vendor(session, now=now)
    pool = factories.open_pool(session, now=now)
    raters = [factories.user(session, now=now) for _ in range(60)]
    session.add_all(
        Feedback(
            pool_id=pool.id,
            rater_id=r.id,
            ratee_id=vendor.id,
            direction="buyer_to_vendor",
            rating=1,
            scores={},
            comment=f"thanks {n}",
            amount_minor=1000,
            created_at=now,
            revealed_at=now,
        )
        for n, r in enumerate(raters)
    )
    session.commit()
    count_queries.statements.clear()
    page = client.get(f"/users/{vendor.id}")
    assert page.status_code == 200 and "thanks 59" in page.get_data(as_text=True)
    # user, its vendor profile, its identity, score, disputes lost, accounts of its identity, feedback, flags:
    # the same few statements for 60 feedbacks as for one.
    assert count_queries.count <= 8, count_queries.statements
