"""Club use cases: create, join, leave, members, and which club runs a pool. No Flask here.

The pools a club runs (attaching one, listing them) are `app.pools.clubs`.

Membership changes lock the acting user's row first, so one person's double-click cannot
make two memberships; the unique constraints are the last line of defence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import User
from app.clubs.models import Club, ClubMember, ClubPool, ClubRole
from app.errors import Conflict, NotFound, ValidationFailed

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")
RESERVED_SLUGS = frozenset({"new"})
SLUG_TAKEN = "That address is taken; choose another."


@dataclass(frozen=True)
class ClubSummary:
    club: Club
    member_count: int
    is_member: bool


def slugify(name: str) -> str:
    """Turn a club name into an address: lower case, digits and single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # "Café" -> "Cafe"
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")


def lock_user(session: Session, user_id: int) -> None:
    """Serialise one user's concurrent membership changes (PostgreSQL; SQLite locks the file)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def create_club(session: Session, *, owner: User, name: str, slug: str | None, description: str, now: datetime) -> Club:
    """Create a club at a free address; its creator becomes its first admin."""
    slug = slug or slugify(name)
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise ValidationFailed("Choose another address.", {"slug": ["Use 3–60 lower-case letters, digits or hyphens."]})
    if session.scalar(select(Club.id).where(Club.slug == slug)) is not None:
        raise ValidationFailed(SLUG_TAKEN, {"slug": [SLUG_TAKEN]})
    club = Club(name=name, slug=slug, description=description, owner_id=owner.id, created_at=now)
    session.add(club)
    try:
        session.flush()
    except IntegrityError as exc:  # created by someone else a moment ago; the caller rolls back
        raise ValidationFailed(SLUG_TAKEN, {"slug": [SLUG_TAKEN]}) from exc
    session.add(ClubMember(club_id=club.id, user_id=owner.id, role=ClubRole.ADMIN, created_at=now))
    session.flush()
    return club


def get_club(session: Session, slug: str) -> Club:
    """Return the club at `slug` or raise NotFound."""
    club = session.scalar(select(Club).where(Club.slug == slug))
    if club is None:
        raise NotFound("No such club.")
    return club


def membership(session: Session, club_id: int, user_id: int | None) -> ClubMember | None:
    """The user's membership of the club, or None."""
    if user_id is None:
        return None
    return session.scalar(select(ClubMember).where(ClubMember.club_id == club_id, ClubMember.user_id == user_id))


def join_club(session: Session, *, club: Club, user: User, now: datetime) -> ClubMember:
    """Join a club; a club left without admins makes its next member one."""
    lock_user(session, user.id)
    if membership(session, club.id, user.id) is not None:
        raise Conflict("You are already a member of this club.")
    has_admin = session.scalar(
        select(ClubMember.id).where(ClubMember.club_id == club.id, ClubMember.role == ClubRole.ADMIN).limit(1)
    )
    role = ClubRole.MEMBER if has_admin else ClubRole.ADMIN
    member = ClubMember(club_id=club.id, user_id=user.id, role=role, created_at=now)
    session.add(member)
    session.flush()
    return member


def leave_club(session: Session, *, club: Club, user: User, now: datetime) -> None:
    """Leave a club; when its last admin leaves, the longest-standing member takes over."""
    lock_user(session, user.id)
    member = membership(session, club.id, user.id)
    if member is None:
        raise Conflict("You are not a member of this club.")
    session.delete(member)
    session.flush()
    if member.is_admin and not club_admins(session, club):
        successor = session.scalar(
            select(ClubMember).where(ClubMember.club_id == club.id).order_by(ClubMember.created_at, ClubMember.id)
        )
        if successor is not None:
            successor.role = ClubRole.ADMIN
    session.flush()


def club_members(session: Session, club: Club) -> list[ClubMember]:
    """The club's members with their users: admins first, then by joining order."""
    query = (
        select(ClubMember)
        .where(ClubMember.club_id == club.id)
        .options(joinedload(ClubMember.user))
        .order_by((ClubMember.role == ClubRole.ADMIN).desc(), ClubMember.created_at, ClubMember.id)
    )
    return list(session.scalars(query))


def club_admins(session: Session, club: Club) -> list[User]:
    """The users who run the club."""
    query = (
        select(User)
        .join(ClubMember, ClubMember.user_id == User.id)
        .where(ClubMember.club_id == club.id, ClubMember.role == ClubRole.ADMIN)
        .order_by(ClubMember.created_at, ClubMember.id)
    )
    return list(session.scalars(query))


def club_of_pool(session: Session, pool_id: int) -> int | None:
    """The id of the club that runs the pool, if any."""
    return session.scalar(select(ClubPool.club_id).where(ClubPool.pool_id == pool_id))


def clubs_overview(session: Session, viewer: User | None) -> list[ClubSummary]:
    """Every club with its size; the viewer's clubs first, then the biggest."""
    counts = select(ClubMember.club_id, func.count(ClubMember.id).label("n")).group_by(ClubMember.club_id).subquery()
    rows = session.execute(
        select(Club, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.club_id == Club.id).order_by(Club.name)
    ).all()
    mine = set(session.scalars(select(ClubMember.club_id).where(ClubMember.user_id == viewer.id))) if viewer else set()
    summaries = [ClubSummary(club, int(n), club.id in mine) for club, n in rows]
    return sorted(summaries, key=lambda s: (not s.is_member, -s.member_count, s.club.name.lower()))
