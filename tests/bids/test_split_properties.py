"""The split clearing against a literal, brute-force reading of its rule, and the properties it promises."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.bids import split
from app.bids.rules import Demand, Offer, Tier, clear, price_at
from app.bids.split import SplitOutcome, clear_split
from app.pools.curves import Point, quantity_at
from tests.bids.test_clearing_properties import RELAXED, demand_lists, offer_lists

SMALL = st.integers(0, 30)


def reference(demands: list[Demand], offers: list[Offer], min_quantity: int) -> tuple | None:
    """The rule as docs/domain.md words it, step by step, with no shortcut."""
    members = sorted(demands, key=lambda d: (d.join_order, d.commitment_id))
    best = None
    for price in sorted({tier.unit_price for offer in offers for tier in offer.tiers}):
        willing = [(d, quantity_at(d.points, price)) for d in members]
        willing = [(d, taking) for d, taking in willing if taking]
        eligible = []
        for offer in offers:
            by_quantity = sorted(offer.tiers, key=lambda t: t.min_quantity)
            cheap_enough = [t for t in by_quantity if t.unit_price <= price]
            if cheap_enough and cheap_enough[0].min_quantity <= offer.capacity:
                floor = cheap_enough[0].min_quantity
                merit = price_at(offer.tiers, offer.capacity) * offer.price_factor
                eligible.append((merit, offer.bid_order, offer.bid_id, offer, floor))
        eligible.sort(key=lambda e: e[:3])
        while True:
            room = {e[2]: e[3].capacity for e in eligible}
            served: dict[int, list[tuple[Demand, int]]] = {e[2]: [] for e in eligible}
            for member, taking in willing:
                for e in eligible:
                    if room[e[2]] >= taking:
                        room[e[2]] -= taking
                        served[e[2]].append((member, taking))
                        break
            short = [e for e in eligible if 0 < sum(taking for _, taking in served[e[2]]) < e[4]]
            if not short:
                break
            eligible.remove(short[0])  # the first short bid in merit order, then the fill again
        winners = [
            (e[2], sum(taking for _, taking in served[e[2]]), tuple((d.commitment_id, q) for d, q in served[e[2]]), e)
            for e in eligible
            if served[e[2]]
        ]
        total = sum(w[1] for w in winners)
        if not winners or total < max(min_quantity, 1):
            continue
        uniform = max(price_at(w[3][3].tiers, w[1]) for w in winners)
        served_ids = sorted(c for w in winners for c, _ in w[2])
        key = (-total, uniform, len(winners), sorted((w[3][1], w[0]) for w in winners), price, served_ids)
        if best is None or key < best[0]:
            best = (key, (uniform, total, [(w[0], w[1], w[2]) for w in winners]))
    single = clear(demands, offers, min_quantity=min_quantity)  # one bid alone is a candidate too
    if single is not None:
        bid_order = next(o.bid_order for o in offers if o.bid_id == single.bid_id)
        served_ids = sorted(line.commitment_id for line in single.served)
        key = (
            -single.served_quantity,
            single.unit_price,
            1,
            [(bid_order, single.bid_id)],
            single.unit_price,
            served_ids,
        )
        served = tuple((line.commitment_id, line.quantity) for line in single.served)
        winners = [(single.bid_id, single.served_quantity, served)]
        if best is None or key < best[0]:
            best = (key, (single.unit_price, single.served_quantity, winners))
    return None if best is None else best[1]


def summary(outcome: SplitOutcome | None) -> tuple | None:
    if outcome is None:
        return None
    winners = [
        (w.bid_id, w.quantity, tuple((line.commitment_id, line.quantity) for line in w.served)) for w in outcome.winners
    ]
    return (outcome.unit_price, outcome.served_quantity, winners)


@RELAXED
@given(demand_lists(max_size=12, max_quantity=6), offer_lists(max_capacity=20, max_tier=12), SMALL)
def test_split_clearing_matches_the_literal_rule(demands, offers, min_quantity):
    assert summary(clear_split(demands, offers, min_quantity=min_quantity)) == reference(demands, offers, min_quantity)


@RELAXED
@given(demand_lists(max_size=12, max_quantity=6), offer_lists(max_capacity=20, max_tier=12), SMALL)
def test_every_party_gets_what_it_agreed_to(demands, offers, min_quantity):
    outcome = clear_split(demands, offers, min_quantity=min_quantity)
    if outcome is None:
        return
    by_id = {d.commitment_id: d for d in demands}
    offers_by_id = {o.bid_id: o for o in offers}
    served = [line.commitment_id for line in outcome.served]
    assert len(served) == len(set(served)), "a commitment is served once, by one vendor"
    assert outcome.unit_price <= outcome.candidate
    for line in outcome.served:
        member = by_id[line.commitment_id]
        # Whole, as its curve reads at the price the rule read it at: the candidate P (or, for the
        # single rule's award, its winning tier's price), never below the uniform price.
        read_at = {t.unit_price for o in offers for t in o.tiers if t.unit_price >= outcome.unit_price}
        assert line.quantity in {quantity_at(member.points, price) for price in read_at}, "served whole"
        assert quantity_at(member.points, outcome.unit_price) >= line.quantity, "nobody pays above their maximum"
    for winner in outcome.winners:
        offer = offers_by_id[winner.bid_id]
        assert winner.quantity == sum(line.quantity for line in winner.served)
        assert winner.quantity <= offer.capacity
        assert price_at(offer.tiers, winner.quantity) == winner.curve_price <= outcome.unit_price
        floor = min(t.min_quantity for t in offer.tiers if t.unit_price <= outcome.candidate)
        assert winner.quantity >= floor
    assert outcome.served_quantity == sum(w.quantity for w in outcome.winners) >= max(min_quantity, 1)
    assert outcome.unit_price == max(w.curve_price for w in outcome.winners)


@RELAXED
@given(demand_lists(max_size=12, max_quantity=6), offer_lists(max_capacity=20, max_tier=12), SMALL, st.randoms())
def test_the_same_inputs_in_any_order_give_the_same_award(demands, offers, min_quantity, rng):
    first = clear_split(demands, offers, min_quantity=min_quantity)
    shuffled_demands, shuffled_offers = list(demands), list(offers)
    rng.shuffle(shuffled_demands)
    rng.shuffle(shuffled_offers)
    again = clear_split(shuffled_demands, shuffled_offers, min_quantity=min_quantity)
    assert summary(first) == summary(again)


@RELAXED
@given(demand_lists(max_size=12, max_quantity=6), offer_lists(max_capacity=20, max_tier=12), SMALL)
def test_split_never_serves_less_than_the_single_winner_rule(demands, offers, min_quantity):
    single = clear(demands, offers, min_quantity=min_quantity)
    split = clear_split(demands, offers, min_quantity=min_quantity)
    if single is not None:
        assert split is not None and split.served_quantity >= single.served_quantity


def demand(commitment_id: int, quantity: int, max_price: str) -> Demand:
    return Demand(commitment_id, commitment_id, quantity, Decimal(max_price), (commitment_id,))


def offer(bid_id: int, capacity: int, *curve: tuple[int, str]) -> Offer:
    return Offer(bid_id, 100 + bid_id, tuple(Tier(q, Decimal(p)) for q, p in curve), capacity, (bid_id,))


def test_a_cheap_vendor_short_of_capacity_shares_the_pool_with_the_runner_up():
    """The issue's case: neither vendor can serve all 5 members; together they serve everyone."""
    members = [demand(n, 1, "10.00") for n in range(1, 6)]
    cheap, runner_up = offer(1, 3, (1, "8.00")), offer(2, 3, (1, "9.00"))
    single = clear(members, [cheap, runner_up], min_quantity=5)
    outcome = clear_split(members, [cheap, runner_up], min_quantity=5)
    assert single is None  # one winner alone cannot reach the tipping point: the pool would fail
    assert outcome is not None
    assert [(w.bid_id, w.quantity) for w in outcome.winners] == [(1, 3), (2, 2)]
    assert outcome.unit_price == Decimal("9.00")  # the runner-up's own price sets the uniform price
    assert [line.commitment_id for line in outcome.winners[0].served] == [1, 2, 3]


