import stripe

from odoo import api, models

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment_stripe import const as stripe_const
from odoo.addons.payment_stripe import utils as stripe_utils

from .client_refund_dispute import DISPUTE_EVENTS

STRIPE_API_BASE_PARAM = "client_refund.stripe_api_base"
STRIPE_API_BASE = "https://api.stripe.com"
# Stripe's events about a Refund object: charge.refund.updated is core's; the
# others tell a refund's status from its creation on, failures included
# (refund.created also tells of a refund a manager cancelled as never received).
REFUND_EVENTS = ("charge.refund.updated", "refund.created", "refund.updated", "refund.failed")


class PaymentProvider(models.Model):
    """Stripe's API through the official SDK, for the register's card refunds;
    every other call stays core's `_stripe_make_request`."""

    _inherit = "payment.provider"

    def _stripe_make_request(self, endpoint, payload=None, method="POST", **kwargs):
        """*Generate your webhook* subscribes core's endpoint to the refund and
        dispute events too, in the databases that have the addon only."""
        if endpoint == "webhook_endpoints" and method == "POST" and payload:
            events = payload.get("enabled_events[]") or []
            payload = {
                **payload,
                "enabled_events[]": [
                    *events,
                    *(e for e in (*REFUND_EVENTS, *DISPUTE_EVENTS) if e not in events),
                ],
            }
        return super()._stripe_make_request(endpoint, payload=payload, method=method, **kwargs)

    @api.model
    def _client_refund_get_idempotency_key(self, refund):
        """The same refund always sends the same key: a retry after a timeout, a
        double click or a replayed job is one refund for Stripe."""
        database_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        return f"client_refund-{database_uuid}-{refund.id}"

    @api.model
    def _prepare_client_refund_metadata(self, refund):
        return {
            "client_refund": refund.name,
            "client_refund_key": self._client_refund_get_idempotency_key(refund),
            "database": self.env.cr.dbname,
            "company": refund.company_id.name,
        }

    def _client_refund_get_stripe_client(self):
        self.ensure_one()
        api_base = (
            self.env["ir.config_parameter"].sudo().get_param(STRIPE_API_BASE_PARAM)
            or STRIPE_API_BASE
        )
        return stripe.StripeClient(
            # sudo: the secret key is readable by payment administrators only
            stripe_utils.get_secret_key(self.sudo()),
            stripe_version=stripe_const.API_VERSION,
            base_addresses={"api": api_base},
            # a retry is a new request of the caller, with the same key
            max_network_retries=0,
        )

    def _client_refund_find_stripe_refund(self, refund, payment_intent):
        """The Stripe refund sent for `refund`, found by its metadata: a request
        that timed out, or whose database transaction did not commit, is not
        sent again."""
        self.ensure_one()
        known = self._client_refund_get_stripe_client().v1.refunds.list(
            params={"payment_intent": payment_intent, "limit": 100}
        )
        for stripe_refund in known.data:
            stripe_refund = stripe_refund.to_dict()
            if self._client_refund_is_sent_for(stripe_refund, refund, payment_intent):
                return stripe_refund
        return None

    def _client_refund_is_sent_for(self, stripe_refund, refund, payment_intent):
        """Whether `stripe_refund` is the one sent for `refund`: its metadata
        key, of the payment's PaymentIntent, for what the refund asked the card,
        in its currency; a refund made otherwise with the same metadata is not
        booked as the register's."""
        self.ensure_one()
        currency = refund.currency_id
        return (
            (stripe_refund.get("metadata") or {}).get("client_refund_key")
            == self._client_refund_get_idempotency_key(refund)
            and stripe_refund.get("payment_intent") in (payment_intent, None)
            and stripe_refund.get("amount")
            == payment_utils.to_minor_currency_units(refund.amount_to_card, currency)
            and (stripe_refund.get("currency") or "").lower() == currency.name.lower()
        )

    def _client_refund_create_stripe_refund(self, refund, payload):
        """Core's refund payload, sent through the official SDK with the
        register's idempotency key, reason and metadata."""
        self.ensure_one()
        return self._client_refund_get_stripe_client().v1.refunds.create(
            params={
                **payload,
                "reason": refund.reason_id.stripe_reason,
                "metadata": self._prepare_client_refund_metadata(refund),
            },
            options={"idempotency_key": self._client_refund_get_idempotency_key(refund)},
        ).to_dict()

    def _client_refund_cancel_stripe_refund(self, stripe_refund_id):
        self.ensure_one()
        return self._client_refund_get_stripe_client().v1.refunds.cancel(stripe_refund_id).to_dict()

    def _client_refund_get_stripe_refund(self, stripe_refund_id):
        self.ensure_one()
        return self._client_refund_get_stripe_client().v1.refunds.retrieve(stripe_refund_id).to_dict()

    def _client_refund_get_stripe_dispute(self, stripe_dispute_id):
        """The Dispute object as Stripe has it now, its balance transactions
        (withdrawal, reinstatement, fees) included."""
        self.ensure_one()
        return self._client_refund_get_stripe_client().v1.disputes.retrieve(stripe_dispute_id).to_dict()

    def _client_refund_get_card_last4(self, stripe_refund):
        """The card's last four digits, when Stripe tells them: the refund goes on
        without them."""
        self.ensure_one()
        client = self._client_refund_get_stripe_client()
        try:
            charge = client.v1.charges.retrieve(stripe_refund["charge"]).to_dict()
            card = (charge.get("payment_method_details") or {}).get("card")
            if not card and charge.get("payment_method"):
                card = (
                    client.v1.payment_methods.retrieve(charge["payment_method"])
                    .to_dict()
                    .get("card")
                )
        except stripe.StripeError:
            return False
        return (card or {}).get("last4")
