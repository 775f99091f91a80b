"""Hand-worked cases for the auction rules and the clearing (no database, no Flask app)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from app.bids import clearing
from app.bids.rules import (
    Demand,
    InvalidBid,
    Offer,
    ServedLine,
    Tier,
    best_price_curve,
    clear,
    evaluate_offer,
    fingerprint,
    improves_on,
    next_price_drop,
    price_at,
    rank_offers,
    required_to_lead,
    soft_close,
    validate_tiers,
)
from app.money import minor_amount

D = Decimal


def demand(cid: int, quantity: int, max_price: str, joined: int | None = None) -> Demand:
    """Build a commitment; member id is 100 + cid and it joins in cid order by default."""
    return Demand(cid, 100 + cid, quantity, D(max_price), (cid if joined is None else joined, cid))


def offer(
    bid_id: int,
    tiers: list[tuple[int, str]],
    capacity: int,
    *,
    order: int | None = None,
    factor: str = "1",
) -> Offer:
    """Build a bid from (min_quantity, price) pairs; it is placed in bid_id order by default."""
    curve = tuple(Tier(q, D(p)) for q, p in tiers)
    placed = bid_id if order is None else order
    return Offer(bid_id, 200 + bid_id, curve, capacity, (placed, bid_id), D(factor))


def served_ids(outcome: clearing.Outcome | None) -> list[int]:
    """Return the served commitment ids, in the order the outcome lists them."""
    assert outcome is not None
    return [line.commitment_id for line in outcome.served]


# --- clearing: when the pool fails -----------------------------------------------------------


def test_a_pool_without_bids_fails() -> None:
    assert clear([demand(1, 10, "5")], [], min_quantity=1) is None


def test_a_pool_without_commitments_fails() -> None:
    assert clear([], [offer(1, [(1, "4")], 100)], min_quantity=1) is None


def test_a_pool_below_its_min_quantity_fails() -> None:
    demands = [demand(1, 10, "5"), demand(2, 20, "5")]
    assert clear(demands, [offer(1, [(1, "4")], 100)], min_quantity=31) is None


def test_a_pool_exactly_at_its_min_quantity_is_awarded() -> None:
    demands = [demand(1, 10, "5"), demand(2, 20, "5")]
    outcome = clear(demands, [offer(1, [(1, "4")], 100)], min_quantity=30)
    assert outcome is not None and outcome.served_quantity == 30


def test_a_bid_whose_capacity_is_below_the_pools_min_quantity_is_infeasible() -> None:
    demands = [demand(1, 10, "5"), demand(2, 20, "5")]
    assert clear(demands, [offer(1, [(1, "4")], 25)], min_quantity=26) is None


def test_a_bid_whose_tiers_are_all_unreachable_is_infeasible() -> None:
    demands = [demand(1, 10, "5"), demand(2, 20, "5")]
    assert clear(demands, [offer(1, [(40, "4"), (80, "3")], 100)], min_quantity=1) is None


def test_members_who_cannot_afford_any_tier_leave_the_bid_infeasible() -> None:
    demands = [demand(1, 10, "3.99"), demand(2, 20, "2")]
    assert clear(demands, [offer(1, [(1, "4")], 100)], min_quantity=1) is None


# --- clearing: one bid -------------------------------------------------------------------------


def test_a_member_whose_max_equals_the_price_is_served() -> None:
    outcome = clear([demand(1, 10, "4.0000")], [offer(1, [(1, "4")], 100)], min_quantity=1)
    assert served_ids(outcome) == [1]


def test_a_member_whose_max_is_a_hair_below_the_price_is_not_served() -> None:
    demands = [demand(1, 10, "3.9999"), demand(2, 5, "4")]
    outcome = clear(demands, [offer(1, [(1, "4")], 100)], min_quantity=1)
    assert served_ids(outcome) == [2]


def test_an_unreachable_cheap_tier_falls_back_to_a_dearer_reachable_one() -> None:
    demands = [demand(1, 10, "5"), demand(2, 20, "5")]
    outcome = clear(demands, [offer(1, [(1, "5"), (50, "4")], 100)], min_quantity=1)
    assert outcome is not None and outcome.unit_price == D("5")


def test_the_cheapest_tier_serves_members_who_could_not_afford_the_dearer_ones() -> None:
    demands = [demand(1, 30, "5"), demand(2, 20, "4")]
    outcome = clear(demands, [offer(1, [(1, "5"), (40, "4")], 100)], min_quantity=1)
    assert outcome is not None and (outcome.unit_price, served_ids(outcome)) == (D("4"), [1, 2])


def test_a_commitment_too_big_for_what_is_left_is_skipped_and_a_later_smaller_one_fits() -> None:
    demands = [demand(1, 6, "5"), demand(2, 5, "5"), demand(3, 4, "5")]
    outcome = clear(demands, [offer(1, [(1, "4")], 10)], min_quantity=1)
    assert served_ids(outcome) == [1, 3]


def test_a_fill_that_skips_a_big_commitment_can_end_short_of_a_tier() -> None:
    # Capacity 10: commitment 1 takes 1 unit, commitment 2 (10 units) no longer fits, so only
    # 1 unit is filled although 11 are eligible: the 2-unit tier is out of reach.
    demands = [demand(1, 1, "5"), demand(2, 10, "5")]
    assert clear(demands, [offer(1, [(2, "4")], 10)], min_quantity=1) is None


def test_capacity_is_filled_in_join_order_not_in_id_order() -> None:
    demands = [demand(1, 6, "5", joined=9), demand(2, 6, "5", joined=1)]
    outcome = clear(demands, [offer(1, [(1, "4")], 10)], min_quantity=1)
    assert served_ids(outcome) == [2]


def test_equal_join_orders_are_ordered_by_commitment_id() -> None:
    demands = [Demand(7, 107, 6, D(5), (1,)), Demand(3, 103, 6, D(5), (1,))]
    outcome = clear(demands, [offer(1, [(1, "4")], 10)], min_quantity=1)
    assert served_ids(outcome) == [3]


def test_a_bid_takes_its_cheapest_reachable_tier_even_when_a_dearer_one_fills_more() -> None:
    # At 5.00 commitments 2 and 3 fill all 10 units; at 4.00 commitment 1 joined first and
    # leaves room for 3 only: 9 units. The cheapest reachable tier wins, so 9 at 4.00.
    demands = [demand(1, 5, "4"), demand(2, 6, "5"), demand(3, 4, "5")]
    outcome = clear(demands, [offer(1, [(1, "5"), (5, "4")], 10)], min_quantity=1)
    assert outcome is not None
    assert (outcome.unit_price, outcome.served_quantity, served_ids(outcome)) == (D(4), 9, [1, 3])


def test_everyone_served_pays_the_curve_price_at_the_served_quantity() -> None:
    # The 4.00 tier is unreachable (at 4.00 commitment 1 crowds out commitment 2), but the
    # 5.00 tier fills 30 units, and the curve's price at 30 units is 4.00.
    demands = [demand(1, 5, "4"), demand(2, 28, "5"), demand(3, 2, "5")]
    outcome = clear(demands, [offer(1, [(10, "5"), (30, "4")], 32)], min_quantity=1)
    assert outcome is not None
    assert (outcome.unit_price, served_ids(outcome)) == (D(4), [2, 3])


def test_served_lines_carry_member_and_quantity() -> None:
    outcome = clear([demand(1, 7, "5")], [offer(1, [(1, "4")], 100)], min_quantity=1)
    assert outcome is not None and outcome.served == (ServedLine(1, 101, 7),)


def test_the_outcome_names_the_bid_and_its_vendor() -> None:
    outcome = clear([demand(1, 7, "5")], [offer(3, [(1, "4")], 100)], min_quantity=1)
    assert outcome is not None and (outcome.bid_id, outcome.vendor_id) == (3, 203)


# --- clearing: between bids ----------------------------------------------------------------------


def test_the_bid_serving_more_wins_over_a_cheaper_one() -> None:
    demands = [demand(1, 10, "5"), demand(2, 10, "5")]
    bids = [offer(1, [(1, "3")], 10), offer(2, [(1, "4")], 20)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and outcome.bid_id == 2


def test_between_bids_serving_the_same_quantity_the_lower_price_wins() -> None:
    demands = [demand(1, 10, "5")]
    bids = [offer(1, [(1, "4.20")], 10), offer(2, [(1, "4.10")], 10)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and outcome.bid_id == 2


def test_between_equal_quantity_and_price_the_earlier_bid_wins() -> None:
    demands = [demand(1, 10, "5")]
    bids = [offer(1, [(1, "4")], 10, order=5), offer(2, [(1, "4")], 10, order=2)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and outcome.bid_id == 2


def test_between_bids_equal_in_everything_the_lower_bid_id_wins() -> None:
    demands = [demand(1, 10, "5")]
    bids = [offer(9, [(1, "4")], 10, order=1), offer(4, [(1, "4")], 10, order=1)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and outcome.bid_id == 4


def test_the_price_factor_decides_between_bids_but_the_raw_price_is_charged() -> None:
    demands = [demand(1, 10, "5")]
    bids = [offer(1, [(1, "4.00")], 10, factor="1.1"), offer(2, [(1, "4.20")], 10)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and (outcome.bid_id, outcome.unit_price) == (2, D("4.20"))


def test_a_feasible_bid_wins_over_an_infeasible_cheaper_one() -> None:
    demands = [demand(1, 10, "5")]
    bids = [offer(1, [(20, "1")], 100), offer(2, [(1, "4.50")], 100)]
    outcome = clear(demands, bids, min_quantity=1)
    assert outcome is not None and outcome.bid_id == 2


def test_evaluate_offer_gives_a_losing_bids_own_outcome() -> None:
    demands = [demand(1, 10, "5"), demand(2, 10, "5")]
    outcome = evaluate_offer(demands, offer(1, [(1, "3")], 10), min_quantity=1)
    assert outcome is not None and (outcome.served_quantity, outcome.unit_price) == (10, D(3))


def test_evaluate_offer_of_an_infeasible_bid_is_none() -> None:
    outcome = evaluate_offer([demand(1, 10, "5")], offer(1, [(11, "3")], 100), min_quantity=1)
    assert outcome is None


def test_rank_offers_lists_feasible_bids_in_award_order() -> None:
    demands = [demand(1, 10, "5"), demand(2, 10, "5")]
    bids = [offer(1, [(1, "3")], 10), offer(2, [(1, "4")], 20), offer(3, [(50, "1")], 99)]
    assert rank_offers(demands, bids, min_quantity=1) == [2, 1]


# --- clearing: inputs it refuses ----------------------------------------------------------------


def test_a_bid_whose_price_rises_with_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid curve"):
        clear([demand(1, 10, "5")], [offer(1, [(1, "3"), (5, "4")], 10)], min_quantity=1)


def test_duplicate_commitment_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate commitment_id"):
        clear([demand(1, 10, "5"), demand(1, 3, "5")], [], min_quantity=1)


def test_duplicate_bid_ids_are_refused() -> None:
    bids = [offer(1, [(1, "3")], 10), offer(1, [(1, "4")], 10)]
    with pytest.raises(ValueError, match="duplicate bid_id"):
        clear([demand(1, 10, "5")], bids, min_quantity=1)


def test_a_commitment_of_zero_units_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 unit"):
        clear([demand(1, 0, "5")], [offer(1, [(1, "3")], 10)], min_quantity=1)


# --- price_at ---------------------------------------------------------------------------------


CURVE = (Tier(10, D("3.50")), Tier(40, D("3.10")), Tier(100, D("2.90")))


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(9, None), (10, D("3.50")), (39, D("3.50")), (40, D("3.10")), (1000, D("2.90"))],
)
def test_price_at_takes_the_last_tier_started_by_the_quantity(quantity: int, expected: Decimal | None) -> None:
    assert price_at(CURVE, quantity) == expected


def test_price_at_does_not_depend_on_the_order_tiers_are_listed_in() -> None:
    assert price_at(tuple(reversed(CURVE)), 45) == D("3.10")


# --- fingerprint --------------------------------------------------------------------------------


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    digest = fingerprint([demand(1, 5, "5")], [offer(1, [(1, "4")], 10)], 1)
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_fingerprint_changes_when_a_quantity_changes() -> None:
    bids = [offer(1, [(1, "4")], 10)]
    assert fingerprint([demand(1, 5, "5")], bids, 1) != fingerprint([demand(1, 6, "5")], bids, 1)


def test_fingerprint_changes_with_the_pools_min_quantity() -> None:
    demands, bids = [demand(1, 5, "5")], [offer(1, [(1, "4")], 10)]
    assert fingerprint(demands, bids, 1) != fingerprint(demands, bids, 2)


def test_fingerprint_treats_equal_prices_written_differently_as_equal() -> None:
    bids = [offer(1, [(1, "4")], 10)]
    assert fingerprint([demand(1, 5, "3.1")], bids, 1) == fingerprint([demand(1, 5, "3.1000")], bids, 1)


def test_fingerprint_treats_the_same_instant_in_two_zones_as_equal() -> None:
    utc = datetime(2025, 3, 1, 12, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    first = Demand(1, 101, 5, D(5), (utc, 1))
    second = Demand(1, 101, 5, D(5), (paris, 1))
    assert fingerprint([first], [], 1) == fingerprint([second], [], 1)


def test_fingerprint_refuses_a_join_order_it_cannot_encode_canonically() -> None:
    with pytest.raises(TypeError):
        fingerprint([Demand(1, 101, 5, D(5), (object(), 1))], [], 1)


# --- money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "price", "exponent", "expected"),
    [
        (7, "3.1000", 2, 2170),
        (3, "1.0050", 2, 302),  # 301.5 minor units: half to even goes up to 302
        (1, "0.1250", 2, 12),  # 12.5 minor units: half to even goes down to 12
        (1, "0.1350", 2, 14),  # 13.5 minor units: half to even goes up to 14
        (1, "1.5", 0, 2),  # a currency without minor units (JPY): 1.5 -> 2
        (1, "2.5", 0, 2),  # ... and 2.5 -> 2
        (3, "333.5", 0, 1000),  # 1000.5 -> 1000
        (10**9, "0.0001", 2, 10_000_000),  # large quantities stay exact
        (4, "2.1234", 3, 8494),  # three-digit currencies (8.4936 -> 8494 thousandths)
    ],
)
def test_line_amount_is_quantity_times_price_rounded_half_even_to_minor_units(
    quantity: int, price: str, exponent: int, expected: int
) -> None:
    assert minor_amount(quantity, D(price), exponent) == expected


def test_line_amount_refuses_a_negative_exponent() -> None:
    with pytest.raises(ValueError):
        minor_amount(1, D(1), -1)


# --- validate_tiers -----------------------------------------------------------------------------


def tiers(*pairs: tuple[int, str]) -> list[Tier]:
    """Build a curve from (min_quantity, price) pairs."""
    return [Tier(q, D(p)) for q, p in pairs]


def errors_of(curve: list[Tier], capacity: int) -> dict[str, list[str]]:
    """Return the per-field errors validate_tiers raises (empty when it accepts)."""
    try:
        validate_tiers(curve, capacity)
    except InvalidBid as error:
        return error.errors
    return {}


def test_a_valid_curve_is_accepted() -> None:
    assert errors_of(tiers((1, "3.50"), (40, "3.10"), (100, "3.10")), 500) == {}


def test_a_curve_needs_a_tier() -> None:
    assert errors_of([], 10) == {"tiers": ["a bid needs at least one tier"]}


def test_a_curve_may_have_twenty_tiers() -> None:
    assert errors_of([Tier(q, D("5")) for q in range(1, 21)], 100) == {}


def test_a_curve_may_not_have_twenty_one_tiers() -> None:
    errors = errors_of([Tier(q, D("5")) for q in range(1, 22)], 100)
    assert errors == {"tiers": ["a bid may have at most 20 tiers (this one has 21)"]}


def test_a_tier_must_start_at_one_unit_or_more() -> None:
    errors = errors_of(tiers((0, "3")), 10)
    assert errors == {"tiers": ["tier 1: minimum quantity must be at least 1 (it is 0)"]}


def test_tier_quantities_must_rise_strictly() -> None:
    errors = errors_of(tiers((1, "3"), (40, "2.9"), (40, "2.8")), 100)
    assert errors["tiers"] == [
        "tier 3: minimum quantity 40 is not above tier 2's 40; each tier must start at a larger quantity"
    ]


def test_a_price_must_be_above_zero() -> None:
    assert errors_of(tiers((1, "0")), 10) == {"tiers": ["tier 1: price 0 must be above zero"]}


def test_a_price_may_not_rise_with_quantity() -> None:
    errors = errors_of(tiers((1, "3.50"), (10, "3.10"), (20, "3.20")), 100)
    assert errors["tiers"] == ["tier 3: price 3.20 is above tier 2's 3.10; prices may not rise with quantity"]


def test_a_price_may_have_four_decimal_places() -> None:
    assert errors_of(tiers((1, "3.1234")), 10) == {}


def test_a_price_may_not_have_five_decimal_places() -> None:
    errors = errors_of(tiers((1, "3.12345")), 10)
    assert errors == {"tiers": ["tier 1: price 3.12345 has more than 4 decimal places"]}


def test_trailing_zeros_do_not_count_as_decimal_places() -> None:
    assert errors_of(tiers((1, "3.100000")), 10) == {}


def test_a_float_price_is_refused() -> None:
    errors = errors_of([Tier(1, 3.5)], 10)  # type: ignore[arg-type]
    assert errors == {"tiers": ["tier 1: price must be a decimal number"]}


def test_capacity_must_cover_the_first_tier() -> None:
    errors = errors_of(tiers((10, "3")), 9)
    assert errors == {"capacity": ["capacity 9 is below tier 1's minimum quantity 10; the bid could never be served"]}


def test_problems_of_both_fields_are_reported_together() -> None:
    errors = errors_of(tiers((10, "3"), (5, "-1")), 0)
    assert set(errors) == {"tiers", "capacity"} and len(errors["tiers"]) == 2


def test_invalid_bid_message_joins_every_problem() -> None:
    with pytest.raises(InvalidBid, match="tier 1: price 0 must be above zero"):
        validate_tiers(tiers((1, "0")), 10)


# --- improves_on ---------------------------------------------------------------------------------


PREVIOUS = tiers((10, "3.50"), (40, "3.10"))


def test_a_revision_cheaper_at_the_current_demand_improves() -> None:
    assert improves_on(PREVIOUS, tiers((10, "3.50"), (40, "3.05")), demand=45)


def test_a_revision_at_the_same_price_does_not_improve() -> None:
    assert not improves_on(PREVIOUS, tiers((1, "3.10")), demand=45)


def test_a_revision_cheaper_only_elsewhere_on_the_curve_does_not_improve() -> None:
    assert not improves_on(PREVIOUS, tiers((10, "3.40"), (40, "3.20")), demand=45)


def test_below_the_previous_first_tier_the_revision_is_compared_at_that_tier() -> None:
    assert improves_on(PREVIOUS, tiers((10, "3.49")), demand=4)


def test_a_revision_with_no_price_at_the_compared_quantity_does_not_improve() -> None:
    assert not improves_on(PREVIOUS, tiers((50, "1.00")), demand=45)


def test_a_first_bid_always_improves() -> None:
    assert improves_on([], tiers((1, "9.99")), demand=45)


# --- required_to_lead ---------------------------------------------------------------------------


def test_to_lead_a_bid_must_beat_the_leader_by_the_decrement() -> None:
    assert required_to_lead(D("3.20"), D("5")) == D("3.0400")


def test_the_price_needed_to_lead_is_rounded_down_to_four_places() -> None:
    assert required_to_lead(D("3.3333"), D("1")) == D("3.2999")  # 3.299967 rounded down


def test_without_a_decrement_a_tie_does_not_lead() -> None:
    assert required_to_lead(D("3.20"), D("0")) == D("3.1999")


def test_below_the_smallest_price_step_nothing_can_lead() -> None:
    assert required_to_lead(D("0.0001"), D("10")) == D("0")


def test_a_decrement_of_a_hundred_percent_is_refused() -> None:
    with pytest.raises(ValueError):
        required_to_lead(D("3.20"), D("100"))


# --- soft_close ------------------------------------------------------------------------------------


CLOSE = datetime(2025, 6, 1, 18, 0, tzinfo=UTC)


def test_a_lead_in_the_last_minutes_extends_the_close_by_the_window() -> None:
    now = CLOSE - timedelta(minutes=3)
    assert soft_close(CLOSE, now, 10, 0, 3) == (CLOSE + timedelta(minutes=10), 1)


def test_a_lead_exactly_at_the_start_of_the_window_extends() -> None:
    now = CLOSE - timedelta(minutes=10)
    assert soft_close(CLOSE, now, 10, 0, 3) == (CLOSE + timedelta(minutes=10), 1)


def test_a_lead_before_the_window_does_not_extend() -> None:
    now = CLOSE - timedelta(minutes=10, seconds=1)
    assert soft_close(CLOSE, now, 10, 0, 3) == (CLOSE, 0)


def test_a_lead_at_or_after_the_close_does_not_extend() -> None:
    assert soft_close(CLOSE, CLOSE, 10, 0, 3) == (CLOSE, 0)


def test_no_more_extensions_once_the_maximum_is_used() -> None:
    now = CLOSE - timedelta(minutes=1)
    assert soft_close(CLOSE, now, 10, 3, 3) == (CLOSE, 3)


def test_a_zero_minute_window_never_extends() -> None:
    now = CLOSE - timedelta(seconds=1)
    assert soft_close(CLOSE, now, 0, 0, 3) == (CLOSE, 0)


# --- price chart -----------------------------------------------------------------------------------


CHART_BIDS = [
    offer(1, [(1, "3.50"), (100, "3.10")], 500),
    offer(2, [(1, "3.40"), (200, "3.20")], 150),
]


def test_the_curve_shows_the_lowest_price_any_bid_offers_at_each_quantity() -> None:
    curve = best_price_curve(CHART_BIDS, [50, 100, 150, 151])
    assert curve == [(50, D("3.40")), (100, D("3.10")), (150, D("3.10")), (151, D("3.10"))]


def test_a_bid_offers_nothing_above_its_capacity() -> None:
    assert best_price_curve([offer(1, [(1, "3")], 10)], [10, 11]) == [(10, D(3)), (11, None)]


def test_the_next_drop_names_the_units_needed_and_the_new_price() -> None:
    assert next_price_drop(CHART_BIDS, 60) == (40, D("3.10"))


def test_there_is_no_next_drop_past_the_cheapest_tier() -> None:
    assert next_price_drop(CHART_BIDS, 100) is None


def test_a_tier_beyond_the_bids_capacity_is_no_drop() -> None:
    assert next_price_drop([offer(1, [(1, "3"), (50, "2")], 49)], 10) is None


def test_without_any_price_yet_the_first_offered_price_is_the_next_drop() -> None:
    assert next_price_drop([offer(1, [(30, "3")], 100)], 0) == (30, D(3))


# --- purity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clearing.py", "rules.py"])
def test_bid_rules_import_nothing_from_flask_or_sqlalchemy(name: str) -> None:
    tree = ast.parse(Path(clearing.__file__).with_name(name).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & {"flask", "sqlalchemy", "flask_sqlalchemy"}