def test_one_vendor_alone_wins_when_splitting_would_not_lower_the_price():
    """Fewest winners breaks a tie: a split at the same price and volume only adds deliveries."""
    members = [demand(n, 1, "10.00") for n in range(1, 6)]
    cheap, runner_up = offer(1, 3, (1, "8.00")), offer(2, 10, (1, "9.00"))
    outcome = clear_split(members, [cheap, runner_up], min_quantity=5)
    assert outcome is not None and [(w.bid_id, w.quantity) for w in outcome.winners] == [(2, 5)]


def test_a_bid_filled_below_its_floor_is_dropped_and_the_fill_redone():
    members = [demand(1, 5, "20"), demand(2, 5, "20")]
    cheap = offer(1, 5, (1, "9"))
    bulk = offer(2, 8, (1, "12"), (8, "10"))  # 10.00 only from 8 units
    outcome = clear_split(members, [cheap, bulk], min_quantity=1)
    assert outcome is not None
    # At 10.00 the bulk bid gets 5 units, below its floor of 8, and is dropped (5 served in all);
    # at 12.00 its floor is 1 and both members are served, at the bulk bid's 12.00.
    assert (outcome.unit_price, outcome.served_quantity, outcome.candidate) == (Decimal("12"), 10, Decimal("12"))
    assert [(w.bid_id, w.quantity, w.curve_price) for w in outcome.winners] == [(1, 5, 9), (2, 5, 12)]


