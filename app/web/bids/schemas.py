"""Input and output shapes for bids and awards, shared by the web bid editor and the API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from app.bids.rules import MAX_TIERS, Tier
from app.web.payments.provider import current_terms
from app.web.schemas import UnitPriceField, positive_int, text


class TierIn(Schema):
    min_quantity = positive_int()
    unit_price = UnitPriceField(required=True)

    @post_load
    def make_tier(self, data: dict[str, Any], **kwargs: Any) -> Tier:
        return Tier(data["min_quantity"], data["unit_price"])


class BidIn(Schema):
    tiers = fields.List(
        fields.Nested(TierIn),
        required=True,
        validate=validate.Length(min=1, max=MAX_TIERS, error=f"Give 1 to {MAX_TIERS} price tiers."),
    )
    capacity = positive_int()
    delivery_window = text(120, required=False, min_length=0)
    notes = text(2000, required=False, min_length=0, multiline=True)


class TierOut(Schema):
    min_quantity = fields.Integer()
    unit_price = fields.String()


class BidOut(Schema):
    id = fields.Integer(attribute="bid.id")
    pool_id = fields.Integer(attribute="bid.pool_id")
    vendor_id = fields.Integer(attribute="bid.vendor_id")
    tiers = fields.List(fields.Nested(TierOut), attribute="bid.tiers")
    capacity = fields.Integer(attribute="bid.capacity")
    delivery_window = fields.String(attribute="bid.delivery_window")
    notes = fields.String(attribute="bid.notes")
    status = fields.String(attribute="bid.status")
    replaces_id = fields.Integer(attribute="bid.replaces_id", allow_none=True)
    took_lead = fields.Boolean(
        allow_none=True, metadata={"description": "whether it took the lead; null while a sealed auction is open"}
    )
    created_at = fields.DateTime(attribute="bid.created_at")
    rank = fields.Integer(allow_none=True, metadata={"description": "1 = leading; null when not disclosed"})
    price_now = UnitPriceField(allow_none=True, metadata={"description": "the bid's price at the current demand"})
    platform_fee_bps = fields.Function(
        lambda _view: current_terms().fee_bps,
        metadata={
            "description": "the platform's fee, in basis points of what each delivered line releases to the vendor"
        },
    )


class ServedOut(Schema):
    commitment_id = fields.Integer()
    user_id = fields.Integer(attribute="member_id")
    quantity = fields.Integer()
    amount = fields.Integer(attribute="amount_minor", metadata={"description": "minor units"})
    vendor_id = fields.Integer(metadata={"description": "the winning vendor serving this member"})


class WinnerOut(Schema):
    bid_id = fields.Integer()
    vendor_id = fields.Integer()
    quantity = fields.Integer(metadata={"description": "units this winner supplies"})
    total = fields.Integer(attribute="total_minor", metadata={"description": "what its members pay, minor units"})


class AwardOut(Schema):
    bid_id = fields.Integer(metadata={"description": "the first winner's (the only one under the single rule)"})
    vendor_id = fields.Integer(metadata={"description": "the first winner's vendor"})
    winners = fields.List(
        fields.Nested(WinnerOut), metadata={"description": "every winning bid in merit order, at the uniform price"}
    )
    unit_price = UnitPriceField(metadata={"description": "the uniform price every served member pays"})
    served_quantity = fields.Integer()
    total = fields.Integer(attribute="total_minor", metadata={"description": "minor units"})
    currency = fields.String()
    computed_at = fields.DateTime()
    served = fields.List(fields.Nested(ServedOut), metadata={"description": "the lines the caller may see"})
