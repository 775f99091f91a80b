"""The simulated marketplace's population: vendors with a hidden quality, buyers, attackers."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.reputation.trust import Rating

START = datetime(2025, 1, 1, tzinfo=UTC)  # day 0 of the simulated year

SCENARIOS = ("none", "passive", "ballot", "badmouth", "whitewash", "turnbad", "passive_mediocre", "retaliate_open",
             "retaliate_blind")  # fmt: skip
# The attacker's vendors when it does nothing special: the baseline of its gain in other scenarios.
PASSIVE = {"ballot": "passive", "badmouth": "passive", "whitewash": "passive",
           "retaliate_open": "passive_mediocre", "retaliate_blind": "passive_mediocre"}  # fmt: skip
ATTACKS = ("ballot", "badmouth", "whitewash", "turnbad", "retaliate_open", "retaliate_blind")


@dataclass(frozen=True)
class SimConfig:
    """Fixed settings of the simulated market (not tuned per scorer)."""

    days: int = 365
    attack_start: int = 60  # attacks begin after a two-month warm-up
    vendors: int = 200  # honest vendors selling from day 0
    vendor_arrivals: int = 20  # honest vendors opening during the year
    buyers: int = 2000  # honest buyers at day 0
    buyer_arrivals: int = 400  # honest buyers joining during the year
    candidates: int = 5  # vendors a buyer compares for one purchase
    choice_noise: float = 0.15  # sd of a buyer's taste, on the percentile scale of displayed scores
    good_quality: float = 0.8  # a vendor whose outcome is good this often or more is "good"
    fee: float = 0.05  # platform fee: what a round-trip fake transaction costs the attacker
    fake_rate: float = 0.5  # fake transactions per sybil per day
    fake_amount: tuple[int, int] = (100, 200)  # minor units: "tiny" transactions
    history_days: int = 90  # established vendors and buyers traded (at random) this long before day 0
    window_days: int = 14  # double-blind: a lone rating is revealed when this window closes
    full_every: int = 28  # days between full trust recomputes (incremental updates in between)


_DAYS = [START + timedelta(days=day) for day in range(-6 * 365, 2 * 365)]


def day_time(day: int) -> datetime:
    """Return the moment of a simulated day."""
    return _DAYS[day + 6 * 365]


@dataclass
class Vendor:
    """A real vendor: its current account (identity) can change when it whitewashes."""

    index: int
    ident: int  # current account id
    born: int  # day the current account was created
    quality: float  # chance that an order goes well
    joins: int = 0  # first day it sells
    is_attacker: bool = False
    turn_day: int | None = None  # turned-bad attack: the day quality drops to bad_quality
    bad_quality: float = 0.0
    ident_sales: int = 0
    retaliations: int = 0  # negatives it gave in visible reply to a buyer's negative

    def quality_on(self, day: int) -> float:
        """Return the chance of a good outcome for an order placed on `day`."""
        return self.bad_quality if self.turn_day is not None and day >= self.turn_day else self.quality


@dataclass
class Buyer:
    """An honest buyer: shops at its own rate, pays reliably, fears retaliation once bitten."""

    ident: int
    joins: int
    rate: float  # purchases per day
    median_minor: int  # typical basket value
    reliability: float  # chance it pays promptly
    fear: int = 0  # times a vendor retaliated against its negative rating


@dataclass
class World:
    """Everyone in one simulated market, and each account's creation time."""

    config: SimConfig
    scenario: str
    vendors: list[Vendor]
    buyers: list[Buyer]
    sybils: list[int]
    born: dict[int, datetime] = field(default_factory=dict)
    next_ident: int = 0

    def new_ident(self, day: int) -> int:
        """Open a new account on `day` and return its id."""
        ident = self.next_ident
        self.next_ident += 1
        self.born[ident] = day_time(day)
        return ident

    @property
    def attackers(self) -> list[Vendor]:
        """Return the attacker's vendors."""
        return [v for v in self.vendors if v.is_attacker]


def attacker_count(honest: int, share: float) -> int:
    """Return how many attacker accounts make `share` of all accounts of a kind."""
    return round(honest * share / (1.0 - share)) if share > 0 else 0


