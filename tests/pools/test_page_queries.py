"""The pool page costs the same number of queries however many members, bids and feedback it shows
(no query per member, bid or party)."""

from __future__ import annotations

from decimal import Decimal

from app.reputation import service as reputation
from tests import factories
from tests.web_helpers import log_in, submit


def _open_pool_with(session, now, members, bids):
    pool = factories.open_pool(session, now=now, min_quantity=1)
    for _ in range(members):
        factories.commitment(session, pool=pool, now=now, quantity=1, max_unit_price=Decimal("100"))
    for n in range(bids):
        vendor = factories.vendor(session, now=now, categories=[pool.category])
        factories.bid(session, pool=pool, now=now, vendor=vendor, curve=((1, str(90 - n)),))
    return pool


def _settled_pool_with(session, now, members, feedback):
    pool, vendor, buyers = factories.settled_pool(session, now=now, members=members, quantity=1, price="10")
    for buyer in buyers[:feedback]:
        reputation.leave_feedback(session, pool_id=pool.id, rater=buyer, ratee_id=vendor.id, rating=1,
                                  scores_by_criterion={}, comment="Good.", now=now)  # fmt: skip
    session.commit()
    return pool, vendor


def _count(client, count_queries, path):
    count_queries.statements.clear()
    assert client.get(path).status_code == 200
    return count_queries.count


def test_an_open_pool_page_with_200_members_and_20_bids_takes_as_many_queries_as_a_small_one(
    client, session, now, count_queries
):
    small, large = _open_pool_with(session, now, 2, 2), _open_pool_with(session, now, 200, 20)
    counts = [_count(client, count_queries, f"/pools/{pool.id}") for pool in (small, large)]
    assert counts[0] == counts[1], counts


def test_a_settled_pool_page_with_200_members_and_50_feedback_takes_as_many_queries_as_a_small_one(
    client, session, now, count_queries
):
    counts = []
    for members, feedback in ((3, 2), (200, 50)):
        pool, vendor = _settled_pool_with(session, now, members, feedback)
        log_in(client, vendor.email)  # the vendor may rate every buyer: one form per party
        counts.append(_count(client, count_queries, f"/pools/{pool.id}"))
        submit(client, "/", "/logout")
    assert counts[0] == counts[1], counts
