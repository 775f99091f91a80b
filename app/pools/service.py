"""Pool use cases: create, edit, publish, cancel, find. No Flask here.

Every state change loads the pool with a row lock (`get_pool_for_update`), checks the state it
expects, and writes an audit event, so that a web request, an API call, the CLI and scheduler
processes can race on one pool without double work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app import audit
from app.accounts.models import User
from app.clubs.service import club_of_pool, membership
from app.errors import InvalidTransition, NotFound, ValidationFailed
from app.pools import rules, search
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolLinkGrant, PoolStatus, Visibility

EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "unit",
    "currency",
    "min_quantity",
    "max_quantity",
    "max_per_member",
    "closes_at",
    "auction_kind",
    "min_decrement_pct",
    "soft_close_minutes",
    "max_extensions",
    "award_rule",
    "award_mode",
    "min_vendor_trust",
    "allow_unverified_vendors",
    "visibility",
    "delivery_to_organiser",
    "needs_address",
    "collection_point",
)
CLOSING_SOON = timedelta(hours=48)


@dataclass(frozen=True)
class Page:
    items: list[Pool]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def get_pool(session: Session, pool_id: int, viewer: User | None = None) -> Pool:
    """Return the pool if the viewer may see it (drafts: the organiser; club pools: the club); else NotFound."""
    pool = session.get(Pool, pool_id)
    if pool is None:
        raise NotFound("No such pool.")
    ensure_visible(session, pool, viewer)
    return pool


def ensure_visible(session: Session, pool: Pool, viewer: User | None) -> None:
    """Raise NotFound unless the viewer may see the pool: the one check for every path that reads or acts on one."""
    if not pool_visible_to(session, pool, viewer):
        raise NotFound("No such pool.")


def pool_visible_to(session: Session, pool: Pool, viewer: User | None) -> bool:
    """Whether the viewer may see the pool.

    Public pools: anyone. Unlisted ones: who opened their share link or an invite to them. Club
    pools: the club's members. The organiser, operators and the pool's parties always: its members,
    and the vendors who bid on it (placing a bid grants access, `grant_access`); drafts only the
    organiser.
    """
    if not pool.is_visible_to(viewer):
        return False
    if pool.visibility == Visibility.PUBLIC or (
        viewer is not None and (viewer.is_admin or pool.is_organised_by(viewer))
    ):
        return True
    if viewer is None:
        return False
    if has_link_grant(session, pool.id, viewer.id) or _is_member(session, pool.id, viewer.id):
        return True
    if pool.visibility == Visibility.UNLISTED:
        return False
    club_id = club_of_pool(session, pool.id)  # a club pool not yet attached: its parties only
    return club_id is not None and membership(session, club_id, viewer.id) is not None


def _is_member(session: Session, pool_id: int, user_id: int) -> bool:
    """Whether the user joined the pool and did not withdraw (served or not)."""
    status = session.scalar(
        select(Commitment.status).where(Commitment.pool_id == pool_id, Commitment.member_id == user_id)
    )
    return status is not None and status != CommitmentStatus.WITHDRAWN


def open_link(session: Session, token: str, viewer: User | None, now: datetime) -> Pool:
    """The pool a share link names; a signed-in viewer may reach it by id from now on."""
    pool = session.scalar(select(Pool).where(Pool.link_token == token)) if token else None
    if pool is None or not pool.is_visible_to(viewer):
        raise NotFound("No such pool.")
    grant_link(session, pool, viewer, now)
    return pool


def grant_link(session: Session, pool: Pool, viewer: User | None, now: datetime) -> None:
    """Remember that the viewer holds the pool's link (an invite counts); once per viewer."""
    if viewer is not None and pool.visibility == Visibility.UNLISTED:
        grant_access(session, pool.id, viewer.id, now)


def grant_access(session: Session, pool_id: int, user_id: int, now: datetime) -> None:
    """Let the user see a non-public pool by id from now on (a link opened, a bid placed); once per user."""
    if has_link_grant(session, pool_id, user_id):
        return
    try:
        with session.begin_nested():  # the same viewer opening the link twice at once: one grant
            session.add(PoolLinkGrant(pool_id=pool_id, user_id=user_id, created_at=now))
    except IntegrityError:
        pass


def has_link_grant(session: Session, pool_id: int, user_id: int) -> bool:
    """Whether the user was granted access to the pool: opened its share link (or an invite), or bid on it."""
    query = select(PoolLinkGrant.id).where(PoolLinkGrant.pool_id == pool_id, PoolLinkGrant.user_id == user_id)
    return session.scalar(query) is not None


def get_organised_pool(session: Session, pool_id: int, actor: User) -> Pool:
    """A pool the actor organises (or any pool, for an operator); someone else's is not found."""
    pool = get_pool(session, pool_id, actor)
    if not (pool.is_organised_by(actor) or actor.is_admin):
        raise NotFound("No such pool.")
    return pool


def get_pool_for_update(session: Session, pool_id: int) -> Pool:
    """Return the pool with a row lock held until the transaction ends."""
    pool = session.scalar(
        select(Pool).where(Pool.id == pool_id).with_for_update().execution_options(populate_existing=True)
    )
    if pool is None:
        raise NotFound("No such pool.")
    return pool


def get_organised_pool_for_update(session: Session, pool_id: int, actor: User) -> Pool:
    """Lock a pool the actor organises; someone else's pool is reported as not found."""
    pool = get_pool_for_update(session, pool_id)
    if not pool.is_organised_by(actor) and not actor.is_admin:
        raise NotFound("No such pool.")
    return pool


