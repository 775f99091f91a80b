"""Vendor identity as the web and the API both use it: it puts the accounts and reputation domains together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from app import unit_of_work
from app.accounts import vendors
from app.accounts.identity import IdentityError, parse_identity
from app.accounts.models import User, VendorProfile
from app.errors import ValidationFailed
from app.reputation import scores


def give_payout_identity(session: Session, vendor: User, data: dict[str, Any], now: datetime) -> VendorProfile:
    """Record the vendor's payout details (as their fingerprint) and, if they link it to an earlier
    account, recompute the identity's reputation at once: the two accounts are one ratee from now on."""
    try:
        identity = parse_identity(
            iban=data.get("iban"),
            sort_code=data.get("sort_code"),
            account_number=data.get("account_number"),
            tax_number=data["tax_number"],
        )
    except IdentityError as exc:
        raise ValidationFailed(str(exc), {exc.field: [str(exc)]}) from None
    key = current_app.config["IDENTITY_KEY"].encode()
    try:
        profile = vendors.set_payout_identity(session, vendor=vendor, identity=identity, key=key, now=now)
    except vendors.IdentityClosed:
        unit_of_work.commit(session)  # the account is closed, though the request is refused
        raise
    if profile.identity_root_id is not None:
        scores.refresh(session, [profile.identity_root_id], now=now)
    return profile
