"""The bid path's SQL, behind plain dataclasses: lock a pool for a bid, read its offers, write a bid.

Placing a bid is the hottest path of an auction, and its locked section is kept short. One lean
statement takes the pool's row lock and reads the bidder's commitment; the next reads the active
bids; both go in one round trip on PostgreSQL (`app.db.bulk.select_in_one_round_trip`). One statement
(on PostgreSQL) retires the previous bid and writes the new one with its audit event. Statements
are built once, in Core, and run on the session's connection, so neither the unit of work nor
statement building runs under the lock. The active bids' curves come back as JSON text, parsed
once per process and text (a bid's curve never changes): every bid on a hot pool reads them all.
The rules that decide what to write are in `app.bids.service.place`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnClause, Select, Table, Text, bindparam, insert, literal_column, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app import audit
from app.bids.models import Bid, BidStatus, tiers_from_json
from app.bids.rules import Offer, Tier
from app.db.bulk import select_in_one_round_trip
from app.errors import NotFound
from app.pools.models import Commitment, Pool


@dataclass(frozen=True)
class BidRow:
    """A bid as written by `write_bid`: what the answer to placing it shows."""

    id: int
    pool_id: int
    vendor_id: int
    tiers: list[dict[str, Any]]  # the stored curve (see app.bids.models.tiers_to_json)
    capacity: int
    demand_at_bid: int
    delivery_window: str
    notes: str
    replaces_id: int | None
    took_lead: bool
    extended_close: bool
    created_at: datetime
    status: str
    withdrawn_at: datetime | None


# The bid path's statements, built once: Core on the models' tables, so no unit of work and no
# statement building or cache-key computing per request while the pool's row lock is held.
_POOLS = cast(Table, Pool.__table__)
_COMMITMENTS = cast(Table, Commitment.__table__)
_BIDS = cast(Table, Bid.__table__)
_AUDIT_EVENTS = cast(Table, audit.AuditEvent.__table__)
_TERMS = (
    "id",
    "status",
    "organiser_id",
    "closes_at",
    "committed_quantity",
    "auction_kind",
    "min_decrement_pct",
    "soft_close_minutes",
    "max_extensions",
    "extensions_used",
    "min_vendor_trust",
    "unit",
    "visibility",
    "allow_unverified_vendors",
)
_LOCK_FOR_BID = (
    select(
        *(_POOLS.c[name] for name in _TERMS),
        _COMMITMENTS.c.status.label("membership"),
    )
    .outerjoin(
        _COMMITMENTS,
        (_COMMITMENTS.c.pool_id == _POOLS.c.id) & (_COMMITMENTS.c.member_id == bindparam("vendor_id")),
    )
    .where(_POOLS.c.id == bindparam("pool_id"))
    .with_for_update(of=_POOLS)
)
_LOCK_FOR_BID_KEYS = tuple(_LOCK_FOR_BID.selected_columns.keys())
_ACTIVE_OFFERS = (
    select(_BIDS.c.id, _BIDS.c.vendor_id, _BIDS.c.tiers.cast(Text), _BIDS.c.capacity, _BIDS.c.created_at)
    .where(_BIDS.c.pool_id == bindparam("pool_id"), _BIDS.c.status == BidStatus.ACTIVE)
    .order_by(_BIDS.c.id)
)
# Constants written into the SQL: a DML statement inside a WITH may not carry anonymous parameters.
_REPLACED: ColumnClause[str] = literal_column(f"'{BidStatus.REPLACED}'")
_RETIRE_BID = update(_BIDS).where(_BIDS.c.id == bindparam("retired_id")).values(status=_REPLACED)
_INSERT_BID = insert(_BIDS).returning(_BIDS.c.id)
_AUDIT_COLUMNS = ("pool_id", "actor_id", "action", "subject_type", "subject_id", "before", "after", "created_at")
_INSERT_BID_AUDIT = insert(_AUDIT_EVENTS).values(action="bid.place", subject_type="bid")


def _write_bid_in_one_statement() -> Select[tuple[int]]:
    """PostgreSQL: retire the previous bid, insert the new one and its audit event in one round trip."""
    new_bid = (
        insert(_BIDS)
        # Parameters are named new_*: a key equal to a column name would also be SET on the retired bid.
        .values({name: bindparam(f"new_{name}", type_=column.type) for name, column in _BIDS.c.items() if name != "id"})
        .returning(_BIDS.c.id)
        .cte("new_bid")
    )
    retired = _RETIRE_BID.returning(_BIDS.c.id).cte("retired")
    event = select(
        bindparam("new_pool_id", type_=_AUDIT_EVENTS.c.pool_id.type),
        bindparam("new_vendor_id", type_=_AUDIT_EVENTS.c.actor_id.type),
        literal_column("'bid.place'"),
        literal_column("'bid'"),
        new_bid.c.id,
        bindparam("audit_before", type_=_AUDIT_EVENTS.c.before.type),
        bindparam("audit_after", type_=_AUDIT_EVENTS.c.after.type),
        bindparam("new_created_at", type_=_AUDIT_EVENTS.c.created_at.type),
    )
    audited = insert(_AUDIT_EVENTS).from_select(_AUDIT_COLUMNS, event).returning(_AUDIT_EVENTS.c.id).cte("audited")
    return select(new_bid.c.id).add_cte(retired, audited)


_WRITE_BID = _write_bid_in_one_statement()


@dataclass(frozen=True)
class PoolTerms:
    """The pool row as a bid needs it, read under the row lock, and the bidder's commitment to it."""

    id: int
    status: str
    organiser_id: int
    closes_at: datetime
    committed_quantity: int  # the current demand, in units
    auction_kind: str
    min_decrement_pct: Decimal
    soft_close_minutes: int
    max_extensions: int
    extensions_used: int
    min_vendor_trust: Decimal | None
    unit: str
    visibility: str
    allow_unverified_vendors: bool
    membership: str | None  # the bidder's commitment status, None when it never joined


