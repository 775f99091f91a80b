"""The trust model (app/reputation/trust.py): hand-worked cases and Hypothesis properties. No database."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reputation.trust import (
    DEFAULT,
    Rating,
    TrustParams,
    TrustTally,
    compute_reputation,
    compute_trust,
    fresh_credibility,
    reputation_adjusted_price,
    trust_for,
    value_weight,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=3 * 365)  # an established account
P = DEFAULT


def rating(rater: int, ratee: int, value: int = 1, amount: int = 5000, days_ago: float = 0, born: datetime = OLD):
    return Rating(rater, ratee, value, amount, NOW - timedelta(days=days_ago), born)


def beta_long(pos: float, neg: float) -> float:
    return (P.prior_mean * P.prior_strength + pos) / (P.prior_strength + pos + neg)


def test_nobody_rated_gives_nothing():
    assert compute_trust([], NOW) == {}


def test_one_rating_from_a_one_partner_rater_works_out_by_hand():
    worth = 1 / (1 + (P.value_ref_minor / 5000) ** P.value_steepness)
    age = 1 - math.exp(-3 * 365 / P.age_scale_days)
    credibility = (1 - math.exp(-worth / P.history_scale)) * (P.trust_floor + (1 - P.trust_floor) * P.prior_mean)
    expected = beta_long(credibility * age * worth, 0.0)  # the recent view only adds good news: min is long-run
    assert compute_trust([rating(1, 2)], NOW)[2] == pytest.approx(expected, rel=1e-12)


def test_an_account_nobody_rated_has_the_prior():
    assert compute_trust([rating(1, 2)], NOW)[1] == P.prior_mean


def test_the_value_weight_is_one_half_at_the_reference_and_tiny_for_tiny_amounts():
    assert value_weight(P.value_ref_minor) == 0.5
    assert value_weight(100) < 0.001
    assert value_weight(0) == value_weight(-5) == 0.0
    assert value_weight(100_000) > 0.99


def test_weight_bought_with_tiny_purchases_costs_more_per_unit_of_money():
    assert value_weight(200) / 200 < value_weight(5000) / 5000 / 4


def test_evidence_halves_every_half_life():
    tally = TrustTally(NOW, pos=8.0, neg=4.0, recent_pos=2.0, recent_neg=1.0)
    later = tally.at(NOW + timedelta(days=P.half_life_days))
    assert (later.pos, later.neg) == pytest.approx((4.0, 2.0))
    assert later.recent_pos == pytest.approx(2.0 * 0.5 ** (P.half_life_days / P.recent_half_life_days))


def test_a_negative_counts_as_several_positives_and_a_neutral_as_half_of_each():
    tally = TrustTally(NOW)
    for value in (1, -1, 0):
        tally = tally.add(rating(1, 2, value), 1.0, 1)
    weight = 1 / (1 + (P.value_ref_minor / 5000) ** P.value_steepness) * (1 - math.exp(-3 * 365 / P.age_scale_days))
    assert tally.pos == pytest.approx(1.5 * weight)
    assert tally.neg == pytest.approx((P.negative_weight + 0.5) * weight)


def test_repeats_from_one_rater_add_up_to_the_square_root_of_their_number():
    tally = TrustTally(NOW)
    for rank in range(1, 10):
        tally = tally.add(rating(1, 2), 1.0, rank)
    single = TrustTally(NOW).add(rating(1, 2), 1.0, 1)
    assert tally.pos == pytest.approx(3 * single.pos)


def test_a_rating_made_when_the_rater_signed_up_does_not_count():
    assert compute_trust([rating(1, 2, born=NOW)], NOW)[2] == P.prior_mean


def test_self_ratings_and_future_ratings_are_ignored():
    future = rating(1, 2, days_ago=-1)
    assert compute_trust([rating(3, 3), future], NOW) == {}


def test_a_recent_run_of_negatives_pulls_trust_down_at_once():
    history = [rating(100 + k, 1, 1, days_ago=30 + 2 * k) for k in range(60)]
    recent = [rating(200 + k, 1, -1, days_ago=k / 2) for k in range(8)]
    before, after = compute_trust(history, NOW)[1], compute_trust(history + recent, NOW)[1]
    result = compute_reputation(history + recent, NOW)
    long_run = beta_long(result.tallies[1].pos, result.tallies[1].neg)
    assert after < long_run < before  # the recent view, not only the long-run one, decides


def test_a_recent_dip_within_the_margin_leaves_the_long_run_view():
    tally = TrustTally(NOW, pos=40.0, neg=6.0, recent_pos=3.0, recent_neg=1.5)
    strict, lenient = TrustParams(recent_margin=0.0), TrustParams(recent_margin=0.1)
    long_run = (strict.prior_mean * strict.prior_strength + 40.0) / (strict.prior_strength + 46.0)
    assert tally.trust(NOW, strict) < long_run - 0.01  # a small dip counts without a margin
    assert tally.trust(NOW, lenient) == pytest.approx(long_run)  # and is ignored with one


def test_a_deep_recent_dip_still_counts_beyond_the_margin():
    tally = TrustTally(NOW, pos=40.0, neg=6.0, recent_pos=1.0, recent_neg=12.0)
    params = TrustParams(recent_margin=0.1)
    recent = tally.trust(NOW, TrustParams(recent_margin=0.0))
    assert tally.trust(NOW, params) == pytest.approx(recent + 0.1)


def test_recent_negatives_weigh_more_in_the_recent_view_only():
    light, heavy = TrustParams(recent_negative_weight=P.negative_weight), TrustParams(recent_negative_weight=8.0)
    light_tally = heavy_tally = TrustTally(NOW)
    for value in (-1, 0):
        light_tally = light_tally.add(rating(1, 2, value), 1.0, 1, light)
        heavy_tally = heavy_tally.add(rating(1, 2, value), 1.0, 1, heavy)
    same = (heavy_tally.pos, heavy_tally.neg, heavy_tally.recent_pos)
    assert same == pytest.approx((light_tally.pos, light_tally.neg, light_tally.recent_pos))
    assert heavy_tally.recent_neg == pytest.approx(8.0 / P.negative_weight * light_tally.recent_neg)


def test_a_burst_of_negatives_after_a_good_record_costs_more_with_heavier_recent_negatives():
    history = [rating(100 + k, 1, 1, days_ago=30 + 2 * k) for k in range(60)]
    burst = [rating(200 + k, 1, -1, days_ago=k) for k in range(4)]
    plain = TrustParams(recent_negative_weight=P.negative_weight, recent_margin=0.0)
    heavy = TrustParams(recent_negative_weight=2 * P.negative_weight, recent_margin=0.0)
    assert compute_trust(history + burst, NOW, heavy)[1] < compute_trust(history + burst, NOW, plain)[1]


@pytest.mark.parametrize("params", [DEFAULT, TrustParams(recent_negative_weight=9.0, recent_margin=0.2)])
def test_incremental_trust_agrees_with_the_full_recompute_whatever_the_recent_view(params):
    rng = random.Random(11)
    ratings = [rating(rng.randrange(1, 30), rng.randrange(30, 40), rng.choice((1, 1, 0, -1)),
                      rng.randrange(100, 9000), rng.uniform(0, 60)) for _ in range(300)]  # fmt: skip
    result = compute_reputation(ratings, NOW, params)
    for ratee in range(30, 40):
        got = trust_for(ratee, ratings, result.credibility, NOW, params)
        assert got == pytest.approx(result.trust[ratee], rel=1e-9)


def test_credibility_grows_with_the_rater_s_trading_history():
    narrow = [rating(1, 50)]
    broad = [rating(2, 60)] + [rating(2, 70 + k) for k in range(10)]
    credibility = compute_reputation(narrow + broad, NOW).credibility
    assert credibility[2] > 3 * credibility[1]


def test_a_ring_that_trades_among_itself_is_discounted():
    ring = [rating(i, j) for i in range(1, 7) for j in range(1, 7) if i != j]
    market = [rating(i, 100 + 10 * i + k) for i in range(11, 17) for k in range(5)]  # same size, open trade
    credibility = compute_reputation(ring + market, NOW).credibility
    assert max(credibility[i] for i in range(1, 7)) < 0.2 * min(credibility[i] for i in range(11, 17))


def test_incremental_trust_agrees_with_the_full_recompute():
    rng = random.Random(7)
    ratings = [rating(rng.randrange(1, 30), rng.randrange(30, 40), rng.choice((1, 1, 0, -1)),
                      rng.randrange(100, 9000), rng.uniform(0, 400)) for _ in range(300)]  # fmt: skip
    result = compute_reputation(ratings, NOW)
    for ratee in range(30, 40):
        assert trust_for(ratee, ratings, result.credibility, NOW) == pytest.approx(result.trust[ratee], rel=1e-9)


def test_an_unknown_rater_counts_as_a_fresh_account():
    alone = rating(1, 2, amount=3000)
    assert trust_for(2, [alone], {}, NOW) == pytest.approx(compute_trust([alone], NOW)[2], rel=1e-12)
    assert fresh_credibility(3000) == pytest.approx(compute_reputation([alone], NOW).credibility[1])


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        compute_trust([], datetime(2026, 1, 1))  # naive on purpose


@pytest.mark.parametrize(
    "change",
    [
        {"prior_mean": 1.0},
        {"half_life_days": 0},
        {"trust_floor": 1.5},
        {"recent_margin": 1.0},
        {"recent_margin": -0.1},
        {"recent_negative_weight": 0},
    ],
)
def test_parameters_are_checked(change):
    with pytest.raises(ValueError):
        TrustParams(**change)


@pytest.mark.parametrize(
    ("price", "trust", "expected"),
    [("10", 1.0, "10.0000"), ("10", 0.5, "10.5000"), ("10", 0.0, "11.0000"), ("3.1234", 0.33333, "3.3316")],
)
def test_the_reputation_adjusted_price_is_price_times_one_plus_k_times_distrust(price, trust, expected):
    adjusted = reputation_adjusted_price(Decimal(price), trust)
    assert adjusted == Decimal(expected)
    assert adjusted.as_tuple().exponent == -4


@pytest.mark.parametrize(("price", "trust"), [("1", math.nan), ("1", 1.01), ("1", -0.1), ("-1", 0.5)])
def test_the_reputation_adjusted_price_refuses_nonsense(price, trust):
    with pytest.raises(ValueError):
        reputation_adjusted_price(Decimal(price), trust)


# Hypothesis: random small marketplaces.
ids = st.integers(min_value=1, max_value=12)
ratings_st = st.builds(
    Rating,
    rater_id=ids,
    ratee_id=ids,
    value=st.sampled_from((1, 0, -1)),
    amount_minor=st.integers(min_value=0, max_value=50_000),
    created_at=st.integers(min_value=0, max_value=900).map(lambda d: NOW - timedelta(days=d)),
    rater_created_at=st.integers(min_value=0, max_value=2000).map(lambda d: NOW - timedelta(days=d)),
)
markets = st.lists(ratings_st, max_size=40)


@settings(max_examples=150, deadline=None)
@given(markets)
def test_trust_lies_in_0_1(ratings):
    assert all(0.0 <= t <= 1.0 for t in compute_trust(ratings, NOW).values())


@settings(max_examples=100, deadline=None)
@given(markets, st.randoms(use_true_random=False))
def test_trust_is_deterministic_whatever_the_order(ratings, rng):
    shuffled = list(ratings)
    rng.shuffle(shuffled)
    assert compute_trust(ratings, NOW) == compute_trust(ratings, NOW)
    once, again = compute_trust(ratings, NOW), compute_trust(shuffled, NOW)
    assert once.keys() == again.keys()
    assert all(again[k] == pytest.approx(v, abs=1e-12) for k, v in once.items())


@settings(max_examples=200, deadline=None)
@given(markets, st.data())
def test_turning_a_rating_positive_never_lowers_its_ratee_s_trust(ratings, data):
    if not ratings:
        return
    index = data.draw(st.integers(min_value=0, max_value=len(ratings) - 1))
    better = list(ratings)
    better[index] = better[index]._replace(value=1)
    ratee = ratings[index].ratee_id
    before, after = compute_trust(ratings, NOW), compute_trust(better, NOW)
    assert after.get(ratee, P.prior_mean) >= before.get(ratee, P.prior_mean) - 1e-12


@settings(max_examples=200, deadline=None)
@given(markets, st.data())
def test_one_more_positive_from_an_existing_rater_never_lowers_trust(ratings, data):
    if not ratings:
        return
    known = data.draw(st.sampled_from(ratings))
    if known.rater_id == known.ratee_id:
        return
    # The newest rating, of the same value as the pair's largest, so the trading graph is unchanged.
    top = max(r.amount_minor for r in ratings if (r.rater_id, r.ratee_id) == (known.rater_id, known.ratee_id))
    more = [*ratings, known._replace(value=1, amount_minor=top, created_at=NOW)]
    before, after = compute_trust(ratings, NOW), compute_trust(more, NOW)
    assert after[known.ratee_id] >= before[known.ratee_id] - 1e-12


@settings(max_examples=100, deadline=None)
@given(markets.map(lambda rs: [r._replace(value=1) for r in rs]), st.integers(min_value=1, max_value=2000))
def test_without_new_ratings_good_standing_decays_toward_the_prior(ratings, days):
    now, later = compute_trust(ratings, NOW), compute_trust(ratings, NOW + timedelta(days=days))
    for account, trust in now.items():
        assert P.prior_mean - 1e-12 <= later[account] <= trust + 1e-12


ring_ratings = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 100_000), st.floats(0, 1), st.integers(1, 3)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ring_ratings)
def test_a_ring_of_new_accounts_rating_each_other_gains_little(edges):
    born = NOW - timedelta(days=1)  # every member signed up within the day before they rate
    seen: dict[tuple[int, int], int] = {}
    ratings = []
    for rater, ratee, amount, hours, _ in edges:
        if seen.setdefault((rater, ratee), 0) < 3:  # at most three ratings per pair
            seen[(rater, ratee)] += 1
            ratings.append(Rating(rater, ratee, 1, amount, born + timedelta(hours=24 * hours), born))
    assert all(t <= P.prior_mean + 0.1 for t in compute_trust(ratings, NOW).values())


def test_the_same_ring_of_established_accounts_does_gain():
    ratings = [rating(i, j) for i in range(8) for j in range(8) if i != j and (i == 0 or j == 0)]
    assert compute_trust(ratings, NOW)[0] > P.prior_mean + 0.3
