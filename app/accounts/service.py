"""Account use cases: register and confirm, authenticate, passwords, API tokens, vendor profiles. No Flask here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from app.accounts import emails, links, store
from app.accounts.models import ApiToken, IdempotencyKey, User, VendorProfile, new_session_token
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.notifications.service import queue_email

LAST_USED_PRECISION = timedelta(minutes=5)
TOKEN_PREFIX = "bsw_"  # noqa: S105 - a public marker, not a secret
# A real hash to compare against when the email is unknown, so a miss costs as much as a hit
# and the response time does not reveal which emails have accounts.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def normalize_email(email: str) -> str:
    """Return the email as stored: trimmed and lower-cased (emails are case-insensitive)."""
    return email.strip().lower()


def find_user_by_email(session: Session, email: str) -> User | None:
    """Return the user with this email (any case), or None."""
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def register(session: Session, *, email: str, password: str, display_name: str, now: datetime) -> User | None:
    """Create an unconfirmed member account and email it a confirmation link; None if the address is taken.

    The caller answers both alike ("check your email"), so registering does not tell anyone which
    addresses have accounts: the owner of a taken address is told by email instead.
    """
    existing = find_user_by_email(session, email)
    if existing is not None:
        generate_password_hash(password)  # the same work as a new account: the time taken says nothing either
        _email(session, existing, emails.ADDRESS_IN_USE, now)
        return None
    user = _new_user(session, email=email, password=password, display_name=display_name, now=now)
    send_confirmation(session, user, now=now)
    return user


def create_confirmed_account(session: Session, *, email: str, password: str, display_name: str, now: datetime) -> User:
    """Create an account whose address an operator vouches for (operators, demo data); refuse a taken one."""
    if find_user_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists.", {"email": ["An account with this email exists."]})
    user = _new_user(session, email=email, password=password, display_name=display_name, now=now)
    user.email_verified_at = now
    return user


def _new_user(session: Session, *, email: str, password: str, display_name: str, now: datetime) -> User:
    user = User(
        email=normalize_email(email),
        password_hash=generate_password_hash(password),
        display_name=display_name.strip(),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _email(session: Session, user: User, kind: str, now: datetime) -> None:
    queue_email(session, user_id=user.id, kind=kind, message=emails.KINDS[kind], now=now)


def send_confirmation(session: Session, user: User, *, now: datetime) -> None:
    """Email the user a link that confirms their address (again, if asked)."""
    if user.is_verified:
        raise Conflict("Your email address is already confirmed.")
    queue_email(
        session, user_id=user.id, kind=emails.CONFIRM_EMAIL, message=emails.KINDS[emails.CONFIRM_EMAIL], now=now
    )


def confirm_email(session: Session, *, secret: str, token: str, now: datetime) -> User:
    """Mark the address a confirmation link names as confirmed; return its user."""
    user = _user_of_link(session, secret, links.VERIFY_EMAIL, token)
    if user.email_verified_at is None:
        user.email_verified_at = now
    return user


def request_password_reset(session: Session, *, email: str, now: datetime) -> None:
    """Email a password-reset link to the account with this address, if there is one (say nothing either way)."""
    user = find_user_by_email(session, email)
    if user is not None and user.is_active:
        _email(session, user, emails.RESET_PASSWORD, now)


def reset_password(session: Session, *, secret: str, token: str, new_password: str, now: datetime) -> User:
    """Set a new password through a reset link (once): every session ends, and the address is confirmed."""
    user = _user_of_link(session, secret, links.RESET_PASSWORD, token)
    _set_password(user, new_password)
    if user.email_verified_at is None:
        user.email_verified_at = now  # the link reached the address
    return user


def change_password(user: User, *, current_password: str, new_password: str) -> None:
    """Change a signed-in user's password; the current one is asked again. Every other session ends."""
    if not check_password_hash(user.password_hash, current_password):
        raise ValidationFailed("Your current password is not right.", {"current_password": ["Wrong password."]})
    _set_password(user, new_password)


def _set_password(user: User, new_password: str) -> None:
    user.password_hash = generate_password_hash(new_password)
    end_all_sessions(user)


