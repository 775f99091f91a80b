"""Escrow per line through the JSON API: the sockpuppet scenario, the dispute journey, and every
refused call with its status and message (nothing changed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.bids import award
from app.payments import jobs
from app.payments.offline import OfflineGateway
from app.payments.rules import EscrowTerms
from app.reputation.scores import price_factors
from tests import factories

TERMS = EscrowTerms()


def test_a_sockpuppets_confirmation_releases_only_its_own_line(client, session, now):
    """A vendor's second account joins, the vendor wins, the pool is charged, the second account
    confirms delivery at once: only its own line goes to the vendor."""
    pool = factories.open_pool(session, now=now, min_quantity=1)
    honest = [factories.user(session, now=now) for _ in range(3)]
    sockpuppet = factories.user(session, now=now)
    for buyer in [*honest, sockpuppet]:
        factories.commitment(session, pool=pool, now=now, member=buyer, quantity=8, max_unit_price=Decimal("200"))
    vendor = factories.vendor(session, now=now, categories=[pool.category])
    factories.bid(session, pool=pool, now=now, vendor=vendor, curve=((1, "100"),))
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)

    puppet = factories.token(session, sockpuppet, now=now)
    released = client.post(f"/api/v1/pools/{pool.id}/delivery", json={}, headers=puppet)
    assert released.status_code == 200
    assert [(line["member_id"], line["state"]) for line in released.get_json()] == [(sockpuppet.id, "released")]

    organiser = factories.token(session, pool.organiser, now=now)
    lines = client.get(f"/api/v1/pools/{pool.id}/lines", headers=organiser).get_json()
    assert {line["member_id"]: line["state"] for line in lines} == {
        **{buyer.id: "held" for buyer in honest},
        sockpuppet.id: "released",
    }
    ledger_body = client.get(f"/api/v1/pools/{pool.id}/ledger", headers=organiser).get_json()
    assert ledger_body["balances"]["escrow"] == 3 * 80000 and ledger_body["total"] == 0
    for buyer in honest:  # each honest member can still dispute their own line
        disputed = client.post(
            f"/api/v1/pools/{pool.id}/disputes",
            json={"reason": "not_delivered", "message": "Nothing arrived."},
            headers=factories.token(session, buyer, now=now),
        )
        assert disputed.status_code == 201 and disputed.get_json()["stage"] == "awaiting_vendor"
    mine = client.get(f"/api/v1/pools/{pool.id}/lines", headers=factories.token(session, honest[0], now=now))
    assert [line["member_id"] for line in mine.get_json()] == [honest[0].id]  # a member sees their own line only


def settled_pool(session, now, members=2):
    pool, vendor, buyers = factories.settled_pool(session, now=now, members=members, quantity=8, price="100")
    return pool, vendor, buyers


def test_the_dispute_journey_over_the_api(client, session, now):
    pool, vendor, buyers = settled_pool(session, now)
    member, seller = factories.token(session, buyers[0], now=now), factories.token(session, vendor, now=now)
    organiser = factories.token(session, pool.organiser, now=now)
    opened = client.post(f"/api/v1/pools/{pool.id}/disputes", json={"reason": "partial", "message": "Half came."},
                         headers=member).get_json()  # fmt: skip
    dispute_id = opened["id"]
    assert client.get("/api/v1/disputes", headers=seller).get_json()[0]["id"] == dispute_id
    offer = client.post(f"/api/v1/disputes/{dispute_id}/answer",
                        json={"answer": "partial", "refund_minor": 30000, "message": "We refund £300."},
                        headers=seller)  # fmt: skip
    assert offer.status_code == 200 and offer.get_json()["stage"] == "offered" and offer.get_json()["offer"] == 30000
    note = client.post(f"/api/v1/disputes/{dispute_id}/messages", json={"body": "Fair offer."}, headers=organiser)
    assert note.status_code == 201 and note.get_json()["role"] == "organiser"
    accepted = client.post(f"/api/v1/disputes/{dispute_id}/accept", headers=member).get_json()
    assert (accepted["stage"], accepted["outcome"], accepted["refund"]) == ("resolved", "partial", 30000)
    line = client.get(f"/api/v1/pools/{pool.id}/lines", headers=member).get_json()[0]
    assert (line["state"], line["refunded"], line["released"], line["fee"]) == ("partly_refunded", 30000, 50000, 2500)
    assert [m["role"] for m in accepted["messages"]] == ["member", "vendor", "organiser"]


def test_refused_calls_get_a_clear_status_and_change_nothing(client, session, now):
    pool, vendor, buyers = settled_pool(session, now)
    other_vendor = factories.vendor(session, now=now)
    stranger = factories.token(session, factories.user(session, now=now), now=now)
    member, seller = factories.token(session, buyers[0], now=now), factories.token(session, vendor, now=now)

    # Confirming or disputing a line that is not yours: 404.
    assert client.post(f"/api/v1/pools/{pool.id}/delivery", json={}, headers=stranger).status_code == 404
    refused = client.post(f"/api/v1/pools/{pool.id}/delivery", json={"member_id": buyers[1].id}, headers=member)
    assert refused.status_code == 404
    body = {"reason": "partial", "message": "Not my line."}
    assert client.post(f"/api/v1/pools/{pool.id}/disputes", json=body, headers=stranger).status_code == 404

    # A line already released: 409 with its state.
    assert client.post(f"/api/v1/pools/{pool.id}/delivery", json={}, headers=member).status_code == 200
    again = client.post(f"/api/v1/pools/{pool.id}/delivery", json={}, headers=member)
    assert again.status_code == 409 and "released to the vendor" in again.get_json()["message"]
    late = client.post(f"/api/v1/pools/{pool.id}/disputes", json=body, headers=member)
    assert late.status_code == 409 and "already settled" in late.get_json()["message"]

    # Bad input: 422 naming the field.
    second = factories.token(session, buyers[1], now=now)
    bad = client.post(f"/api/v1/pools/{pool.id}/disputes", json={"reason": "meh", "message": ""}, headers=second)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"reason", "message"}
    dispute_id = client.post(f"/api/v1/pools/{pool.id}/disputes", json=body, headers=second).get_json()["id"]
    for amount in (0, -1, 80001):  # a partial refund above the line or not above zero
        answer = {"answer": "partial", "refund_minor": amount, "message": "An offer."}
        response = client.post(f"/api/v1/disputes/{dispute_id}/answer", json=answer, headers=seller)
        assert response.status_code == 422 and "refund_minor" in response.get_json()["errors"]
    missing = client.post(f"/api/v1/disputes/{dispute_id}/answer", json={"answer": "partial", "message": "x y"},
                          headers=seller)  # fmt: skip
    assert missing.status_code == 422 and "refund_minor" in missing.get_json()["errors"]

    # A vendor answering another vendor's dispute: 404.
    other = factories.token(session, other_vendor, now=now)
    answer = {"answer": "refund", "message": "Refunding."}
    assert client.post(f"/api/v1/disputes/{dispute_id}/answer", json=answer, headers=other).status_code == 404
    assert client.get(f"/api/v1/disputes/{dispute_id}", headers=stranger).status_code == 404

    # An operator acting on a dispute that is not escalated: 409 (once they may see it) or 404 (before).
    operator = factories.token(session, factories.user(session, now=now, is_dispute_operator=True), now=now)
    decision = {"outcome": "refund"}
    assert client.post(f"/api/v1/disputes/{dispute_id}/decision", json=decision, headers=operator).status_code == 404
    contest = {"answer": "contest", "message": "It was all delivered."}
    assert client.post(f"/api/v1/disputes/{dispute_id}/answer", json=contest, headers=seller).status_code == 200
    escalated = client.post(f"/api/v1/disputes/{dispute_id}/escalate", json={"note": "Please look."}, headers=second)
    assert escalated.get_json()["stage"] == "escalated"
    assert [d["id"] for d in client.get("/api/v1/disputes", headers=operator).get_json()] == [dispute_id]
    split = {"outcome": "partial", "refund_minor": 10000, "note": "Split."}
    decided = client.post(f"/api/v1/disputes/{dispute_id}/decision", json=split, headers=operator)
    assert decided.status_code == 200 and decided.get_json()["outcome"] == "partial"
    twice = client.post(f"/api/v1/disputes/{dispute_id}/decision", json=decision, headers=operator)
    assert twice.status_code == 409 and "escalated" in twice.get_json()["message"]

    # A dispute after the window: 409 saying when it closed.
    pool2, _vendor2, buyers2 = settled_pool(session, now - TERMS.window - timedelta(days=1), members=1)
    closed = client.post(f"/api/v1/pools/{pool2.id}/disputes", json=body,
                         headers=factories.token(session, buyers2[0], now=now))  # fmt: skip
    assert closed.status_code == 409 and "closed on" in closed.get_json()["message"]


def test_the_vendor_sees_its_payouts_net_of_the_fee(client, session, now):
    pool, vendor, buyers = settled_pool(session, now)
    for buyer in buyers:
        client.post(f"/api/v1/pools/{pool.id}/delivery", json={}, headers=factories.token(session, buyer, now=now))
    jobs.pay_out_pending(session, OfflineGateway(), now=now)
    payouts = client.get("/api/v1/payouts", headers=factories.token(session, vendor, now=now)).get_json()
    assert [(p["gross"], p["fee"], p["amount"], p["lines"], p["status"]) for p in payouts] == [
        (160000, 8000, 152000, 2, "paid")
    ]
    assert client.get("/api/v1/payouts", headers=factories.token(session, buyers[0], now=now)).status_code == 404
