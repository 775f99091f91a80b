"""Shapes for delivery threads on the API and the thread page."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.social.models import POST_MAX_LENGTH
from app.web.schemas import text


class ThreadMessageIn(Schema):
    body = text(POST_MAX_LENGTH, min_length=1, multiline=True)


class ThreadMessageOut(Schema):
    id = fields.Integer()
    pool_id = fields.Integer()
    vendor_id = fields.Integer(
        metadata={"description": "whose thread: the winning vendor's, with the members it serves"}
    )
    author_id = fields.Integer()
    author_name = fields.Function(lambda message: message.author.public_name)
    body = fields.String()
    created_at = fields.DateTime()
