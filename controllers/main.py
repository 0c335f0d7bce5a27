import logging
import re

import stripe
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.exceptions import UserError, ValidationError
from odoo.http import request

from odoo.addons.payment_stripe.controllers.main import StripeController

from ..models.client_refund_dispute import DISPUTE_EVENTS
from ..models.payment_provider import REFUND_EVENTS

_logger = logging.getLogger(__name__)

# The refund event core's webhook handles itself (for refunds its Refund button made)
CORE_REFUND_EVENTS = ("charge.refund.updated",)


class ClientRefundStripeController(StripeController):
    @http.route()
    def stripe_webhook(self):
        """Core's Stripe webhook, which also follows the register's card refunds.

        A body that is not JSON, or nested too deep to parse, is refused (400)
        before anything reads it. An event about a refund the register sent is
        verified by core's own signature check (403 when it fails); then the
        refund is read back from Stripe, so that an event replayed or delivered
        out of order changes nothing. A refund that core's Refund button made
        stays core's: its events go to core as they are. A refund a manager
        cancelled as never received by Stripe, which Stripe made after all, is
        taken up again (see payment.transaction._client_refund_adopt_late).
        Other refund events about refunds Odoo does not know are acknowledged
        and ignored."""
        try:
            event = request.get_json_data()
        except (ValueError, RecursionError):
            return request.make_json_response({"error": "not JSON"}, status=400)
        if isinstance(event, dict) and event.get("type") in DISPUTE_EVENTS:
            return self._client_refund_handle_dispute_event(event)
        if not isinstance(event, dict) or event.get("type") not in REFUND_EVENTS:
            return super().stripe_webhook()
        refund_tx = self._client_refund_get_refund_transaction(event)
        if not refund_tx.client_refund_ids:
            cancelled = self._client_refund_get_refund_cancelled_as_absent(event)
            response = self._client_refund_adopt_late(cancelled, event) if cancelled else None
            if response is not None:
                return response
            if refund_tx and event["type"] in CORE_REFUND_EVENTS:
                return super().stripe_webhook()
            return request.make_json_response("")
        self._client_refund_verify_signature(refund_tx)
        try:
            refund_tx.with_company(refund_tx.company_id)._client_refund_update_from_stripe()
        except stripe.StripeError:
            _logger.warning("Stripe refund event about %s: Stripe could not be asked", refund_tx.reference)
            # Stripe sends it again later
            return request.make_json_response({"error": "try again"}, status=503)
        except ValidationError:  # as core: acknowledged, so that Stripe stops sending it
            _logger.exception("Stripe refund event about %s could not be handled", refund_tx.reference)
        return request.make_json_response("")

    def _client_refund_handle_dispute_event(self, event):
        """A client disputed a card payment with their bank. The event is
        verified with the secret of the payment's provider, as core verifies
        its events (403 when it fails); the dispute is then read back from
        Stripe (503 when Stripe cannot be asked: it sends the event again), so
        that an event replayed or delivered out of order changes nothing. A
        dispute of a payment Odoo does not know is acknowledged and logged."""
        data = event.get("data")
        stripe_dispute = data.get("object") if isinstance(data, dict) else None
        dispute_id = stripe_dispute.get("id") if isinstance(stripe_dispute, dict) else None
        if not isinstance(dispute_id, str):
            return request.make_json_response({"error": "no dispute"}, status=400)
        # sudo: Stripe calls as the public user; the signature is its credential
        Dispute = request.env["client.refund.dispute"].sudo()
        transaction, pos_payment = Dispute._find_card_payment(stripe_dispute)
        provider = Dispute._get_provider(transaction, pos_payment)
        if not provider:
            _logger.warning("Stripe dispute %s is about a payment Odoo does not know: ignored", dispute_id)
            return request.make_json_response("")
        # core's check reads the secret of the transaction's provider: a till
        # payment has no transaction until its first card refund
        self._client_refund_verify_signature(
            transaction or request.env["payment.transaction"].sudo().new({"provider_id": provider.id})
        )
        try:
            stripe_dispute = provider._client_refund_get_stripe_dispute(dispute_id)
        except stripe.InvalidRequestError:
            _logger.warning("Stripe has no dispute %s: event ignored", dispute_id)
            return request.make_json_response("")
        except stripe.StripeError:
            _logger.warning("Stripe dispute event about %s: Stripe could not be asked", dispute_id)
            return request.make_json_response({"error": "try again"}, status=503)
        # the payment Stripe says, not the event's
        transaction, pos_payment = Dispute._find_card_payment(stripe_dispute)
        if not transaction and not pos_payment:
            _logger.warning("Stripe dispute %s is about a payment Odoo does not know: ignored", dispute_id)
            return request.make_json_response("")
        Dispute._sync_from_stripe(stripe_dispute, transaction, pos_payment)
        return request.make_json_response("")

    def _client_refund_adopt_late(self, refund, event):
        """An event about the refund a manager cancelled as never received by
        Stripe, which may have made it after all (see
        payment.transaction._client_refund_adopt_late). Only a signed event is
        heard: a provider without a webhook secret, whose events core takes
        unsigned, never takes a refund up again. Returns the answer to Stripe,
        or None when nothing was taken up (the event goes on to core)."""
        card_payment = refund.card_transaction_id
        if not card_payment.provider_id.stripe_webhook_secret:
            _logger.warning("Stripe event about %s not taken up: the provider has no webhook secret", refund.name)
            return None
        self._client_refund_verify_signature(card_payment)
        try:
            taken_up = card_payment.with_company(refund.company_id)._client_refund_adopt_late(
                refund, event["data"]["object"]["id"]
            )
        except stripe.InvalidRequestError:
            # Stripe has no such refund: nothing to take up
            return None
        except (stripe.StripeError, UserError):
            # Stripe could not be asked, or the refund is being sent or taken up
            # right now: Stripe sends the event again later
            _logger.warning("Stripe event about %s: tried again later", refund.name)
            return request.make_json_response({"error": "try again"}, status=503)
        return request.make_json_response("") if taken_up else None

    def _client_refund_verify_signature(self, transaction):
        try:
            self._verify_notification_signature(transaction)
        except (KeyError, ValueError, TypeError):
            # core reads the signature header as Stripe writes it: any other is no signature
            raise Forbidden() from None

    @staticmethod
    def _client_refund_get_refund_cancelled_as_absent(event):
        """The register's refund that the event's Refund object was sent for, by
        its metadata, when a manager cancelled it as never received by Stripe."""
        data = event.get("data")
        stripe_refund = data.get("object") if isinstance(data, dict) else None
        metadata = stripe_refund.get("metadata") if isinstance(stripe_refund, dict) else None
        key = metadata.get("client_refund_key") if isinstance(metadata, dict) else None
        if not isinstance(key, str):
            return None
        # sudo: Stripe calls as the public user; the signature is checked next
        Refund = request.env["client.refund"].sudo()
        refund_id = key.rpartition("-")[2]
        if not re.fullmatch(r"[0-9]{1,9}", refund_id) or not isinstance(stripe_refund.get("id"), str):
            return None
        refund = Refund.browse(int(refund_id)).exists()
        if (
            refund.state == "cancel"
            and refund.stripe_absence_stated_by
            and request.env["payment.provider"].sudo()._client_refund_get_idempotency_key(refund) == key
        ):
            return refund
        return None

    @staticmethod
    def _client_refund_get_refund_transaction(event):
        """The refund transaction the event is about, by the Refund object's id."""
        data = event.get("data")
        stripe_refund = data.get("object") if isinstance(data, dict) else None
        refund_id = stripe_refund.get("id") if isinstance(stripe_refund, dict) else None
        # sudo: Stripe calls as the public user; the signature is its credential
        transactions = request.env["payment.transaction"].sudo()
        if not isinstance(refund_id, str):
            return transactions
        return transactions.search(
            [
                ("provider_code", "=", "stripe"),
                ("operation", "=", "refund"),
                ("provider_reference", "=", refund_id),
            ],
            limit=1,
        )