def _user_of_link(session: Session, secret: str, purpose: str, token: str) -> User:
    try:
        user_id, fingerprint = links.read(secret, purpose, token)
    except links.InvalidLink as exc:
        raise InvalidLink() from exc
    user = session.get(User, user_id)
    if user is None or not user.is_active or not hmac.compare_digest(fingerprint, links.fingerprint(user, purpose)):
        raise InvalidLink()
    return user


class InvalidLink(NotFound):
    """A link that was tampered with, has expired or was used already."""

    code = "invalid_link"

    def __init__(self) -> None:
        super().__init__("This link has expired or was already used. Ask for a new one.")


def require_verified(user: User) -> None:
    """Refuse to move money for an account whose email address is not confirmed."""
    if not user.is_verified:
        raise Forbidden(
            "Confirm your email address first: open the link we emailed you (your account page sends it again)."
        )


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = find_user_by_email(session, email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def end_all_sessions(user: User) -> None:
    """Give the user a new session token: every session and remember-me cookie stops working."""
    user.session_token = new_session_token()


def update_profile(user: User, *, display_name: str) -> User:
    """Change what others see of the user."""
    user.display_name = display_name.strip()
    return user


def _hash_token(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, user: User, name: str, now: datetime) -> tuple[ApiToken, str]:
    """Create an API token; return the row and the plain token, which is never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip() or "API token",
        token_hash=_hash_token(plain),
        prefix=plain[: len(TOKEN_PREFIX) + 6],
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, plain


def create_token_confirmed(
    session: Session, *, user: User, password: str, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """Create another token for a signed-in user who gave the password again.

    Neither a session nor a token is enough on its own: revoking a leaked token must end the
    access it gave, so it must not have been able to mint a successor.
    """
    if not check_password_hash(user.password_hash, password):
        raise ValidationFailed("Enter your password to create a token.", {"password": ["Wrong password."]})
    return create_token(session, user=user, name=name, now=now)


def user_for_token(session: Session, plain: str, *, now: datetime) -> User | None:
    """Return the active user owning this unrevoked token, or None."""
    found = store.token_owner(session, _hash_token(plain))
    if found is None or found.revoked_at is not None or not found.user.is_active:
        return None
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_PRECISION:
        store.mark_token_used(session, found.token_id, now)  # not on every call: a write per request costs
    return found.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """Return the user's tokens, newest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, *, user: User, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the user's own tokens (someone else's is reported as not found)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def become_vendor(
    session: Session, *, user: User, legal_name: str, categories: Iterable[str], now: datetime
) -> VendorProfile:
    """Give the user a vendor profile, or update the one they have."""
    categories = sorted(set(categories))
    if not categories:
        raise ValidationFailed("Choose at least one category.", {"categories": ["Choose at least one category."]})
    profile = user.vendor_profile
    if profile is None:
        profile = VendorProfile(user=user, legal_name=legal_name.strip(), categories=categories, created_at=now)
        session.add(profile)
    else:
        profile.legal_name = legal_name.strip()
        profile.categories = categories
    session.flush()
    return profile


def users_by_id(session: Session, user_ids: Iterable[int | None]) -> dict[int, User]:
    """The users of these ids (with their vendor profiles), in one query: for pages naming many people."""
    ids = {user_id for user_id in user_ids if user_id}
    if not ids:
        return {}
    query = select(User).where(User.id.in_(ids)).options(selectinload(User.vendor_profile))
    return {user.id: user for user in session.scalars(query)}


def get_user(session: Session, user_id: int) -> User:
    """Return the user or raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


IDEMPOTENCY_KEEP_FOR = timedelta(hours=24)  # how long an API write's answer is replayed (app.web.idempotency)


def purge_idempotency_keys(session: Session, *, now: datetime) -> int:
    """Delete the idempotency keys older than IDEMPOTENCY_KEEP_FOR (the scheduler's hourly job)."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - IDEMPOTENCY_KEEP_FOR))
    return int(getattr(result, "rowcount", 0) or 0)
