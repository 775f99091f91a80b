"""One factory per model: build valid objects through the services, with overridable fields."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from app.accounts import service as accounts
from app.accounts import vendors
from app.accounts.models import User
from app.bids import award
from app.bids.models import Bid
from app.bids.service import has_active_bid
from app.pools import commitments, lifecycle
from app.pools import service as pools
from app.pools.curves import Point
from app.pools.models import Commitment, Pool
from app.reputation.scores import price_factors, trust_of

PASSWORD = "correct horse battery"
# Hashing with the production scrypt settings costs ~50 ms; tests that go through the real
# registration path use it, factories share one precomputed hash of the same password.
_FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_seq = itertools.count(1)


def user(
    session: Session, *, now: datetime, email: str | None = None, display_name: str | None = None, **fields: Any
) -> User:
    """A member account whose password is PASSWORD."""
    n = next(_seq)
    fields.setdefault("created_at", now)
    fields.setdefault("email_verified_at", now)  # confirmed, as most tests need; tests/accounts test the rest
    account = User(
        email=(email or f"user{n}@example.com").lower(),
        display_name=display_name or f"User {n}",
        password_hash=_FAST_HASH,
        **fields,
    )
    session.add(account)
    session.commit()
    return account


def vendor(
    session: Session, *, now: datetime, categories: list[str] | None = None, verified: bool = True, **fields: Any
) -> User:
    """A user with a vendor profile serving `categories` (default: solar), verified unless `verified=False`
    (with a payout fingerprint of its own, as if the provider had reported its account complete)."""
    account = user(session, now=now, **fields)
    accounts.become_vendor(
        session, user=account, legal_name=f"{account.display_name} Ltd", categories=categories or ["solar"], now=now
    )
    if verified:
        vendors.set_payout_fingerprint(session, vendor=account, fingerprint=secrets.token_hex(32), now=now)
        vendors.verify_vendor(session, vendor_id=account.id, operator=None, now=now)
    session.commit()
    return account


def pool_values(**overrides: Any) -> dict[str, Any]:
    """Valid settings for a new pool, closing in a week."""
    now = overrides.pop("now")
    values: dict[str, Any] = {
        "title": "Rooftop solar for our street",
        "description": "4 kW systems, installed.",
        "category": "solar",
        "unit": "install",
        "currency": "GBP",
        "min_quantity": 10,
        "max_quantity": None,
        "closes_at": now + timedelta(days=7),
    }
    values.update(overrides)
    # Most tests are about something else than the per-member cap (tests/pools test it): no cap to speak of.
    values.setdefault("max_per_member", values["max_quantity"] or 1_000_000)
    return values


def pool_body(now: datetime, **overrides: Any) -> dict[str, Any]:
    """A valid JSON body for POST /api/v1/pools, closing in a week."""
    body = {
        "title": "Solar for Leeds",
        "description": "4 kW installs",
        "category": "solar",
        "unit": "install",
        "currency": "GBP",
        "min_quantity": 10,
        "closes_at": (now + timedelta(days=7)).isoformat(),
    }
    return body | overrides


def draft_pool(session: Session, *, now: datetime, organiser: User | None = None, **overrides: Any) -> Pool:
    """A pool in draft."""
    organiser = organiser or user(session, now=now)
    pool = pools.create_pool(session, organiser=organiser, values=pool_values(now=now, **overrides), now=now)
    session.commit()
    return pool


def open_pool(session: Session, *, now: datetime, organiser: User | None = None, **overrides: Any) -> Pool:
    """A published pool."""
    pool = draft_pool(session, now=now, organiser=organiser, **overrides)
    lifecycle.publish_pool(session, pool_id=pool.id, actor=pool.organiser, now=now)
    session.commit()
    return pool


def commitment(
    session: Session,
    *,
    pool: Pool,
    now: datetime,
    member: User | None = None,
    quantity: int = 1,
    max_unit_price: str | Decimal = "100",
    points: tuple[tuple[int, str], ...] = (),
) -> Commitment:
    """A member's active commitment to an open pool: one point, or the demand curve `points`."""
    member = member or user(session, now=now)
    made, _ = commitments.commit(
        session,
        bids_on_pool=has_active_bid,
        pool_id=pool.id,
        member=member,
        points=tuple(Point(q, Decimal(p)) for q, p in points) or (Point(quantity, Decimal(max_unit_price)),),
        now=now,
    )
    session.commit()
    return made


def token(session: Session, account: User, *, now: datetime) -> dict[str, str]:
    """An Authorization header with a fresh API token of `account`."""
    _, plain = accounts.create_token(session, user=account, name="tests", now=now)
    session.commit()
    return {"Authorization": f"Bearer {plain}"}


def tiers(*pairs: tuple[int, str]) -> list[Any]:
    """Price tiers from (min_quantity, "price") pairs."""
    from app.bids.rules import Tier

    return [Tier(quantity, Decimal(price)) for quantity, price in pairs]


def bid(
    session: Session,
    *,
    pool: Pool,
    now: datetime,
    vendor: User | None = None,
    curve: tuple[tuple[int, str], ...] = ((1, "100"),),
    capacity: int = 1000,
) -> Any:
    """A vendor's bid on an open pool."""
    from app.bids import service as bids

    vendor = vendor or globals()["vendor"](session, now=now, categories=[pool.category])
    placed = bids.place(
        session, trust_of=trust_of, pool_id=pool.id, vendor=vendor, tiers=tiers(*curve), capacity=capacity, now=now
    ).bid
    session.commit()
    return session.get_one(Bid, placed.id)


def settled_pool(
    session: Session,
    *,
    now: datetime,
    members: int = 2,
    quantity: int = 3,
    price: str = "10",
    organiser: User | None = None,
    member_age_days: int = 0,
    winner: User | None = None,
) -> tuple[Pool, User, list[User]]:
    """A pool closed, awarded and settled (offline gateway): (pool, winning vendor, charged members).

    `winner`: a vendor (of the pool's category, solar) to win it; default a new one."""
    from app.payments import jobs
    from app.payments.offline import OfflineGateway

    pool = open_pool(session, now=now, min_quantity=1, organiser=organiser)
    buyers = [user(session, now=now, created_at=now - timedelta(days=member_age_days)) for _ in range(members)]
    for buyer in buyers:
        commitment(session, pool=pool, now=now, member=buyer, quantity=quantity, max_unit_price=Decimal(price) * 2)
    winner = winner or vendor(session, now=now, categories=[pool.category])
    bid(session, pool=pool, now=now, vendor=winner, curve=((1, price),))
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    session.refresh(pool)
    return pool, winner, buyers
