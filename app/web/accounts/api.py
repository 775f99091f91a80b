"""JSON API for accounts: register, me, tokens, vendor profiles."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app import unit_of_work
from app.accounts import service, vendors
from app.accounts.models import ApiToken
from app.clock import utcnow
from app.errors import Unauthenticated
from app.web.accounts.schemas import (
    MessageOut,
    NewTokenIn,
    PasswordChangeIn,
    PasswordForgotIn,
    PayoutIdentityIn,
    PublicUserOut,
    RegisterIn,
    TokenIn,
    TokenOut,
    UserOut,
    VendorAdminOut,
    VendorIn,
    VendorOut,
)
from app.web.accounts.vendors import give_payout_identity
from app.web.auth import require_user
from app.web.extensions import LOGIN_RATE, db, limiter
from app.web.http import ApiBlueprint

blp = ApiBlueprint("accounts_api", __name__, url_prefix="/api/v1", description="Users, API tokens and vendors")


def _shown_once(token: ApiToken, plain: str) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "token": plain, "created_at": token.created_at}


CHECK_EMAIL = "Check your email: we sent a link to confirm the address (or, if it has an account, a note saying so)."


@blp.route("/users")
class Users(MethodView):
    decorators = [limiter.limit(LOGIN_RATE, methods=["POST"])]

    @blp.arguments(RegisterIn)
    @blp.response(202, MessageOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an account, confirmed by the link emailed to it; a taken address gets the same answer."""
        service.register(db.session(), now=utcnow(), **data)
        unit_of_work.commit(db.session())
        return {"message": CHECK_EMAIL}


@blp.route("/users/me/password")
class MyPassword(MethodView):
    @blp.arguments(PasswordChangeIn)
    @blp.response(204)
    def post(self, data: dict[str, Any]) -> Any:
        """Change the caller's password (the current one is asked again); every web session ends."""
        service.change_password(require_user(), **data)
        unit_of_work.commit(db.session())
        return None


@blp.route("/password-resets")
class PasswordResets(MethodView):
    decorators = [limiter.limit(LOGIN_RATE, methods=["POST"])]

    @blp.arguments(PasswordForgotIn)
    @blp.response(202, MessageOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Email a password-reset link to the address, if it has an account (the answer is the same either way)."""
        service.request_password_reset(db.session(), email=data["email"], now=utcnow())
        unit_of_work.commit(db.session())
        return {"message": "If the address has an account, we emailed it a link to choose a new password."}


@blp.route("/users/me")
class Me(MethodView):
    @blp.response(200, UserOut)
    def get(self) -> Any:
        """Return the caller."""
        return require_user()


@blp.route("/users/<int:user_id>")
class PublicUser(MethodView):
    @blp.response(200, PublicUserOut)
    def get(self, user_id: int) -> Any:
        """Return what anyone may see of a user."""
        return service.get_user(db.session(), user_id)


@blp.route("/tokens")
class Tokens(MethodView):
    decorators = [limiter.limit(LOGIN_RATE, methods=["POST"])]

    @blp.arguments(TokenIn)
    @blp.response(201, TokenOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Exchange email and password for an API token (shown once, stored hashed)."""
        user = service.authenticate(db.session(), email=data["email"], password=data["password"])
        if user is None:
            raise Unauthenticated("Wrong email or password.")
        token, plain = service.create_token(db.session(), user=user, name=data["name"], now=utcnow())
        unit_of_work.commit(db.session())
        return _shown_once(token, plain)

    @blp.response(200, TokenOut(many=True))
    def get(self) -> Any:
        """List the caller's tokens (without the secrets)."""
        return service.list_tokens(db.session(), require_user())


@blp.route("/tokens/new")
class NewToken(MethodView):
    @blp.arguments(NewTokenIn)
    @blp.response(201, TokenOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create another token for the authenticated caller, who gives the password again."""
        token, plain = service.create_token_confirmed(db.session(), user=require_user(), now=utcnow(), **data)
        unit_of_work.commit(db.session())
        return _shown_once(token, plain)


@blp.route("/tokens/<int:token_id>")
class Token(MethodView):
    @blp.response(204)
    def delete(self, token_id: int) -> Any:
        """Revoke one of the caller's tokens."""
        service.revoke_token(db.session(), user=require_user(), token_id=token_id, now=utcnow())
        unit_of_work.commit(db.session())
        return None


@blp.route("/vendors")
class Vendors(MethodView):
    @blp.arguments(VendorIn)
    @blp.response(201, UserOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Make the caller a vendor (or update their vendor profile)."""
        user = require_user()
        service.become_vendor(db.session(), user=user, now=utcnow(), **data)
        unit_of_work.commit(db.session())
        return user


@blp.route("/vendors/me/payout-identity")
class MyPayoutIdentity(MethodView):
    @blp.arguments(PayoutIdentityIn)
    @blp.response(200, VendorOut)
    def put(self, data: dict[str, Any]) -> Any:
        """Give your payout details (an IBAN, or a UK sort code and account number, and a tax number).

        Only a keyed fingerprint is kept. An account with the same bank account as an earlier one is
        linked to it and shares its reputation; an operator then verifies the vendor."""
        profile = give_payout_identity(db.session(), require_user(), data, utcnow())
        unit_of_work.commit(db.session())
        return profile


@blp.route("/admin/vendors")
class UnverifiedVendors(MethodView):
    @blp.response(200, VendorAdminOut(many=True))
    def get(self) -> Any:
        """Vendors that gave payout details and wait for verification (operators only)."""
        return vendors.unverified_vendors(db.session(), require_user())


@blp.route("/admin/vendors/<int:user_id>/verify")
class VerifyVendor(MethodView):
    @blp.response(200, VendorAdminOut)
    def post(self, user_id: int) -> Any:
        """Verify a vendor after checking its documents (operators only; offline payouts)."""
        profile = vendors.verify_vendor(db.session(), vendor_id=user_id, operator=require_user(), now=utcnow())
        unit_of_work.commit(db.session())
        return profile
