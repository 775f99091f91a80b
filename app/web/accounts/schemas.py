"""Input and output shapes for accounts, shared by the web forms and the API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.pools.rules import CATEGORIES
from app.web.schemas import SafeString, TrimmedString, text

PASSWORD_RULE = validate.Length(min=10, max=200, error="Password must be 10 to 200 characters long.")


class RegisterIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = SafeString(required=True, validate=PASSWORD_RULE)
    display_name = text(80)


class LoginIn(Schema):
    email = TrimmedString(required=True, validate=validate.Length(min=1, max=254))
    password = SafeString(required=True, validate=validate.Length(min=1, max=200))


class TokenIn(LoginIn):
    name = text(80, required=False, load_default="API token")


class PasswordChangeIn(Schema):
    current_password = SafeString(required=True, validate=validate.Length(min=1, max=200))
    new_password = SafeString(required=True, validate=PASSWORD_RULE)


class PasswordForgotIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class PasswordResetIn(Schema):
    new_password = SafeString(required=True, validate=PASSWORD_RULE)


class MessageOut(Schema):
    message = fields.String(required=True)


class ProfileIn(Schema):
    display_name = text(80)


class NewTokenIn(Schema):
    """Another token for a signed-in caller: the password again, so a leaked token cannot mint more."""

    name = text(80)
    password = SafeString(required=True, validate=validate.Length(min=1, max=200))


class VendorIn(Schema):
    legal_name = text(200)
    categories = fields.List(
        fields.String(validate=validate.OneOf(sorted(CATEGORIES), error="Unknown category.")),
        required=True,
        validate=validate.Length(min=1, max=len(CATEGORIES), error="Choose at least one category."),
        error_messages={"required": "Choose at least one category."},
    )


class VendorOut(Schema):
    legal_name = fields.String()
    categories = fields.List(fields.String())
    payout_account_id = fields.String(allow_none=True)
    verified = fields.Boolean(attribute="is_verified", metadata={"description": "its payout identity is verified"})
    verified_at = fields.DateTime(allow_none=True)
    has_payout_identity = fields.Function(lambda p: p.payout_fingerprint is not None)
    linked_to = fields.Integer(
        attribute="identity_root_id",
        allow_none=True,
        metadata={"description": "the earlier account with the same payout identity, whose reputation it shares"},
    )


class PayoutIdentityIn(Schema):
    """Offline payouts: a bank account (an IBAN, or a UK sort code and account number) and a tax number.

    Only a keyed fingerprint is kept (app.accounts.identity); the details themselves are not stored.
    """

    iban = TrimmedString(load_default=None, validate=validate.Length(max=40))
    sort_code = TrimmedString(load_default=None, validate=validate.Length(max=12))
    account_number = TrimmedString(load_default=None, validate=validate.Length(max=12))
    tax_number = TrimmedString(required=True, validate=validate.Length(min=1, max=30))


class VendorAdminOut(Schema):
    user_id = fields.Integer()
    legal_name = fields.String()
    verified = fields.Boolean(attribute="is_verified")
    verified_at = fields.DateTime(allow_none=True)
    linked_to = fields.Integer(attribute="identity_root_id", allow_none=True)
    created_at = fields.DateTime()


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    created_at = fields.DateTime()
    is_vendor = fields.Boolean()
    vendor = fields.Nested(VendorOut, attribute="vendor_profile", allow_none=True)


class PublicUserOut(Schema):
    """What anyone may see of another user."""

    id = fields.Integer()
    display_name = fields.String()
    is_vendor = fields.Boolean()


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    token = fields.String(metadata={"description": "the token itself, shown only once"})
    created_at = fields.DateTime()
