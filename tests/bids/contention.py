"""Worker processes for the contention test: real vendors and members on separate connections."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids import award
from app.bids import service as bids
from app.bids.rules import Tier
from app.bids.service import has_active_bid
from app.clock import utcnow
from app.db.base import serialize_sqlite_writers
from app.errors import DomainError
from app.pools import commitments
from app.pools.curves import Point
from app.reputation.scores import price_factors, trust_of


def engine_for(url: str) -> Engine:
    """An engine configured as the app configures its own (SQLite's writers serialized)."""
    engine = create_engine(url)
    serialize_sqlite_writers(engine)
    return engine


def vendor_bids(url: str, pool_id: int, vendor_id: int, rounds: int, seed: int, results: Any) -> None:
    """Bid `rounds` times, each a little lower; report the ids of the bids that were accepted."""
    engine = engine_for(url)
    rng = random.Random(seed)
    price, accepted, refused = Decimal(100) + rng.randrange(0, 500) / Decimal(100), [], 0
    with Session(engine) as session:
        vendor = session.get(User, vendor_id)
        assert vendor is not None
        for _ in range(rounds):
            price -= Decimal(rng.randrange(1, 80)) / Decimal(100)
            curve = [Tier(1, price), Tier(rng.randrange(20, 60), price - Decimal("0.50"))]
            try:
                bid = bids.place(
                    session,
                    pool_id=pool_id,
                    vendor=vendor,
                    tiers=curve,
                    capacity=10_000,
                    now=utcnow(),
                    trust_of=trust_of,
                ).bid
                session.commit()
                accepted.append(bid.id)
            except DomainError:
                session.rollback()
                refused += 1
    engine.dispose()
    results.put(("vendor", accepted, refused))


def member_joins(url: str, pool_id: int, member_ids: list[int], seed: int, results: Any) -> None:
    """Join the pool (and change the commitment once) for each member."""
    engine = engine_for(url)
    rng = random.Random(seed)
    with Session(engine) as session:
        for member_id in member_ids:
            member = session.get(User, member_id)
            assert member is not None
            for _ in range(2):
                commitments.commit(
                    session,
                    bids_on_pool=has_active_bid,
                    pool_id=pool_id,
                    member=member,
                    points=(Point(rng.randrange(1, 6), Decimal(200)),),
                    now=utcnow(),
                )
                session.commit()
    engine.dispose()
    results.put(("members", member_ids, 0))


def close_at_once(url: str, pool_id: int, organiser_id: int, results: Any) -> None:
    """Close the pool as its organiser; report the status it ended in, or the error."""
    engine = engine_for(url)
    with Session(engine) as session:
        organiser = session.get(User, organiser_id)
        assert organiser is not None
        try:
            pool = award.close_pool(
                session, pool_id=pool_id, actor=organiser, now=utcnow(), price_factors=price_factors
            )
            session.commit()
            outcome = pool.status
        except Exception as exc:
            outcome = f"error: {type(exc).__name__}: {exc}"
    engine.dispose()
    results.put(("closer", outcome))


def withdraw_each(url: str, pool_id: int, member_ids: list[int], results: Any) -> None:
    """Withdraw each member's commitment; report the members whose withdrawal was accepted."""
    engine = engine_for(url)
    left = []
    with Session(engine) as session:
        for member_id in member_ids:
            member = session.get(User, member_id)
            assert member is not None
            try:
                commitments.withdraw(session, pool_id=pool_id, member=member, now=utcnow())
                session.commit()
                left.append(member_id)
            except DomainError:
                session.rollback()
    engine.dispose()
    results.put(("withdrawer", left))
