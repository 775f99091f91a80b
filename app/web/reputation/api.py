"""JSON API for feedback and reputation."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app import unit_of_work
from app.accounts.service import get_user
from app.clock import utcnow
from app.reputation import flags, service
from app.reputation.models import FlagReason
from app.reputation.profile import reputation_view
from app.web.auth import caller, require_user
from app.web.extensions import db
from app.web.http import ApiBlueprint
from app.web.reputation.schemas import (
    FeedbackIn,
    FeedbackOut,
    FeedbackReviseIn,
    FlagDecisionIn,
    FlagIn,
    FlagOut,
    ReplyIn,
    ReputationOut,
)
from app.web.schemas import PageQuery

blp = ApiBlueprint("reputation_api", __name__, url_prefix="/api/v1", description="Feedback and reputation")


@blp.route("/pools/<int:pool_id>/feedback")
class PoolFeedback(MethodView):
    @blp.arguments(FeedbackIn)
    @blp.response(201, FeedbackOut)
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Rate another party of a settled pool (hidden until they rate you or the window ends)."""
        feedback = service.leave_feedback(
            db.session(),
            pool_id=pool_id,
            rater=require_user(),
            now=utcnow(),
            ratee_id=data["ratee_id"],
            rating=data["rating"],
            scores_by_criterion=data["scores"],
            comment=data["comment"],
        )
        unit_of_work.commit(db.session())
        return feedback


@blp.route("/feedback/<int:feedback_id>")
class FeedbackItem(MethodView):
    @blp.arguments(FeedbackReviseIn)
    @blp.response(200, FeedbackOut)
    def put(self, data: dict[str, Any], feedback_id: int) -> Any:
        """Revise your feedback, once, within 30 days."""
        feedback = service.revise(
            db.session(),
            feedback_id=feedback_id,
            rater=require_user(),
            now=utcnow(),
            rating=data["rating"],
            scores_by_criterion=data["scores"],
            comment=data["comment"],
        )
        unit_of_work.commit(db.session())
        return feedback


@blp.route("/feedback/<int:feedback_id>/reply")
class Reply(MethodView):
    @blp.arguments(ReplyIn)
    @blp.response(200, FeedbackOut)
    def post(self, data: dict[str, Any], feedback_id: int) -> Any:
        """Reply publicly, once, to feedback you received."""
        feedback = service.reply(
            db.session(), feedback_id=feedback_id, ratee=require_user(), text=data["reply"], now=utcnow()
        )
        unit_of_work.commit(db.session())
        return feedback


@blp.route("/users/<int:user_id>/reputation")
class Reputation(MethodView):
    @blp.response(200, ReputationOut)
    def get(self, user_id: int) -> Any:
        """A user's eBay-style scores and trust."""
        return reputation_view(db.session(), get_user(db.session(), user_id).id, utcnow())


@blp.route("/users/<int:user_id>/feedback")
class ReceivedFeedback(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, FeedbackOut(many=True))
    def get(self, query: dict[str, Any], user_id: int) -> Any:
        """The revealed feedback a user received, newest first, 20 a page."""
        user = get_user(db.session(), user_id)
        return service.visible_feedback(db.session(), ratee_id=user.id, viewer=caller(), page=query["page"])


@blp.route("/feedback/<int:feedback_id>/flag")
class FlagFeedback(MethodView):
    @blp.arguments(FlagIn)
    @blp.response(201, FlagOut)
    def post(self, data: dict[str, Any], feedback_id: int) -> Any:
        """Flag feedback you received as retaliatory, abusive or off topic (5 a day); an operator decides."""
        flag = flags.flag_feedback(
            db.session(),
            feedback_id=feedback_id,
            flagger=require_user(),
            reason=FlagReason(data["reason"]),
            note=data["note"],
            now=utcnow(),
        )
        unit_of_work.commit(db.session())
        return flag


@blp.route("/feedback-flags")
class FlagQueue(MethodView):
    @blp.response(200, FlagOut(many=True))
    def get(self) -> Any:
        """The operators' queue of open flags, oldest first (dispute operators only)."""
        return flags.open_flags(db.session(), require_user())


@blp.route("/feedback-flags/<int:flag_id>/decision")
class FlagDecision(MethodView):
    @blp.arguments(FlagDecisionIn)
    @blp.response(200, FlagOut)
    def post(self, data: dict[str, Any], flag_id: int) -> Any:
        """Uphold a flag (the feedback leaves every score and shows as removed) or reject it (operators)."""
        flag = flags.decide_flag(
            db.session(), flag_id=flag_id, operator=require_user(), uphold=data["uphold"], now=utcnow()
        )
        unit_of_work.commit(db.session())
        return flag
