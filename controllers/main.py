import logging

import stripe

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

from odoo.addons.payment_stripe import const as stripe_const
from odoo.addons.payment_stripe.controllers.main import StripeController

_logger = logging.getLogger(__name__)

# Stripe's events about a Refund object. charge.refund.updated is core's; the
# others tell a refund's status from its creation on, failures included.
REFUND_EVENTS = ("charge.refund.updated", "refund.updated", "refund.failed")
# Core's webhook, and its *Generate your webhook* button, subscribe to them too
stripe_const.HANDLED_WEBHOOK_EVENTS.extend(
    event for event in REFUND_EVENTS if event not in stripe_const.HANDLED_WEBHOOK_EVENTS
)


class ClientRefundStripeController(StripeController):
    @http.route()
    def stripe_webhook(self):
        """Core's Stripe webhook, which also follows refunds: an event about a
        Refund object is checked with the official SDK against the provider's
        signing secret (400 and nothing changed when it does not verify), then
        handed to the refund transaction it is about. Events without a refund
        id, and refunds Odoo never sent or mirrored, are acknowledged and
        ignored; every other event is core's."""
        payload = request.httprequest.get_data()
        try:
            event = request.get_json_data()
        except ValueError:
            return request.make_json_response({"error": "not JSON"}, status=400)
        if not isinstance(event, dict) or event.get("type") not in REFUND_EVENTS:
            return super().stripe_webhook()
        stripe_refund = (event.get("data") or {}).get("object")
        refund_id = stripe_refund.get("id") if isinstance(stripe_refund, dict) else None
        # sudo: Stripe calls as the public user; the signature is its credential
        refund_tx = (
            request.env["payment.transaction"]
            .sudo()
            .search(
                [
                    ("provider_code", "=", "stripe"),
                    ("operation", "=", "refund"),
                    ("provider_reference", "=", refund_id),
                ],
                limit=1,
            )
            if isinstance(refund_id, str)
            else request.env["payment.transaction"]
        )
        if not refund_tx:
            return request.make_json_response("")
        secret = refund_tx.provider_id.stripe_webhook_secret
        try:
            stripe.Webhook.construct_event(
                payload, request.httprequest.headers.get("Stripe-Signature"), secret
            )
        except (stripe.SignatureVerificationError, ValueError):
            _logger.warning("Stripe refund event %s: signature not verified, refused", refund_id)
            return request.make_json_response({"error": "invalid signature"}, status=400)
        try:
            refund_tx.with_company(refund_tx.company_id)._client_refund_handle_stripe_refund(
                stripe_refund
            )
        except ValidationError:  # as core: acknowledged, so that Stripe stops sending it
            _logger.exception("Stripe refund event %s could not be handled", refund_id)
        return request.make_json_response("")
