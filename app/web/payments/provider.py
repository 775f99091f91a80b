"""The running app's payment provider and escrow terms, and saving a member's card after a request."""

from __future__ import annotations

import logging

from flask import current_app

from app.payments.gateway import GatewayError, PaymentGateway
from app.payments.gateways import make_gateway
from app.payments.on_request import prepare_card
from app.payments.rules import EscrowTerms
from app.web.extensions import db

log = logging.getLogger(__name__)


def current_gateway() -> PaymentGateway:
    """The gateway of the running app (built once per app from its configuration)."""
    gateway = current_app.extensions.get("buyswarm.gateway")
    if gateway is None:
        gateway = make_gateway(current_app.config["PAYMENT_GATEWAY"], current_app.config)
        current_app.extensions["buyswarm.gateway"] = gateway
    return gateway


def current_terms() -> EscrowTerms:
    """The running app's escrow terms (fee, windows), from its configuration."""
    return EscrowTerms.from_config(current_app.config)


def save_card(commitment_id: int) -> None:
    """After a join commits: prepare the member's card for the charge; a provider outage is retried at the charge."""
    try:
        prepare_card(db.session(), current_gateway(), commitment_id=commitment_id)
    except GatewayError:
        db.session.rollback()
        log.warning("could not prepare a card for commitment %s; the member can add it later", commitment_id)
