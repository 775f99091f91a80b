"""Input and output shapes for pools and commitments, shared by web forms and the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from app.pools.curves import MAX_POINTS, Point, curve_errors
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
    allow_unverified_vendors = fields.Boolean(
        metadata={"description": "vendors whose payout identity is not verified may bid too (default false)"}
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
    allow_unverified_vendors = fields.Boolean()
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


class DemandPoint(Schema):
    """One point of a demand curve: up to `quantity` units at up to `max_unit_price` each."""

    quantity = positive_int()
    max_unit_price = UnitPriceField(required=True)


_ADDRESS = {
    "description": "where to deliver, required when the pool's needs_address is true; seen only by "
    "the vendor serving you and the organiser; left out of a change, it stays as it was"
}


class CommitmentIn(Schema):
    """A commitment: one point (`quantity`, `max_unit_price`) or a demand curve (`points`), not both.

    Loads as {"points": (Point, ...), "delivery_address": ...}.
    """

    quantity = positive_int(required=False, metadata={"description": "one point: this many units..."})
    max_unit_price = UnitPriceField(metadata={"description": "...at up to this price each"})
    points = fields.List(
        fields.Nested(DemandPoint),
        validate=validate.Length(min=1, max=MAX_POINTS, error=f"Give 1 to {MAX_POINTS} points."),
        metadata={
            "description": "a demand curve instead of one point: quantities strictly rising as the maximum "
            'strictly falls, e.g. [{"quantity": 2, "max_unit_price": "4.00"}, {"quantity": 5, '
            '"max_unit_price": "3.50"}]; at a price P you take the largest quantity whose maximum is at least P'
        },
    )
    delivery_address = text(ADDRESS_MAX_LENGTH, required=False, min_length=0, multiline=True, metadata=_ADDRESS)

    @validates_schema
    def _one_shape(self, data: dict[str, Any], **kwargs: Any) -> None:
        one_point = [name for name in ("quantity", "max_unit_price") if name in data]
        if "points" in data:
            if one_point:
                raise ValidationError("Give either points or quantity and max_unit_price, not both.", "points")
            problems = curve_errors([Point(p["quantity"], p["max_unit_price"]) for p in data["points"]])
            if problems:
                raise ValidationError(problems, "points")
            return
        missing = {name: ["Missing data for required field."] for name in ("quantity", "max_unit_price")}
        for name in one_point:
            missing.pop(name)
        if missing:
            raise ValidationError(missing)

    @post_load
    def _as_points(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "points" in data:
            points = tuple(Point(p["quantity"], p["max_unit_price"]) for p in data.pop("points"))
        else:
            points = (Point(data.pop("quantity"), data.pop("max_unit_price")),)
        return {**data, "points": points}


class CommitmentForm(Schema):
    """The web form's commitment: the first point, then up to four more as quantity_N / max_unit_price_N."""

    quantity = positive_int()
    max_unit_price = UnitPriceField(required=True)
    delivery_address = text(ADDRESS_MAX_LENGTH, required=False, min_length=0, multiline=True)
    quantity_2 = positive_int(required=False)
    max_unit_price_2 = UnitPriceField()
    quantity_3 = positive_int(required=False)
    max_unit_price_3 = UnitPriceField()
    quantity_4 = positive_int(required=False)
    max_unit_price_4 = UnitPriceField()
    quantity_5 = positive_int(required=False)
    max_unit_price_5 = UnitPriceField()

    @validates_schema
    def _curve(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for n in range(2, MAX_POINTS + 1):
            given = [f"{name}_{n}" for name in ("quantity", "max_unit_price") if f"{name}_{n}" in data]
            if len(given) == 1:
                other = next(name for name in (f"quantity_{n}", f"max_unit_price_{n}") if name not in given)
                errors[other] = [f"Point {n} needs both a quantity and a maximum price (or leave both empty)."]
        if not errors and (problems := curve_errors(_form_points(data))):
            errors["points"] = problems
        if errors:
            raise ValidationError(errors)

    @post_load
    def _as_points(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"points": tuple(_form_points(data)), "delivery_address": data.get("delivery_address")}


def _form_points(data: dict[str, Any]) -> list[Point]:
    points = [Point(data["quantity"], data["max_unit_price"])]
    for n in range(2, MAX_POINTS + 1):
        if f"quantity_{n}" in data and f"max_unit_price_{n}" in data:
            points.append(Point(data[f"quantity_{n}"], data[f"max_unit_price_{n}"]))
    return points


class CommitmentOut(Schema):
    id = fields.Integer()
    pool_id = fields.Integer()
    member_id = fields.Integer()
    quantity = fields.Integer(metadata={"description": "the most you take: the curve's last point"})
    max_unit_price = UnitPriceField(metadata={"description": "the most you pay per unit for that quantity"})
    points = fields.List(fields.Nested(DemandPoint), metadata={"description": "the whole demand curve"})
    delivery_address = fields.String(allow_none=True)
    status = fields.String()
    joined_at = fields.DateTime()
    updated_at = fields.DateTime()
