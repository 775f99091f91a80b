"""Shapes for feedback and reputation on the API and the feedback forms."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.reputation.models import FlagReason
from app.web.schemas import MAX_ID, TrimmedString, WholeNumber


class FeedbackChoiceIn(Schema):
    """Whom a feedback is for and its rating: the feedback form's two choices."""

    ratee_id = WholeNumber(required=True, validate=validate.Range(min=1, max=MAX_ID, error="No such party."))
    rating = WholeNumber(
        required=True,
        validate=validate.OneOf([1, 0, -1], error="Rating must be 1 (positive), 0 (neutral) or -1 (negative)."),
    )


class FeedbackIn(FeedbackChoiceIn):
    scores = fields.Dict(keys=fields.String(), values=WholeNumber(), load_default=dict)
    comment = TrimmedString(multiline=True, load_default="")  # length and content are checked by the feedback rules


class FeedbackReviseIn(Schema):
    rating = FeedbackIn._declared_fields["rating"]
    scores = fields.Dict(keys=fields.String(), values=WholeNumber(), load_default=dict)
    comment = TrimmedString(multiline=True, load_default="")


class ReplyIn(Schema):
    reply = TrimmedString(multiline=True, required=True)


class FeedbackOut(Schema):
    id = fields.Integer()
    pool_id = fields.Integer()
    rater_id = fields.Integer()
    ratee_id = fields.Integer()
    direction = fields.String()
    rating = fields.Integer()
    scores = fields.Dict(keys=fields.String(), values=fields.Integer())
    comment = fields.String()
    reply = fields.String(allow_none=True)
    created_at = fields.DateTime()
    revised_at = fields.DateTime(allow_none=True)
    revealed = fields.Function(lambda f: f.revealed_at is not None)


class ReputationOut(Schema):
    user_id = fields.Integer()
    feedback_score = fields.Integer()
    percent_positive_12m = fields.Float(allow_none=True)
    counts = fields.Dict()
    detailed = fields.Dict()
    trust = fields.Float()
    level = fields.String(
        allow_none=True, metadata={"description": '"top_rated", "below_standard" or null (docs/trust-model.md)'}
    )
    level_reason = fields.String(metadata={"description": "one sentence: why the level, empty without one"})
    trust_explained = fields.String(metadata={"description": "one sentence: what the trust number means"})


class FlagIn(Schema):
    reason = fields.String(
        required=True,
        validate=validate.OneOf([r.value for r in FlagReason], error="Choose retaliatory, abusive or off_topic."),
    )
    note = TrimmedString(multiline=True, load_default="", metadata={"description": "at most 500 characters"})


class FlagOut(Schema):
    id = fields.Integer()
    feedback_id = fields.Integer()
    flagged_by = fields.Integer()
    reason = fields.String()
    note = fields.String()
    status = fields.String(metadata={"description": "open, upheld (the feedback is removed) or rejected"})
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class FlagDecisionIn(Schema):
    uphold = fields.Boolean(required=True, metadata={"description": "true removes the feedback from every score"})
