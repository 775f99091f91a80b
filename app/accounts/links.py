"""Signed one-time links sent by email: confirming an address, resetting a password. No Flask here.

A link carries the user's id and a fingerprint of what it may act on, signed with the server's
secret (itsdangerous) and timed. Nothing about it is stored: the fingerprint makes it single-use,
since a reset link's fingerprint covers the password hash and session token (both change when the
password is reset) and a confirmation link's covers the address it confirms.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from itsdangerous import BadData, URLSafeTimedSerializer

from app.accounts.models import User

VERIFY_EMAIL, RESET_PASSWORD = "verify-email", "reset-password"
LIFETIME = {VERIFY_EMAIL: timedelta(days=7), RESET_PASSWORD: timedelta(hours=1)}


class InvalidLink(Exception):
    """The link was tampered with, has expired, or has been used."""


def fingerprint(user: User, purpose: str) -> str:
    """What the link may act on, as it is now: a changed password or address voids older links."""
    state = user.email if purpose == VERIFY_EMAIL else f"{user.password_hash}|{user.session_token}"
    return hashlib.sha256(f"{purpose}|{user.id}|{state}".encode()).hexdigest()[:32]


def make(secret: str, purpose: str, user: User) -> str:
    """The token of a link for the user."""
    return _serializer(secret, purpose).dumps({"user": user.id, "fp": fingerprint(user, purpose)})


def read(secret: str, purpose: str, token: str) -> tuple[int, str]:
    """The (user id, fingerprint) a token carries; raise InvalidLink if it is bad or expired."""
    max_age = int(LIFETIME[purpose].total_seconds())
    try:
        payload = _serializer(secret, purpose).loads(token, max_age=max_age)
        return int(payload["user"]), str(payload["fp"])
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise InvalidLink(purpose) from exc


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"buyswarm-{purpose}")
