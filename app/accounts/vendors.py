"""Vendor identity: payout details as a fingerprint, accounts linked by it, and verification. No Flask here.

docs/trust-model.md, "Vendor identity". A vendor account whose payout fingerprint matches an
earlier account's is linked to it (`identity_root_id`: the earliest account of the identity): the
trust engine sees one ratee, and the profile shows "also traded as". A closed (banned) identity
stays closed: a new account that brings its bank account is closed too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.identity import PayoutIdentity
from app.accounts.models import User, VendorProfile
from app.errors import Conflict, Forbidden, NotFound


class IdentityClosed(Forbidden):
    """The payout details belong to a closed account: the account giving them was closed too.

    The caller commits before answering, so that the closure stands though the request is refused.
    """


def set_payout_fingerprint(session: Session, *, vendor: User, fingerprint: str, now: datetime) -> VendorProfile:
    """Record the vendor's payout fingerprint and link it to the earliest account that has it.

    The vendor's own reputation joins the identity's from then on (the caller refreshes scores).
    """
    profile = _profile_of(vendor)
    if profile.payout_fingerprint == fingerprint:
        return profile
    if profile.payout_fingerprint is not None and profile.verified_at is not None:
        raise Conflict("Your payout identity is verified; contact support to change your bank account.")
    same = session.scalars(
        select(VendorProfile).where(VendorProfile.payout_fingerprint == fingerprint, VendorProfile.id != profile.id)
    ).all()
    accounts = [p.user for p in same]
    if any(not account.is_active_account for account in accounts):
        vendor.is_active_account = False
        audit.record(session, action="vendor.identity_closed", subject=profile, actor_id=vendor.id, now=now,
                     after={"reason": "payout account of a closed account"})  # fmt: skip
        session.flush()
        raise IdentityClosed("This bank account belongs to a closed account, so this account is closed too.")
    roots = sorted({p.identity_root_id or p.user_id for p in same} | {p.user_id for p in same})
    profile.payout_fingerprint = fingerprint
    profile.identity_root_id = min(roots) if roots and min(roots) < vendor.id else None
    audit.record(session, action="vendor.payout_identity", subject=profile, actor_id=vendor.id, now=now,
                 after={"linked_to": profile.identity_root_id})  # fmt: skip
    session.flush()
    return profile


def set_payout_identity(
    session: Session, *, vendor: User, identity: PayoutIdentity, key: bytes, now: datetime
) -> VendorProfile:
    """Offline payouts: the vendor's bank details and tax number, kept only as a fingerprint."""
    return set_payout_fingerprint(session, vendor=vendor, fingerprint=identity.fingerprint(key), now=now)


def verify_vendor(session: Session, *, vendor_id: int, operator: User | None, now: datetime) -> VendorProfile:
    """Mark the vendor verified: by an operator who checked its documents (offline), or by the
    payment provider (`operator` None: Stripe reported the account complete). Idempotent."""
    if operator is not None and not operator.is_admin:
        raise NotFound("No such page.")
    vendor = session.get(User, vendor_id)
    if vendor is None or vendor.vendor_profile is None:
        raise NotFound("No such vendor.")
    profile = vendor.vendor_profile
    if profile.payout_fingerprint is None:
        raise Conflict("This vendor has not given its payout details yet; verify it once it has.")
    if profile.verified_at is None:
        profile.verified_at, profile.verified_by = now, operator.id if operator else None
        audit.record(session, action="vendor.verify", subject=profile, actor_id=operator.id if operator else None,
                     now=now, after={"verified": True})  # fmt: skip
        session.flush()
    return profile


def identity_roots(session: Session, user_ids: Iterable[int]) -> dict[int, int]:
    """Each user's identity: the earliest account it is linked to, or itself."""
    ids = set(user_ids)
    query = select(VendorProfile.user_id, VendorProfile.identity_root_id).where(
        VendorProfile.user_id.in_(ids), VendorProfile.identity_root_id.is_not(None)
    )
    linked = {user_id: root for user_id, root in session.execute(query) if root is not None}
    return {user_id: linked.get(user_id, user_id) for user_id in ids}


def accounts_of_identity(session: Session, vendor: User) -> list[User]:
    """Every other account of the vendor's identity (the accounts it also traded as), oldest first."""
    profile = vendor.vendor_profile
    root = profile.identity_root_id or vendor.id if profile is not None else vendor.id
    query = (
        select(User)
        .join(VendorProfile, VendorProfile.user_id == User.id)
        .where((VendorProfile.identity_root_id == root) | (User.id == root), User.id != vendor.id)
        .order_by(User.id)
    )
    return list(session.scalars(query))


def unverified_vendors(session: Session, operator: User, limit: int = 200) -> list[VendorProfile]:
    """The operators' list: vendors that gave payout details and wait for verification, oldest first."""
    if not operator.is_admin:
        raise NotFound("No such page.")
    query = (
        select(VendorProfile)
        .where(VendorProfile.verified_at.is_(None), VendorProfile.payout_fingerprint.is_not(None))
        .order_by(VendorProfile.created_at, VendorProfile.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _profile_of(vendor: User) -> VendorProfile:
    if vendor.vendor_profile is None:
        raise Conflict("Become a vendor first.")
    return vendor.vendor_profile
