"""The attacker's daily moves: ballot stuffing, bad-mouthing and whitewashing.

Turning bad and retaliation are part of how attacker vendors sell and rate (world.py, market.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.reputation.trust import Rating
from bench._sim.world import Vendor, day_time

if TYPE_CHECKING:
    from bench._sim.market import Market

TARGETS = 10  # bad-mouthing hits the vendors that show the ten best scores
RING_TRADES = 0.2  # chance per day that a sybil also trades with another sybil, to look active


def act(market: Market, day: int, active: list[Vendor], scores: dict[int, float]) -> bool:
    """Make the scenario's attack moves for the day; return True when an account changed."""
    scenario = market.world.scenario
    if scenario == "ballot":
        _stuff_ballots(market, day)
    elif scenario == "badmouth":
        _badmouth(market, day, active, scores)
    elif scenario == "whitewash" and day % 7 == 0:
        return _whitewash(market, day, scores)
    return False


def _fake(market: Market, rater: int, ratee: int, value: int, day: int) -> Rating:
    amount = market.attack_rng.randint(*market.config.fake_amount)
    return Rating(rater, ratee, value, amount, day_time(day), market.world.born[rater])


def _stuff_ballots(market: Market, day: int) -> None:
    """Sybils buy tiny items from the attacker's vendors (and each other) and all rate positive."""
    rng, world, config = market.attack_rng, market.world, market.config
    shops = [v for v in world.attackers if v.joins <= day]
    for sybil in world.sybils:
        if rng.random() >= config.fake_rate:
            continue
        partner = rng.choice(shops).ident
        if rng.random() < RING_TRADES:
            partner = rng.choice(world.sybils)
        if partner == sybil:
            continue
        praise = _fake(market, sybil, partner, 1, day)
        back = Rating(partner, sybil, 1, praise.amount_minor, praise.created_at, world.born[partner])
        # Both sides rate at once, so double-blind reveals them the next day; the money goes
        # round the attacker's own accounts, so only the platform fee is lost.
        market.schedule(praise, day + 1, back, day + 1, day + 1)
        market.log.fake_cost += config.fee * praise.amount_minor
        market.log.fake_count += 1


def _badmouth(market: Market, day: int, active: list[Vendor], scores: dict[int, float]) -> None:
    """Sybils buy tiny items from the best-looking honest vendors and rate them negative."""
    rng, world, config = market.attack_rng, market.world, market.config
    honest = sorted((v for v in active if not v.is_attacker), key=lambda v: scores[v.ident], reverse=True)
    targets = honest[:TARGETS]
    for sybil in world.sybils:
        if rng.random() >= config.fake_rate:
            continue
        victim = rng.choice(targets)
        blame = _fake(market, sybil, victim.ident, -1, day)
        reply_day = day + rng.randint(1, 6)
        reply = None  # the honest victim rates the (prompt-paying) sybil like any buyer
        if rng.random() < 0.7:
            reply = Rating(victim.ident, sybil, 1, blame.amount_minor, day_time(reply_day), world.born[victim.ident])
        market.schedule(blame, day + 1, reply, reply_day, day + 3)
        market.log.fake_cost += blame.amount_minor  # the money leaves the attacker for good
        market.log.fake_count += 1


def _whitewash(market: Market, day: int, scores: dict[int, float]) -> bool:
    """Re-register each attacker vendor whose score is below what a fresh account shows."""
    changed = False
    for vendor in market.world.attackers:
        if vendor.joins <= day and scores[vendor.ident] < market.scorer.fresh:
            vendor.ident, vendor.born, vendor.ident_sales = market.world.new_ident(day), day, 0
            changed = True
    return changed
