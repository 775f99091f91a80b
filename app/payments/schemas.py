"""Shapes for money on the API: ledger statements, the audit trail, delivery and disputes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas import text


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


class DisputeIn(Schema):
    reason = text(500, min_length=5, multiline=True)


class ResolveIn(Schema):
    resolution = fields.String(
        required=True, validate=validate.OneOf(["release", "refund"], error="Must be 'release' or 'refund'.")
    )
