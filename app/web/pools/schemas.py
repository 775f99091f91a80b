"""Input and output shapes for pools and commitments, shared by web forms and the API."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields, validate

from app.pools.models import AuctionKind, AwardMode, AwardRule, PoolStatus, Visibility
from app.pools.rules import ADDRESS_MAX_LENGTH, CATEGORIES
from app.web.schemas import DecimalText, TrimmedString, UnitPriceField, WholeNumber, currency_field, positive_int, text


def _choice(enum: type, **kwargs: object) -> fields.String:
    values = [str(member) for member in enum]  # type: ignore[attr-defined]
    return fields.String(validate=validate.OneOf(values, error="Must be one of: " + ", ".join(values) + "."), **kwargs)  # type: ignore[arg-type]


class PoolIn(Schema):
    """A new pool's settings; fields left out take the model's defaults."""

    title = text(200, min_length=3)
    description = text(5000, required=False, min_length=0, multiline=True)
    category = fields.String(required=True, validate=validate.OneOf(sorted(CATEGORIES), error="Unknown category."))
    unit = text(40)
    currency = currency_field(required=True)
    min_quantity = positive_int()
    max_quantity = positive_int(required=False, allow_none=True)
    max_per_member = positive_int(
        required=False,
        allow_none=True,
        metadata={"description": "the most one member may commit; null or left out: half the tipping point"},
    )
    closes_at = fields.AwareDateTime(required=True, format="iso", default_timezone=None)
    auction_kind = _choice(AuctionKind)
    min_decrement_pct = DecimalText(
        places=2, minimum=Decimal(0), maximum=Decimal(50), metadata={"description": 'percent, as text: "1.00"'}
    )
    soft_close_minutes = WholeNumber(validate=validate.Range(min=0, max=120))
    max_extensions = WholeNumber(validate=validate.Range(min=0, max=20))
    award_rule = _choice(AwardRule)
    award_mode = _choice(
        AwardMode,
        metadata={
            "description": "split (the default): several vendors at one uniform price when one alone cannot "
            "serve everyone; single: one winner, the bid serving the most"
        },
    )
    min_vendor_trust = DecimalText(places=3, minimum=Decimal(0), maximum=Decimal(1), allow_none=True)
    visibility = _choice(Visibility)
    delivery_to_organiser = fields.Boolean(
        metadata={
            "description": "delivered to the organiser for collection: the organiser may confirm delivery "
            "for members (members see this before joining)"
        }
    )
    needs_address = fields.Boolean(
        metadata={"description": "members give the address to deliver to when they join (seen by their vendor)"}
    )
    collection_point = text(
        200, required=False, allow_none=True, metadata={"description": "where members collect, if they do"}
    )


class PoolEditIn(PoolIn):
    """An edit: load it with partial=True, so that fields left out keep their values."""


class PoolQuery(Schema):
    status = _choice(PoolStatus, load_default=None)
    category = fields.String(load_default=None, validate=validate.OneOf(sorted(CATEGORIES), error="Unknown category."))
    q = TrimmedString(load_default=None, validate=validate.Length(max=200))
    closing_soon = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))


class OrganiserOut(Schema):
    id = fields.Integer()
    display_name = fields.String()


class PoolOut(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    category = fields.String()
    unit = fields.String()
    currency = fields.String()
    min_quantity = fields.Integer()
    max_quantity = fields.Integer(allow_none=True)
    max_per_member = fields.Integer()
    opens_at = fields.DateTime(allow_none=True)
    closes_at = fields.DateTime()
    auction_kind = fields.String()
    min_decrement_pct = DecimalText(places=2, minimum=Decimal(0), maximum=Decimal(50))
    soft_close_minutes = fields.Integer()
    max_extensions = fields.Integer()
    extensions_used = fields.Integer()
    award_rule = fields.String()
    award_mode = fields.String()
    min_vendor_trust = DecimalText(places=3, minimum=Decimal(0), maximum=Decimal(1), allow_none=True)
    visibility = fields.String()
    delivery_to_organiser = fields.Boolean()
    needs_address = fields.Boolean()
    collection_point = fields.String(allow_none=True)
    status = fields.String()
    organiser = fields.Nested(OrganiserOut)
    committed_quantity = fields.Integer()
    member_count = fields.Integer()
    has_tipped = fields.Boolean()
    best_unit_price = UnitPriceField(allow_none=True, dump_default=None)
    created_at = fields.DateTime()


class PoolPageOut(Schema):
    items = fields.List(fields.Nested(PoolOut))
    page = fields.Integer()
    total = fields.Integer()


class CommitmentIn(Schema):
    quantity = positive_int()
    max_unit_price = UnitPriceField(required=True)
    delivery_address = text(
        ADDRESS_MAX_LENGTH,
        required=False,
        min_length=0,
        multiline=True,
        metadata={
            "description": "where to deliver, required when the pool's needs_address is true; seen only by "
            "the vendor serving you and the organiser; left out of a change, it stays as it was"
        },
    )


class CommitmentOut(Schema):
    id = fields.Integer()
    pool_id = fields.Integer()
    member_id = fields.Integer()
    quantity = fields.Integer()
    max_unit_price = UnitPriceField()
    delivery_address = fields.String(allow_none=True)
    status = fields.String()
    joined_at = fields.DateTime()
    updated_at = fields.DateTime()
