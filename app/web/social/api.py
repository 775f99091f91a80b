"""JSON API for delivery threads: a winning vendor and the members it serves (app.social.threads)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app import unit_of_work
from app.clock import utcnow
from app.social import threads
from app.web.auth import require_user
from app.web.extensions import db
from app.web.http import ApiBlueprint
from app.web.social.schemas import ThreadMessageIn, ThreadMessageOut

blp = ApiBlueprint("social_api", __name__, url_prefix="/api/v1", description="Delivery threads")


@blp.route("/pools/<int:pool_id>/threads/<int:vendor_id>/messages")
class ThreadMessages(MethodView):
    @blp.response(200, ThreadMessageOut(many=True))
    def get(self, pool_id: int, vendor_id: int) -> Any:
        """The thread between a winning vendor and the members it serves (its parties and the organiser only)."""
        thread = threads.open_thread(db.session(), pool_id, vendor_id, require_user())
        return threads.messages(db.session(), thread)

    @blp.arguments(ThreadMessageIn)
    @blp.response(201, ThreadMessageOut)
    def post(self, data: dict[str, Any], pool_id: int, vendor_id: int) -> Any:
        """Write to the thread: its vendor, a member it serves or the organiser."""
        message = threads.post_message(
            db.session(), pool_id=pool_id, vendor_id=vendor_id, author=require_user(), body=data["body"], now=utcnow()
        )
        unit_of_work.commit(db.session())
        return message
