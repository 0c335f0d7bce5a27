import logging

import stripe

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

REFUND_EVENTS = ("charge.refund.updated", "refund.updated", "refund.failed")


class ClientRefundStripeController(http.Controller):
    @http.route(
        "/client_refund/stripe/webhook",
        type="http",
        methods=["POST"],
        auth="public",
        csrf=False,
    )
    def client_refund_stripe_webhook(self):
        """Stripe's news about refunds. An event whose signature no Stripe
        provider's webhook secret verifies is refused with 400 and changes
        nothing; events about other things, or refunds Odoo never sent, are
        acknowledged and ignored."""
        payload = request.httprequest.get_data()
        signature = request.httprequest.headers.get("Stripe-Signature")
        # sudo: Stripe calls as the public user; the signature is its credential
        providers = request.env["payment.provider"].sudo().search(
            [("code", "=", "stripe"), ("stripe_webhook_secret", "!=", False)]
        )
        event = provider = None
        for provider in providers:
            try:
                event = stripe.Webhook.construct_event(
                    payload, signature, provider.stripe_webhook_secret
                )
                break
            except (stripe.SignatureVerificationError, ValueError):
                continue
        if event is None:
            _logger.warning("Stripe refund webhook: signature not verified, event refused")
            return request.make_json_response({"error": "invalid signature"}, status=400)
        event = event.to_dict()
        stripe_refund = (event.get("data") or {}).get("object") or {}
        # a signed event without a refund id is acknowledged and ignored: a 500
        # would have Stripe send it again for days
        if (
            event.get("type") in REFUND_EVENTS
            and isinstance(stripe_refund, dict)
            and isinstance(stripe_refund.get("id"), str)
        ):
            refund_tx = request.env["payment.transaction"].sudo().search(
                [
                    ("provider_id", "=", provider.id),
                    ("operation", "=", "refund"),
                    ("provider_reference", "=", stripe_refund["id"]),
                ],
                limit=1,
            )
            if refund_tx:
                refund_tx.with_company(refund_tx.company_id)._handle_notification_data(
                    "stripe", {"reference": refund_tx.reference, "refund": stripe_refund}
                )
        return request.make_json_response("")