def build_world(config: SimConfig, scenario: str, share: float, seed: int) -> World:
    """Build the population of one scenario; the honest part is the same for every scenario."""
    world = World(config, scenario, [], [], [])
    honest = random.Random(f"{seed}-honest")
    for k in range(config.vendors + config.vendor_arrivals):
        joins = 0 if k < config.vendors else honest.randrange(config.attack_start, config.days - 30)
        born = joins - (int(honest.uniform(30, 5 * 365)) if joins == 0 else 0)
        ident = world.new_ident(born)
        world.vendors.append(Vendor(k, ident, born, honest.betavariate(9, 1), joins))
    for k in range(config.buyers + config.buyer_arrivals):
        joins = 0 if k < config.buyers else honest.randrange(1, config.days)
        born = joins - (int(honest.uniform(0, 3 * 365)) if joins == 0 else 0)
        rate, median = 1 / honest.uniform(7, 40), int(honest.lognormvariate(8.2, 0.5))
        world.buyers.append(Buyer(world.new_ident(born), joins, rate, median, honest.uniform(0.95, 1.0)))
    if scenario != "none":
        _add_attackers(world, share, random.Random(f"{seed}-attack"))
    return world


def _add_attackers(world: World, share: float, rng: random.Random) -> None:
    """Add the attacker's vendors and (for attacks that use them) its sybil buyers."""
    config = world.config
    for _ in range(attacker_count(config.vendors, share)):
        index = len(world.vendors)
        quality, bad = rng.uniform(0.3, 0.7), 0.0  # scam vendors: most orders go wrong
        turn_day = None
        if world.scenario in ("passive_mediocre", "retaliate_open", "retaliate_blind"):
            quality = rng.uniform(0.6, 0.8)  # just below good: what silenced negatives would hide
        elif world.scenario == "turnbad":  # builds a reputation first, then cashes it in
            quality, bad, turn_day = rng.uniform(0.9, 0.98), rng.uniform(0.1, 0.3), rng.randrange(150, 250)
        # The attacker opens its accounts at day 0, two months before striking: not brand new. A
        # vendor that turns bad is an established one, with the history of an honest vendor.
        born = -int(rng.uniform(30, 5 * 365)) if turn_day is not None else 0
        vendor = Vendor(index, world.new_ident(born), born, quality, 0, True, turn_day, bad)
        world.vendors.append(vendor)
    if world.scenario in ("ballot", "badmouth"):
        world.sybils = [world.new_ident(0) for _ in range(attacker_count(config.buyers, share))]


def buyer_rating(rng: random.Random, good: bool) -> int | None:
    """Return an honest buyer's rating of an outcome, with the noise real feedback has, or None."""
    if good:
        if rng.random() >= 0.7:
            return None
        draw = rng.random()
        return 1 if draw < 0.92 else 0 if draw < 0.98 else -1
    if rng.random() >= 0.85:
        return None
    draw = rng.random()
    return -1 if draw < 0.7 else 0 if draw < 0.9 else 1


def vendor_rating(rng: random.Random, reliability: float) -> int | None:
    """Return an honest vendor's rating of a buyer (paid promptly or not), or None."""
    if rng.random() >= 0.7:
        return None
    if rng.random() < reliability:
        return 1
    return -1 if rng.random() < 0.5 else 0


def prehistory(world: World, seed: int) -> list[Rating]:
    """Return the ratings of the months before day 0, when established accounts traded at random."""
    rng, config = random.Random(f"{seed}-history"), world.config
    sellers = [v for v in world.vendors if v.joins == 0 and v.born < 0]
    ratings: list[Rating] = []
    for buyer in (b for b in world.buyers if b.joins == 0):
        day = max(-config.history_days, (world.born[buyer.ident] - START).days)
        while (day := day + 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - buyer.rate))) < -10:
            vendor = rng.choice(sellers)
            if vendor.born > day:
                continue  # that vendor did not exist yet
            vendor.ident_sales += 1
            amount = max(1, int(buyer.median_minor * math.exp(rng.gauss(0.0, 0.5))))
            value = buyer_rating(rng, rng.random() < vendor.quality)
            if value is not None:
                ratings.append(
                    Rating(buyer.ident, vendor.ident, value, amount, day_time(day + 5), world.born[buyer.ident])
                )
            value = vendor_rating(rng, buyer.reliability)
            if value is not None:
                ratings.append(
                    Rating(vendor.ident, buyer.ident, value, amount, day_time(day + 3), world.born[vendor.ident])
                )
    ratings.sort(key=lambda r: r.created_at)
    return ratings
