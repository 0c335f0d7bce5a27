import logging

import stripe

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

from odoo.addons.payment_stripe.controllers.main import StripeController

from ..models.payment_provider import REFUND_EVENTS

_logger = logging.getLogger(__name__)


class ClientRefundStripeController(StripeController):
    @http.route()
    def stripe_webhook(self):
        """Core's Stripe webhook, which also follows refunds. An event about a
        Refund object is checked with the official SDK against the provider's
        signing secret (400 and nothing changed when it does not verify); then
        the refund is read from Stripe itself, so that an event replayed or
        delivered out of order changes nothing. Events without a refund id, and
        refunds Odoo never sent or mirrored, are acknowledged and ignored; every
        other event is core's."""
        payload = request.httprequest.get_data()
        try:
            event = request.get_json_data()
        except ValueError:
            return request.make_json_response({"error": "not JSON"}, status=400)
        if not isinstance(event, dict) or event.get("type") not in REFUND_EVENTS:
            return super().stripe_webhook()
        data = event.get("data")
        stripe_refund = data.get("object") if isinstance(data, dict) else None
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
        if secret:
            try:
                stripe.Webhook.construct_event(
                    payload, request.httprequest.headers.get("Stripe-Signature"), secret
                )
            except (stripe.SignatureVerificationError, ValueError, TypeError):
                _logger.warning("Stripe refund event %s: signature not verified, refused", refund_id)
                return request.make_json_response({"error": "invalid signature"}, status=400)
        else:
            # as core, which checks nothing then: the refund is read from Stripe anyway
            _logger.warning("Stripe refund event %s: the provider has no signing secret", refund_id)
        try:
            refund_tx.with_company(refund_tx.company_id)._client_refund_update_from_stripe()
        except stripe.StripeError:
            _logger.warning("Stripe refund event %s: Stripe could not be asked", refund_id)
            # Stripe sends it again later
            return request.make_json_response({"error": "try again"}, status=503)
        except ValidationError:  # as core: acknowledged, so that Stripe stops sending it
            _logger.exception("Stripe refund event %s could not be handled", refund_id)
        return request.make_json_response("")
