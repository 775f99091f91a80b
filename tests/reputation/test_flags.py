"""Review disputes: a ratee flags feedback, an operator decides, an upheld flag takes it out of every score."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.reputation import service
from app.reputation.models import FeedbackFlag, ReputationScore
from tests import factories
from tests.reputation.test_feedback import rate
from tests.web_helpers import log_in, submit


@pytest.fixture
def rated(session, now):
    """A vendor with one positive and one negative revealed rating from established buyers."""
    pool, vendor, (alice, bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, vendor, now)
    bad = rate(session, pool, bob, vendor, now, rating=-1, comment="Never again, you crook")
    later = now + timedelta(days=61)
    service.reveal_expired(session, now=later)
    session.commit()
    operator = factories.user(session, now=now, is_dispute_operator=True)
    return vendor, bad, operator, later


def test_an_upheld_flag_removes_the_feedback_from_scores_and_shows_it_removed(client, session, rated):
    vendor, bad, operator, later = rated
    before = session.get(ReputationScore, vendor.id)
    assert (before.feedback_score, before.counts["12m"]["negative"]) == (0, 1)
    trust_before = before.trust
    flagged = client.post(f"/api/v1/feedback/{bad.id}/flag", json={"reason": "abusive", "note": "Insults"},
                          headers=factories.token(session, vendor, now=later))  # fmt: skip
    assert flagged.status_code == 201 and flagged.get_json()["status"] == "open"
    queue = client.get("/api/v1/feedback-flags", headers=factories.token(session, operator, now=later)).get_json()
    assert [flag["feedback_id"] for flag in queue] == [bad.id]
    decided = client.post(f"/api/v1/feedback-flags/{queue[0]['id']}/decision", json={"uphold": True},
                          headers=factories.token(session, operator, now=later))  # fmt: skip
    assert decided.status_code == 200 and decided.get_json()["status"] == "upheld"
    session.expire_all()
    after = session.get(ReputationScore, vendor.id)
    assert (after.feedback_score, after.counts["12m"]["negative"]) == (1, 0)
    assert after.trust > trust_before
    page = client.get(f"/users/{vendor.id}").get_data(as_text=True)
    assert "Removed" in page and "abusive" in page and "you crook" not in page
    again = client.post(f"/api/v1/feedback-flags/{queue[0]['id']}/decision", json={"uphold": False},
                        headers=factories.token(session, operator, now=later))  # fmt: skip
    assert again.status_code == 409  # decided once


def test_only_the_ratee_flags_once_and_only_operators_decide(client, session, rated, now):
    vendor, bad, _operator, later = rated
    rater = session.get(type(vendor), bad.rater_id)
    url = f"/api/v1/feedback/{bad.id}/flag"
    own = client.post(url, json={"reason": "abusive"}, headers=factories.token(session, rater, now=later))
    assert own.status_code == 409 and "revise it" in own.get_json()["message"]  # one's own feedback
    stranger = factories.user(session, now=now)
    assert (
        client.post(url, json={"reason": "abusive"}, headers=factories.token(session, stranger, now=later)).status_code
        == 404
    )
    headers = factories.token(session, vendor, now=later)
    assert client.post(url, json={"reason": "rude"}, headers=headers).status_code == 422  # not a reason
    assert client.post(url, json={"reason": "abusive", "note": "x" * 501}, headers=headers).status_code == 422
    assert client.post(url, json={"reason": "abusive"}, headers=headers).status_code == 201
    twice = client.post(url, json={"reason": "off_topic"}, headers=headers)
    assert twice.status_code == 409  # flagging twice
    flag_id = session.scalar(select(FeedbackFlag.id))
    nobody = client.post(f"/api/v1/feedback-flags/{flag_id}/decision", json={"uphold": True}, headers=headers)
    assert nobody.status_code == 404  # the vendor is no operator
    assert client.get("/api/v1/feedback-flags", headers=headers).status_code == 404
    assert session.scalar(select(func.count()).select_from(FeedbackFlag)) == 1


def test_flagging_is_limited_to_five_a_day(client, session, now):
    vendor = factories.vendor(session, now=now)
    feedback = []
    for _ in range(6):
        pool, _, (buyer,) = factories.settled_pool(session, now=now, members=1, winner=vendor, member_age_days=400)
        feedback.append(rate(session, pool, buyer, vendor, now, rating=-1))
    later = now + timedelta(days=61)
    service.reveal_expired(session, now=later)
    session.commit()
    headers = factories.token(session, vendor, now=later)
    answers = [client.post(f"/api/v1/feedback/{f.id}/flag", json={"reason": "retaliatory"}, headers=headers)
               for f in feedback]  # fmt: skip
    assert [a.status_code for a in answers] == [201] * 5 + [429]
    assert "at most 5" in answers[-1].get_json()["message"]


def test_the_profile_and_the_queue_in_the_browser_forms(client, session, rated):
    vendor, bad, operator, _later = rated
    log_in(client, vendor.email)
    profile = f"/users/{vendor.id}"
    assert "Flag this feedback" in client.get(profile).get_data(as_text=True)
    shown = submit(
        client, profile, f"/feedback/{bad.id}/flag", {"reason": "retaliatory", "note": "After my dispute"}, follow=True
    )
    assert "an operator will look at this feedback" in shown.get_data(as_text=True)
    client.post("/logout", data={})
    log_in(client, operator.email)
    queue = client.get("/admin/feedback-flags").get_data(as_text=True)
    assert "Never again, you crook" in queue and "After my dispute" in queue
    flag_id = session.scalar(select(FeedbackFlag.id))
    done = submit(client, "/admin/feedback-flags", f"/admin/feedback-flags/{flag_id}", {"uphold": "false"}, follow=True)
    assert "Rejected: it stays." in done.get_data(as_text=True)
