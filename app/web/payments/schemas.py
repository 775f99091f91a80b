"""Shapes for money on the API: ledger statements, the audit trail, delivery and disputes."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.payments.models import DisputeOutcome, DisputeReason
from app.web.schemas import MAX_ID, WholeNumber, text

MAX_MINOR = 10**15  # above any line: a refund amount past it is refused before it is compared


class LedgerEntryOut(Schema):
    posting_key = fields.String()
    account = fields.String()
    amount = fields.Integer(attribute="amount_minor", metadata={"description": "minor units; debits positive"})
    currency = fields.String()
    memo = fields.String()
    created_at = fields.DateTime()


class LedgerOut(Schema):
    entries = fields.List(fields.Nested(LedgerEntryOut))
    balances = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer(metadata={"description": "always 0: every posting balances"})


class AuditEventOut(Schema):
    id = fields.Integer()
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    subject_type = fields.String()
    subject_id = fields.Integer()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    created_at = fields.DateTime()


class PaymentOut(Schema):
    id = fields.Integer()
    commitment_id = fields.Integer()
    member_id = fields.Integer()
    amount = fields.Integer(attribute="amount_minor")
    currency = fields.String()
    status = fields.String()
    failure_code = fields.String(allow_none=True)
    action_url = fields.String(allow_none=True)
    action_expires_at = fields.DateTime(allow_none=True)


class PayoutOut(Schema):
    id = fields.Integer()
    gross = fields.Integer(attribute="gross_minor", metadata={"description": "what the lines released, minor units"})
    fee = fields.Integer(attribute="fee_minor", metadata={"description": "the platform's fee, minor units"})
    amount = fields.Integer(attribute="amount_minor", metadata={"description": "transferred: gross - fee"})
    currency = fields.String()
    lines = fields.Integer(attribute="line_count")
    status = fields.String()
    created_at = fields.DateTime()


class LineOut(Schema):
    """One served line's money, as its member, its vendor, the organiser or an operator sees it."""

    id = fields.Integer()
    pool_id = fields.Integer()
    member_id = fields.Integer()
    vendor_id = fields.Integer(allow_none=True)
    amount = fields.Integer(attribute="line.amount_minor", metadata={"description": "what the member paid"})
    currency = fields.String(attribute="line.currency")
    state = fields.String(attribute="state.kind")
    state_label = fields.String(attribute="state.label")
    released = fields.Integer(attribute="line.released_minor")
    fee = fields.Integer(attribute="line.fee_minor")
    refunded = fields.Integer(attribute="line.refunded_minor")
    refund_due = fields.Integer(attribute="line.refund_due_minor")
    released_at = fields.DateTime(attribute="line.released_at", allow_none=True)
    paid_out_at = fields.DateTime(attribute="line.paid_out_at", allow_none=True)
    dispute_until = fields.DateTime(attribute="line.dispute_until", allow_none=True)
    dispute_id = fields.Integer(allow_none=True)


_REASONS = [reason.value for reason in DisputeReason]


class DeliveryRowOut(Schema):
    member_id = fields.Integer()
    display_name = fields.String()
    quantity = fields.Integer()
    address = fields.String(allow_none=True, metadata={"description": "where to deliver; null: see collection_point"})
    collection_point = fields.String(allow_none=True)
    vendor_id = fields.Integer(metadata={"description": "the winning vendor serving this member"})
    state = fields.String(metadata={"description": "the line's money: held, released, in_dispute, refunded, ..."})


class DeliveryIn(Schema):
    member_id = WholeNumber(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_ID, error="No such member."),
        metadata={"description": "organiser of a pool delivered to them: confirm for this member"},
    )
    everyone = fields.Boolean(
        load_default=False, metadata={"description": "organiser of a pool delivered to them: every held line"}
    )


class DisputeIn(Schema):
    reason = fields.String(
        required=True, validate=validate.OneOf(_REASONS, error=f"Must be one of: {', '.join(_REASONS)}.")
    )
    message = text(2000, min_length=5, multiline=True)


def _refund_amount(required: bool = False) -> WholeNumber:
    return WholeNumber(
        load_default=None,
        required=required,
        validate=validate.Range(min=1, max=MAX_MINOR, error="Must be at least 1 minor unit and at most the line."),
        metadata={"description": "the refund, in minor units (for a partial refund)"},
    )


class AnswerIn(Schema):
    answer = fields.String(
        required=True,
        validate=validate.OneOf(["refund", "partial", "contest"], error="Must be 'refund', 'partial' or 'contest'."),
    )
    refund_minor = _refund_amount()
    message = text(2000, min_length=2, multiline=True)

    @validates_schema
    def _partial_needs_amount(self, data: dict[str, object], **_: object) -> None:
        if data.get("answer") == "partial" and data.get("refund_minor") is None:
            raise ValidationError("Say how much you refund.", "refund_minor")


class DecisionIn(Schema):
    outcome = fields.String(
        required=True,
        validate=validate.OneOf([o.value for o in DisputeOutcome], error="Must be 'release', 'refund' or 'partial'."),
    )
    refund_minor = _refund_amount()
    note = text(2000, required=False, load_default="", min_length=0, multiline=True)

    @validates_schema
    def _partial_needs_amount(self, data: dict[str, object], **_: object) -> None:
        if data.get("outcome") == "partial" and data.get("refund_minor") is None:
            raise ValidationError("Say how much is refunded.", "refund_minor")


class MessageIn(Schema):
    body = text(2000, min_length=1, multiline=True)


class EscalateIn(Schema):
    note = text(2000, required=False, load_default="", min_length=0, multiline=True)


class DisputeMessageOut(Schema):
    id = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    role = fields.String()
    body = fields.String()
    created_at = fields.DateTime()


class DisputeOut(Schema):
    id = fields.Integer()
    line_id = fields.Integer(attribute="payment_id")
    pool_id = fields.Integer()
    member_id = fields.Integer()
    vendor_id = fields.Integer()
    reason = fields.String()
    stage = fields.String()
    offer = fields.Integer(attribute="offer_minor", allow_none=True)
    vendor_due_at = fields.DateTime()
    escalate_at = fields.DateTime()
    escalation_note = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    refund = fields.Integer(attribute="refund_minor", allow_none=True)
    opened_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    messages = fields.List(fields.Nested(DisputeMessageOut))
