"""What an open auction would clear at now, and the next price drop read from every curve together."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.bids.outlook import demand_steps, outlook, wanted_at
from app.pools.models import AuctionKind, AwardMode
from tests import factories
from tests.bids.test_split_properties import curve, demand, offer


def test_the_members_curves_sum_to_one_demand_curve():
    members = [curve(1, (2, "4.00"), (5, "3.50")), demand(2, 3, "4.00")]
    steps = demand_steps(members)
    assert steps == ((Decimal("4.00"), 5), (Decimal("3.50"), 8))
    assert [wanted_at(steps, Decimal(p)) for p in ("4.50", "4.00", "3.80", "3.50", "1")] == [0, 5, 5, 8, 8]


def test_a_bulk_tier_a_few_units_away_is_the_next_drop():
    members = [demand(n, 1, "10.00") for n in range(1, 6)]
    bulk = offer(1, 10, (1, "9.00"), (8, "8.00"))
    now = outlook(members, [bulk], min_quantity=3, split=True)
    assert (now.unit_price, now.served_quantity, now.vendors) == (Decimal("9.00"), 5, 1)
    assert now.next_drop == (3, Decimal("8.00"))  # 8 units reach the 8.00 tier; 5 are wanted at 8.00


def test_under_the_split_rule_two_vendors_capacities_add_up():
    members = [demand(n, 1, "10.00") for n in range(1, 5)]
    dear = offer(1, 10, (1, "9.50"))
    cheap_a, cheap_b = offer(2, 3, (1, "9.00")), offer(3, 3, (1, "9.00"))  # 6 together at 9.00
    split = outlook(members, [dear, cheap_a, cheap_b], min_quantity=5, split=True)
    assert split.unit_price is None and split.next_drop == (1, Decimal("9.00"))  # 5 needed, both cheap bids
    single = outlook(members, [dear, cheap_a, cheap_b], min_quantity=5, split=False)
    assert single.next_drop == (1, Decimal("9.50"))  # one bid alone: only the 9.50 bid has room for 5


def test_no_drop_when_no_lower_price_can_serve_as_many():
    members = [demand(n, 1, "10.00") for n in range(1, 6)]
    small = offer(2, 2, (1, "7.00"))  # cheaper, but room for 2 of the 5 served now
    now = outlook(members, [offer(1, 10, (1, "9.00")), small], min_quantity=3, split=True)
    assert now.unit_price == Decimal("9.00") and now.next_drop is None


def test_the_pool_page_and_live_figures_say_what_closing_now_would_do(client, session, now):
    pool = factories.open_pool(session, now=now, min_quantity=3, award_mode=AwardMode.SPLIT, max_per_member=5)
    for _ in range(5):
        factories.commitment(session, pool=pool, now=now, quantity=1, max_unit_price="10.00")
    factories.bid(session, pool=pool, now=now, curve=((1, "9.00"), (8, "8.00")), capacity=10)
    live = client.get(f"/pools/{pool.id}/live.json").get_json()
    assert live["clearing"] == {
        "unit_price": "9.0000",
        "served_quantity": 5,
        "vendors": 1,
        "text": "Closing now: 5 install served at £9.00 each, by 1 vendor.",
    }
    assert live["next_drop_text"] == "3 more install wanted and the price drops to £8.00."
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "Closing now: 5 install served at £9.00 each, by 1 vendor." in page
    assert "3 more install wanted and the price drops to £8.00." in page
    assert "<circle" in page  # the chart marks where the market would clear


def test_a_sealed_auction_says_nothing_of_its_clearing(client, session, now):
    pool = factories.open_pool(session, now=now, min_quantity=1, auction_kind=AuctionKind.SEALED)
    factories.commitment(session, pool=pool, now=now, quantity=1, max_unit_price="10.00")
    factories.bid(session, pool=pool, now=now, curve=((1, "9.00"),), capacity=10)
    live = client.get(f"/pools/{pool.id}/live.json").get_json()
    assert live["clearing"] is None and live["next_drop_text"] is None and live["best_unit_price"] is None
    assert live["no_clearing_text"] is None  # not even whether it would clear
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "Closing now" not in page and "9.00" not in page


def test_the_figures_follow_a_new_bid_and_a_changed_commitment_at_once(client, session, now):
    """The pool page caches what the market would clear at; a bid or a commitment change shows at once."""
    pool = factories.open_pool(session, now=now, min_quantity=2, max_per_member=5)
    member = factories.user(session, now=now)
    factories.commitment(session, pool=pool, now=now, member=member, quantity=2, max_unit_price="10.00")
    nothing = client.get(f"/pools/{pool.id}/live.json").get_json()
    assert nothing["clearing"] is None and nothing["no_clearing_text"].startswith("Closing now, no vendor")
    factories.bid(session, pool=pool, now=now, curve=((1, "9.00"),), capacity=10)
    assert client.get(f"/pools/{pool.id}/live.json").get_json()["clearing"]["served_quantity"] == 2
    # Same quantity, a lower maximum: only the curve changed, and the bid no longer clears.
    factories.commitment(
        session, pool=pool, now=now + timedelta(seconds=1), member=member, quantity=2, max_unit_price="8.00"
    )
    assert client.get(f"/pools/{pool.id}/live.json").get_json()["clearing"] is None
