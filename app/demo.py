"""Realistic demo data, built through the same services the web and API use."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import unit_of_work
from app.accounts import service as accounts
from app.accounts import vendors as vendors_
from app.accounts.identity import parse_identity
from app.accounts.models import User
from app.bids import award
from app.bids import service as bids
from app.bids.rules import Tier
from app.bids.service import has_active_bid
from app.payments import escrow
from app.payments import jobs as payment_jobs
from app.payments.offline import OfflineGateway
from app.pools import commitments, lifecycle
from app.pools import service as pools
from app.pools.curves import Point
from app.pools.models import Pool, PoolStatus
from app.reputation.scores import price_factors, trust_of

DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo login

MEMBERS = [
    "Amira Khan",
    "Ben Walker",
    "Chloé Martin",
    "Dev Patel",
    "Ewa Nowak",
    "Finn O'Brien",
    "Grace Liu",
    "Hamza Ali",
    "Isla Brown",
    "Jonas Berg",
    "Kemi Adeyemi",
    "Liam Murphy",
    "Maya Cohen",
    "Noah Smith",
]
VENDORS = [
    ("SunRoof Installers Ltd", ["solar", "energy"]),
    ("Northern Fuel Co", ["heating", "energy"]),
    ("Bean There Roasters", ["coffee", "groceries"]),
    ("GreenCycle Bikes", ["bikes"]),
    ("HomeGrown Garden Supply", ["home"]),
]

# (title, category, unit, currency, min, max, days open, price range, description, status)
POOLS = [
    (
        "4 kW rooftop solar for Leeds households",
        "solar",
        "install",
        "GBP",
        40,
        300,
        12,
        (4200, 6500),
        "Complete 4 kW systems including scaffolding, inverter and MCS certificate.",
        "open",
    ),
    (
        "Heating oil for Hebden Bridge, November",
        "heating",
        "litre",
        "GBP",
        20000,
        None,
        5,
        ("0.62", "0.80"),
        "Kerosene delivered to homes in HX7 in the week of 20 November.",
        "open",
    ),
    (
        "Green coffee, 2 t for Bristol cafés",
        "coffee",
        "kg",
        "GBP",
        2000,
        4000,
        20,
        ("6.20", "9.50"),
        "Washed Arabica, specialty grade 84+, delivered to a shared warehouse.",
        "open",
    ),
    (
        "Home batteries, 10 kWh",
        "solar",
        "battery",
        "EUR",
        25,
        120,
        9,
        (3900, 5200),
        "10 kWh LFP home batteries with installation, Rhine-Neckar area.",
        "open",
    ),
    (
        "E-cargo bikes for Utrecht families",
        "bikes",
        "bike",
        "EUR",
        15,
        60,
        2,
        (3200, 4500),
        "Two-wheel electric cargo bikes with rain cover and child seats.",
        "completed",
    ),
    (
        "Organic flour, 25 kg sacks",
        "groceries",
        "sack",
        "GBP",
        80,
        None,
        1,
        ("24.00", "34.00"),
        "Stoneground organic wheat flour for a network of home bakers.",
        "settled",
    ),
    (
        "Raised garden beds for the allotment society",
        "home",
        "bed",
        "GBP",
        30,
        100,
        7,
        ("60.00", "95.00"),
        "Larch raised beds, 2 m × 1 m, delivered flat-packed.",
        "awarded",
    ),
    (
        "Heat pumps for Aarhus terraces",
        "heating",
        "install",
        "DKK",
        12,
        40,
        25,
        (55000, 80000),
        "Air-to-water heat pumps, 8 kW, with installation and removal of old boilers.",
        "open",
    ),
    (
        "LED bulbs for the community hall",
        "electronics",
        "bulb",
        "GBP",
        200,
        1000,
        3,
        ("1.80", "3.20"),
        "E27 warm-white 9 W LED bulbs.",
        "failed",
    ),
    (
        "Insulation survey for Victorian terraces",
        "services",
        "survey",
        "GBP",
        20,
        80,
        15,
        ("90.00", "160.00"),
        "A thermal-imaging survey with a written report per house.",
        "draft",
    ),
    (
        "Bulk coffee cups (compostable)",
        "coffee",
        "case",
        "GBP",
        100,
        None,
        10,
        ("18.00", "26.00"),
        "Cases of 1,000 compostable 12 oz cups.",
        "cancelled",
    ),
    (
        "Community energy tariff switch",
        "energy",
        "household",
        "GBP",
        150,
        2000,
        30,
        ("40.00", "60.00"),
        "A collective switch of 150+ households to a renewable fixed tariff; price is the annual standing fee.",
        "open",
    ),
]


def seed_demo(session: Session, *, now: datetime, identity_key: bytes, if_empty: bool = False) -> str:
    """Create demo users, vendors, pools and commitments; return a one-line report."""
    if if_empty and session.scalar(select(func.count(User.id))):
        return "Database already has data; demo seed skipped."
    rng = random.Random(42)
    members = [_user(session, name, now) for name in MEMBERS]
    for number, (legal_name, categories) in enumerate(VENDORS, start=1):
        vendor = _user(session, legal_name.split()[0] + " Sales", now)
        accounts.become_vendor(session, user=vendor, legal_name=legal_name, categories=categories, now=now)
        # Demo vendors are verified (as if the provider had checked them), each with its own bank account.
        identity = parse_identity(
            sort_code=f"40-00-{number:02d}", account_number=f"{number:08d}", tax_number=f"GB{number:09d}"
        )
        vendors_.set_payout_identity(session, vendor=vendor, identity=identity, key=identity_key, now=now)
        vendors_.verify_vendor(session, vendor_id=vendor.id, operator=None, now=now)
    vendors = [accounts.find_user_by_email(session, v[0].split()[0].lower() + ".sales@example.com") for v in VENDORS]
    joined = sum(_pool(session, spec, members, [v for v in vendors if v], rng, now) for spec in POOLS)
    return (
        f"Seeded {len(members)} members, {len(VENDORS)} vendors, {len(POOLS)} pools and {joined} commitments. "
        f"Log in as amira.khan@example.com / {DEMO_PASSWORD}."
    )


def _user(session: Session, name: str, now: datetime) -> User:
    email = name.lower().replace(" ", ".").replace("'", "").replace("é", "e") + "@example.com"
    existing = accounts.find_user_by_email(session, email)
    return existing or accounts.create_confirmed_account(
        session, email=email, password=DEMO_PASSWORD, display_name=name, now=now
    )


def _pool(
    session: Session,
    spec: tuple,
    members: list[User],
    vendors: list[User],
    rng: random.Random,  # type: ignore[type-arg]
    now: datetime,
) -> int:
    title, category, unit, currency, minimum, maximum, days, (low, high), description, status = spec
    organiser = members[rng.randrange(len(members))]
    values = {
        "title": title,
        "category": category,
        "unit": unit,
        "currency": currency,
        "min_quantity": minimum,
        "max_quantity": maximum,
        "closes_at": now + timedelta(days=days, hours=rng.randrange(1, 20)),
        "description": description,
        "auction_kind": rng.choice(["open", "open", "sealed"]),
    }
    pool = pools.create_pool(session, organiser=organiser, values=values, now=now)
    if status == PoolStatus.DRAFT:
        return 0
    lifecycle.publish_pool(session, pool_id=pool.id, actor=organiser, now=now)
    low_price, high_price = Decimal(str(low)), Decimal(str(high))
    tip = status in (PoolStatus.AWARDED, PoolStatus.SETTLED, PoolStatus.COMPLETED)
    count = _join(session, pool.id, members, rng, now, minimum, maximum, low_price, high_price, tip=tip)
    _bid(session, pool.id, category, vendors, minimum, maximum, low_price, high_price, now)
    if status == PoolStatus.CANCELLED:
        lifecycle.cancel_pool(session, pool_id=pool.id, actor=organiser, now=now)
    elif status in (PoolStatus.FAILED, PoolStatus.AWARDED, PoolStatus.SETTLED, PoolStatus.COMPLETED):
        _run_to(session, pool.id, organiser, status, now)
    return count


def _bid(
    session: Session,
    pool_id: int,
    category: str,
    vendors: list[User],
    minimum: int,
    maximum: int | None,
    low: Decimal,
    high: Decimal,
    now: datetime,
) -> None:
    """Vendors serving the category bid a two-tier curve within the members' price range."""
    for n, vendor in enumerate(v for v in vendors if v.vendor_profile and category in v.vendor_profile.categories):
        first = (low + (high - low) * Decimal("0.55") - n).quantize(Decimal("0.01"))
        second = (low + (high - low) * Decimal("0.42") - n).quantize(Decimal("0.01"))
        tiers = [Tier(1, first), Tier(minimum, second)]
        bids.place(
            session,
            trust_of=trust_of,
            pool_id=pool_id,
            vendor=vendor,
            tiers=tiers,
            capacity=(maximum or minimum * 3) * 2,
            now=now,
        )


