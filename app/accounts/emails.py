"""The account emails: confirm your address, reset your password, someone used your address. No Flask here.

They are notifications about no pool, in the outbox like every other (app.notifications); what is
secret in them, the link, is made only as the email goes out (app.accounts.links), so the
database never holds a usable link.
"""

from __future__ import annotations

from app.accounts import links
from app.accounts.models import User

CONFIRM_EMAIL, RESET_PASSWORD, ADDRESS_IN_USE = "confirm_email", "reset_password", "address_in_use"
KINDS = {
    CONFIRM_EMAIL: "We sent you a link to confirm your email address.",
    RESET_PASSWORD: "We sent you a link to choose a new password.",
    ADDRESS_IN_USE: "Someone tried to sign up with your email address.",
}


def render(kind: str, user: User, *, secret: str, site_url: str) -> tuple[str, str]:
    """The subject and body of an account email, with its link made now."""
    site = site_url.rstrip("/")
    hello = f"Hello {user.display_name},\n\n"
    if kind == CONFIRM_EMAIL:
        link = f"{site}/verify/{links.make(secret, links.VERIFY_EMAIL, user)}"
        return "Confirm your email address", (
            f"{hello}Please confirm that this is your address, so that you can join pools and bid:\n\n{link}\n\n"
            "The link works for 7 days. If you did not sign up for Buyswarm, ignore this email.\n"
        )
    if kind == RESET_PASSWORD:
        link = f"{site}/password/reset/{links.make(secret, links.RESET_PASSWORD, user)}"
        return "Choose a new Buyswarm password", (
            f"{hello}Someone (we hope you) asked to reset your password. Choose a new one here:\n\n{link}\n\n"
            "The link works once, for an hour. If you did not ask, ignore this email: nothing changes.\n"
        )
    if kind == ADDRESS_IN_USE:
        return "Someone tried to sign up with your address", (
            f"{hello}Someone tried to create a Buyswarm account with this email address, which already has one. "
            f"If it was you, log in at {site}/login, or reset your password at {site}/password/forgot.\n"
            "If it was not you, you need do nothing.\n"
        )
    raise ValueError(f"not an account email: {kind!r}")