def test_nothing_to_clear_is_no_award():
    assert clear_split([], [offer(1, 5, (1, "9"))], min_quantity=1) is None
    assert clear_split([demand(1, 1, "5")], [offer(1, 5, (1, "9"))], min_quantity=1) is None
    assert clear_split([demand(1, 1, "9")], [offer(1, 5, (2, "9"))], min_quantity=1) is None  # below its first tier


@pytest.mark.parametrize("seed", range(3))
def test_larger_random_pools_agree_with_the_literal_rule(seed):
    rng = random.Random(seed)
    members = [demand(n, rng.randint(1, 9), f"{rng.randint(80, 120)}.00") for n in range(1, 301)]
    offers = [
        offer(b, rng.randint(20, 300), (1, f"{rng.randint(100, 120)}.00"), (50, f"{rng.randint(85, 99)}.00"))
        for b in range(1, 26)
    ]
    assert summary(clear_split(members, offers, min_quantity=100)) == reference(members, offers, 100)


def curve(commitment_id: int, *points: tuple[int, str]) -> Demand:
    *smaller, last = [Point(q, Decimal(p)) for q, p in points]
    return Demand(commitment_id, commitment_id, last.quantity, last.max_unit_price, (commitment_id,), tuple(smaller))


def test_a_demand_curve_takes_more_when_the_price_falls():
    """'2 at up to 4.00, 5 at up to 3.50': at 3.50 the member takes 5, at 3.80 only 2."""
    member = curve(1, (2, "4.00"), (5, "3.50"))
    cheap = offer(1, 10, (1, "3.50"))
    outcome = clear_split([member], [cheap], min_quantity=1)
    assert outcome is not None and (outcome.unit_price, outcome.served_quantity) == (Decimal("3.50"), 5)
    dearer = offer(1, 10, (1, "3.80"))
    outcome = clear_split([member], [dearer], min_quantity=1)
    assert outcome is not None and (outcome.unit_price, outcome.served_quantity) == (Decimal("3.80"), 2)
    assert clear_split([member], [offer(1, 10, (1, "4.01"))], min_quantity=1) is None


def test_curves_reach_a_bulk_price_that_flat_demand_would_not():
    """Two members who take more at a lower price unlock the vendor's bulk tier for everyone."""
    members = [curve(1, (1, "10"), (4, "8")), curve(2, (1, "10"), (4, "8"))]
    bulk = offer(1, 10, (1, "10"), (8, "8"))
    outcome = clear_split(members, [bulk], min_quantity=2)
    assert outcome is not None
    assert (outcome.unit_price, outcome.served_quantity) == (Decimal("8"), 8)
    assert [line.quantity for line in outcome.served] == [4, 4]
    single = clear(members, [bulk], min_quantity=2)  # the single rule reads the curves at each tier's price too
    assert single is not None and (single.unit_price, single.served_quantity) == (Decimal("8"), 8)


@pytest.mark.parametrize("seed", range(3))
def test_larger_random_pools_with_curves_agree_with_the_literal_rule(seed):
    rng = random.Random(100 + seed)
    members = []
    for n in range(1, 201):
        first = rng.randint(1, 4)
        points = [(first, f"{rng.randint(105, 120)}.00")]
        if rng.random() < 0.5:
            points.append((first + rng.randint(1, 6), f"{rng.randint(85, 104)}.00"))
        members.append(curve(n, *points))
    offers = [
        offer(b, rng.randint(20, 300), (1, f"{rng.randint(100, 120)}.00"), (50, f"{rng.randint(85, 99)}.00"))
        for b in range(1, 21)
    ]
    assert summary(clear_split(members, offers, min_quantity=100)) == reference(members, offers, 100)


@RELAXED
@given(demand_lists(max_size=15, max_quantity=8), offer_lists(max_capacity=25, max_tier=15))
def test_the_merit_order_bound_never_falls_below_what_a_fill_serves(demands, offers):
    """The search skips a candidate price by this bound, so it must hold at every price."""
    book = split._Members(demands)
    bids = split._in_merit_order(offers)
    for price in {tier.unit_price for offer in offers for tier in offer.tiers}:
        taking = [quantity_at(d.points, price) for d in book.order]
        fill = split._fill_at(book, bids, price)
        bound = split._merit_bound(bids, price, sum(taking), max(taking, default=0))
        assert bound >= (fill.served if fill else 0)