def _check_settings(values: dict[str, Any], now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    if "closes_at" in values and (problems := rules.closes_at_errors(values["closes_at"], now)):
        errors["closes_at"] = problems
    max_quantity = values.get("max_quantity")
    if max_quantity is not None and max_quantity < values["min_quantity"]:
        errors["max_quantity"] = ["Maximum quantity must be at least the tipping point (minimum quantity)."]
    per_member = values.get("max_per_member")
    if per_member is not None and max_quantity is not None and per_member > max_quantity:
        errors["max_per_member"] = ["The most one member may commit cannot exceed the pool's maximum quantity."]
    if errors:
        raise ValidationFailed("Some pool settings are invalid.", errors)


def create_pool(session: Session, *, organiser: User, values: dict[str, Any], now: datetime) -> Pool:
    """Create a pool in draft for the organiser to edit and then publish."""
    values = {"max_per_member": None} | values
    if values["max_per_member"] is None:
        values["max_per_member"] = rules.default_max_per_member(values["min_quantity"])
    _check_settings(values, now)
    pool = Pool(organiser=organiser, status=PoolStatus.DRAFT, created_at=now, updated_at=now)
    for name in EDITABLE_FIELDS:
        if name in values:
            setattr(pool, name, values[name])
    session.add(pool)
    session.flush()
    audit.record(
        session,
        action="pool.create",
        subject=pool,
        actor_id=organiser.id,
        now=now,
        pool_id=pool.id,
        after={"status": pool.status},
    )
    return pool


def update_pool(session: Session, *, pool_id: int, actor: User, values: dict[str, Any], now: datetime) -> Pool:
    """Change a draft pool's settings (published pools are fixed: members relied on them)."""
    pool = get_organised_pool_for_update(session, pool_id, actor)
    if pool.status != PoolStatus.DRAFT:
        raise InvalidTransition("Only draft pools can be edited; this pool is already " + pool.status + ".")
    if "max_per_member" in values and values["max_per_member"] is None:  # cleared: the default again
        values = values | {
            "max_per_member": rules.default_max_per_member(values.get("min_quantity", pool.min_quantity))
        }
    merged = {name: getattr(pool, name) for name in EDITABLE_FIELDS} | values
    _check_settings(merged, now)
    for name in EDITABLE_FIELDS:
        if name in values:
            setattr(pool, name, values[name])
    pool.updated_at = now
    return pool


def search_pools(
    session: Session,
    *,
    now: datetime,
    status: str | None = None,
    category: str | None = None,
    q: str | None = None,
    closing_soon: bool = False,
    page: int = 1,
    per_page: int = 12,
) -> Page:
    """Find public pools by status, category and text; newest first, or soonest first."""
    query = select(Pool).where(Pool.visibility == Visibility.PUBLIC, Pool.status != PoolStatus.DRAFT)
    query = _filtered(query, status=status, category=category)
    rank = None
    if q:
        query, rank = search.text_filter(session.get_bind().dialect.name, query, q)
    if closing_soon:
        query = query.where(
            Pool.status == PoolStatus.OPEN, Pool.closes_at > now, Pool.closes_at <= now + CLOSING_SOON
        ).order_by(Pool.closes_at, Pool.id)
    elif rank is not None:
        query = query.order_by(rank.desc(), Pool.created_at.desc(), Pool.id.desc())  # the best match first
    else:
        query = query.order_by(Pool.created_at.desc(), Pool.id.desc())
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = session.scalars(
        query.options(joinedload(Pool.organiser)).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def _filtered(query: Select[Pool], *, status: str | None, category: str | None) -> Select[Pool]:
    if status:
        query = query.where(Pool.status == status)
    if category:
        query = query.where(Pool.category == category)
    return query


def pools_needing_attention(session: Session) -> list[Pool]:
    """Pools the scheduler gave up closing (app.bids.jobs), oldest deadline first."""
    query = select(Pool).where(Pool.attention_note.is_not(None)).order_by(Pool.closes_at, Pool.id)
    return list(session.scalars(query))


def retry_closing(session: Session, *, pool_id: int, now: datetime) -> Pool:
    """Hand a pool that needed attention back to the scheduler (an operator's decision)."""
    pool = get_pool_for_update(session, pool_id)
    if pool.attention_note is None:
        raise InvalidTransition("This pool does not need attention.")
    before = {"note": pool.attention_note, "close_failures": pool.close_failures}
    pool.attention_note, pool.close_failures = None, 0
    audit.record(session, action="pool.retry_close", subject=pool, actor_id=None, now=now, pool_id=pool.id,
                 before=before)  # fmt: skip
    return pool


def pools_organised_by(session: Session, user: User) -> list[Pool]:
    """Every pool the user organises, drafts included, newest first."""
    query = select(Pool).where(Pool.organiser_id == user.id).order_by(Pool.created_at.desc(), Pool.id.desc())
    return list(session.scalars(query))


def commitments_of(session: Session, user: User) -> list[Commitment]:
    """The user's commitments that still mean something, with their pools, newest first."""
    query = (
        select(Commitment)
        .where(Commitment.member_id == user.id, Commitment.status != CommitmentStatus.WITHDRAWN)
        .options(joinedload(Commitment.pool))
        .order_by(Commitment.joined_at.desc())
    )
    return list(session.scalars(query))