def lock_pool_and_read_offers(session: Session, pool_id: int, vendor_id: int) -> tuple[PoolTerms, list[Offer]]:
    """Take the pool's row lock and read its active bids, in one round trip on PostgreSQL.

    The lock statement also reads the bidder's commitment, from the snapshot taken just before the
    lock is granted: the same as checking it before locking, and it is the bidder's own row. The
    bids are read by the next statement, whose snapshot is taken after the lock is granted, so it
    sees every bid committed by whoever held the lock before.
    """
    locked, bids = select_in_one_round_trip(
        session,
        (_LOCK_FOR_BID, {"pool_id": pool_id, "vendor_id": vendor_id}),
        (_ACTIVE_OFFERS, {"pool_id": pool_id}),
    )
    if not locked:
        raise NotFound("No such pool.")
    offers = [
        Offer(bid_id, vendor_id, _curve(tiers), capacity, (created_at, bid_id))
        for bid_id, vendor_id, tiers, capacity, created_at in bids
    ]
    return PoolTerms(**dict(zip(_LOCK_FOR_BID_KEYS, locked[0], strict=True))), offers


@lru_cache(maxsize=4096)
def _curve(stored: str) -> tuple[Tier, ...]:
    """A stored curve's JSON text as tiers (immutable, so one parse can serve every request)."""
    return tiers_from_json(json.loads(stored))


def write_bid(session: Session, **values: Any) -> BidRow:
    """Retire the bid this one replaces, write it and its audit event, with Core statements.

    No unit-of-work flush while the pool's row lock is held, and on PostgreSQL one round trip. A
    copy of the replaced bid that this session loaded earlier is expired, so it is read again.
    """
    replaces_id = values["replaces_id"]
    values |= {"status": BidStatus.ACTIVE, "withdrawn_at": None}
    audit_before = {"bid_id": replaces_id} if replaces_id else None
    audit_after = {"tiers": values["tiers"], "capacity": values["capacity"], "took_lead": values["took_lead"]}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        params = {f"new_{name}": value for name, value in values.items()}
        params |= {"retired_id": replaces_id, "audit_before": audit_before, "audit_after": audit_after}
        bid_id = cast(int, connection.execute(_WRITE_BID, params).scalar_one())
    else:
        if replaces_id is not None:
            connection.execute(_RETIRE_BID, {"retired_id": replaces_id})
        bid_id = connection.execute(_INSERT_BID, values).scalar_one()
        event = dict(zip(_AUDIT_COLUMNS[:2], (values["pool_id"], values["vendor_id"]), strict=True))
        event |= {
            "subject_id": bid_id,
            "before": audit_before,
            "after": audit_after,
            "created_at": values["created_at"],
        }
        connection.execute(_INSERT_BID_AUDIT, event)
    if replaces_id is not None and (replaced := session.identity_map.get(identity_key(Bid, replaces_id))):
        session.expire(replaced)
    return BidRow(id=bid_id, **values)


def extend_close(session: Session, pool_id: int, closes_at: datetime, extensions_used: int) -> None:
    """Move the close out; a Pool loaded in this session sees the new values too."""
    session.execute(
        update(Pool).where(Pool.id == pool_id).values(closes_at=closes_at, extensions_used=extensions_used),
        execution_options={"synchronize_session": "evaluate"},
    )