def _run_to(session: Session, pool_id: int, organiser: User, status: str, now: datetime) -> None:
    """Take a demo pool through its lifecycle: close it, and settle and deliver it if asked."""
    award.close_pool(session, pool_id=pool_id, actor=organiser, now=now, price_factors=price_factors)
    if status in (PoolStatus.SETTLED, PoolStatus.COMPLETED):
        unit_of_work.commit(session)
        payment_jobs.settle_pool(session, OfflineGateway(), pool_id=pool_id, now=now)
    if status == PoolStatus.COMPLETED:  # every member confirms their own delivery; the vendor is paid in one batch
        for line in escrow.lines_of(session, pool_id):
            member = session.get(User, line.member_id)
            assert member is not None
            escrow.confirm_delivery(session, pool_id=pool_id, actor=member, terms=payment_jobs.TERMS, now=now)
        unit_of_work.commit(session)
        payment_jobs.pay_out_pending(session, OfflineGateway(), now=now)


def _join(
    session: Session,
    pool_id: int,
    members: list[User],
    rng: random.Random,
    now: datetime,
    minimum: int,
    maximum: int | None,
    low: Decimal,
    high: Decimal,
    *,
    tip: bool = False,
) -> int:
    """Have some members join with quantities that bring the pool near (or, with `tip`, past) its tipping point.

    About one in three takes more if the price falls: a demand curve of two points.
    """
    per_member = session.get_one(Pool, pool_id).max_per_member
    joiners = rng.sample(members, rng.randrange(4, len(members)))
    share = max(1, int(minimum * (1.4 if tip else rng.uniform(0.5, 1.3))) // len(joiners))
    total = 0
    for member in joiners:
        quantity = max(1, int(share * rng.uniform(0.5, 1.5)))
        if maximum is not None and total + quantity > maximum:
            break
        price = (low + (high - low) * Decimal(rng.randrange(60 if tip else 40, 101)) / 100).quantize(Decimal("0.01"))
        points = [Point(min(quantity, per_member), price)]
        more = points[0].quantity + max(1, quantity // 2)
        if rng.random() < 0.33 and more <= per_member and (maximum is None or total + more <= maximum):
            points.append(Point(more, (price * Decimal("0.93")).quantize(Decimal("0.01"))))
        commitments.commit(
            session, bids_on_pool=has_active_bid, pool_id=pool_id, member=member, points=tuple(points), now=now
        )
        total += points[-1].quantity
    return len(joiners)
