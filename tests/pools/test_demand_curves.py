"""Demand curves end to end: the API and the form take them, bad curves change nothing, the close reads them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bids import award
from app.bids.models import AwardLine
from app.payments import jobs
from app.payments.models import Payment
from app.payments.offline import OfflineGateway
from app.pools.curves import Point, curve_errors, most_payable, quantity_at
from app.pools.models import AwardMode, Commitment
from app.reputation.scores import price_factors
from tests import factories
from tests.web_helpers import log_in, submit

CURVE = [{"quantity": 2, "max_unit_price": "4.00"}, {"quantity": 5, "max_unit_price": "3.50"}]


def test_a_curve_takes_the_largest_quantity_whose_maximum_the_price_meets():
    curve = (Point(2, Decimal("4.00")), Point(5, Decimal("3.50")))
    assert [quantity_at(curve, Decimal(p)) for p in ("4.01", "4.00", "3.80", "3.50", "1")] == [0, 2, 2, 5, 5]
    assert most_payable(curve) == Decimal("17.50")
    assert curve_errors(curve) == []


def test_the_api_takes_a_curve_and_always_answers_with_points(client, session, now):
    pool = factories.open_pool(session, now=now, max_per_member=10)
    member = factories.user(session, now=now)
    headers = factories.token(session, member, now=now)
    url = f"/api/v1/pools/{pool.id}/commitment"
    joined = client.put(url, json={"points": CURVE}, headers=headers)
    assert joined.status_code == 201, joined.get_json()
    body = joined.get_json()
    assert body["points"] == [
        {"quantity": 2, "max_unit_price": "4.0000"},
        {"quantity": 5, "max_unit_price": "3.5000"},
    ]
    assert (body["quantity"], body["max_unit_price"]) == (5, "3.5000")  # the most it takes, at its lowest maximum
    session.refresh(pool)
    assert pool.committed_quantity == 5  # the pool's limits and demand count the largest point

    flat = client.put(url, json={"quantity": 3, "max_unit_price": "4.00"}, headers=headers)
    assert flat.status_code == 200 and flat.get_json()["points"] == [{"quantity": 3, "max_unit_price": "4.0000"}]


@pytest.mark.parametrize(
    ("points", "says"),
    [
        ([{"quantity": 5, "max_unit_price": "4.00"}, {"quantity": 2, "max_unit_price": "3.50"}], "larger than point 1"),
        ([{"quantity": 2, "max_unit_price": "3.50"}, {"quantity": 5, "max_unit_price": "4.00"}], "lower than point 1"),
        ([{"quantity": 2, "max_unit_price": "4.00"}, {"quantity": 2, "max_unit_price": "3.00"}], "appears twice"),
        ([{"quantity": n, "max_unit_price": f"{10 - n}.00"} for n in range(1, 7)], "1 to 5 points"),
        ([], "1 to 5 points"),
        ([{"quantity": 2, "max_unit_price": "4.00001"}], "4 decimal places"),
        ([{"quantity": 2, "max_unit_price": 4.0}], "price like 3.10"),
        ([{"quantity": 0, "max_unit_price": "4.00"}], "from 1 to"),
    ],
)
def test_a_bad_curve_is_refused_with_a_clear_message_and_changes_nothing(client, session, now, points, says):
    pool = factories.open_pool(session, now=now, max_per_member=10)
    member = factories.user(session, now=now)
    refused = client.put(
        f"/api/v1/pools/{pool.id}/commitment",
        json={"points": points},
        headers=factories.token(session, member, now=now),
    )
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]
    assert says in str([messages for field, messages in errors.items() if field.startswith("points")]), errors
    assert session.scalar(select(func.count()).select_from(Commitment)) == 0


def test_both_shapes_at_once_or_neither_is_refused(client, session, now):
    pool = factories.open_pool(session, now=now)
    headers = factories.token(session, factories.user(session, now=now), now=now)
    url = f"/api/v1/pools/{pool.id}/commitment"
    both = client.put(url, json={"points": CURVE, "quantity": 2, "max_unit_price": "4"}, headers=headers)
    assert both.status_code == 422 and "not both" in str(both.get_json()["errors"]["points"])
    neither = client.put(url, json={"quantity": 2}, headers=headers)
    assert neither.status_code == 422 and "max_unit_price" in neither.get_json()["errors"]


def test_a_curve_above_the_pools_maximum_is_refused(client, session, now):
    pool = factories.open_pool(session, now=now, min_quantity=2, max_quantity=4, max_per_member=4)
    headers = factories.token(session, factories.user(session, now=now), now=now)
    refused = client.put(f"/api/v1/pools/{pool.id}/commitment", json={"points": CURVE}, headers=headers)
    assert refused.status_code == 422 and "quantity" in refused.get_json()["errors"]
    session.refresh(pool)
    assert pool.committed_quantity == 0 and pool.member_count == 0


def test_the_form_adds_points_and_shows_every_problem_at_once(client, session, now):
    pool = factories.open_pool(session, now=now, max_per_member=10)
    member = factories.user(session, now=now)
    log_in(client, member.email)
    page = f"/pools/{pool.id}"
    bad = submit(
        client,
        page,
        f"{page}/commitment",
        {"quantity": 2, "max_unit_price": "4.00", "quantity_2": 5, "max_unit_price_2": "4.50", "quantity_3": 7},
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Point 3 needs both a quantity and a maximum price" in text
    assert session.scalar(select(func.count()).select_from(Commitment)) == 0
    wrong_way = submit(
        client,
        page,
        f"{page}/commitment",
        {"quantity": 2, "max_unit_price": "4", "quantity_2": 5, "max_unit_price_2": "4.5"},
    )
    assert "Point 2: its maximum price must be lower than point 1" in wrong_way.get_data(as_text=True)

    good = submit(
        client,
        page,
        f"{page}/commitment",
        {"quantity": 2, "max_unit_price": "4.00", "quantity_2": 5, "max_unit_price_2": "3.50"},
        follow=True,
    )
    assert "2 install at up to" in good.get_data(as_text=True)
    made = session.scalars(select(Commitment)).one()
    assert made.points == (Point(2, Decimal("4.0000")), Point(5, Decimal("3.5000")))
    again = client.get(page).get_data(as_text=True)
    assert 'name="quantity_2" type="number" value="5"' in again  # the form shows the curve to change it


def test_the_close_reads_each_curve_at_the_price_and_charges_what_is_served(session, now):
    """The bulk tier is reached only because members take more at its lower price."""
    pool = factories.open_pool(session, now=now, min_quantity=8, max_per_member=10, award_mode=AwardMode.SPLIT)
    members = [factories.user(session, now=now) for _ in range(3)]
    for member in members[:2]:
        factories.commitment(session, pool=pool, now=now, member=member, points=((1, "10.00"), (4, "8.00")))
    factories.commitment(session, pool=pool, now=now, member=members[2], points=((3, "9.00"),))
    factories.bid(session, pool=pool, now=now, curve=((1, "10.00"), (8, "8.00")), capacity=10)

    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    lines = session.scalars(select(AwardLine).order_by(AwardLine.id)).all()
    assert [(line.member_id, line.quantity, line.amount_minor) for line in lines] == [
        (members[0].id, 4, 3200),
        (members[1].id, 4, 3200),
    ]
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    charged = session.scalars(select(Payment.amount_minor).order_by(Payment.id)).all()
    assert charged == [3200, 3200]  # 4 at 8.00 each: within what each curve authorised (4 × 8.00)


def test_the_members_csv_and_console_show_the_curve(client, session, now):
    pool = factories.open_pool(session, now=now, max_per_member=10)
    factories.commitment(session, pool=pool, now=now, points=((2, "4.00"), (5, "3.50")))
    log_in(client, pool.organiser.email)
    exported = client.get(f"/pools/{pool.id}/members.csv").get_data(as_text=True)
    row = next(csv.DictReader(io.StringIO(exported)))
    assert row["demand_curve"] == "2 at 4.0000; 5 at 3.5000" and row["quantity"] == "5"
    console = client.get(f"/pools/{pool.id}/console").get_data(as_text=True)
    assert "2 install at up to" in console and "5 install at up to" in console
