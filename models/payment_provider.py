import stripe

from odoo import models

from odoo.addons.payment_stripe import const as stripe_const
from odoo.addons.payment_stripe import utils as stripe_utils

STRIPE_API_BASE_PARAM = "client_refund.stripe_api_base"
STRIPE_API_BASE = "https://api.stripe.com"


class PaymentProvider(models.Model):
    _inherit = "payment.provider"

    def _stripe_make_request(
        self, endpoint, payload=None, method="POST", offline=False, idempotency_key=None
    ):
        """Card refunds of the register go through the official SDK, with an
        idempotency key, a reason and metadata; every other call stays core's."""
        refund = self.env["client.refund"].browse(self.env.context.get("client_refund_id"))
        if endpoint != "refunds" or method != "POST" or not refund:
            return super()._stripe_make_request(
                endpoint,
                payload=payload,
                method=method,
                offline=offline,
                idempotency_key=idempotency_key,
            )
        return self._client_refund_send_stripe_refund(refund, payload)

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

    def _client_refund_send_stripe_refund(self, refund, payload):
        """Send the refund, unless Stripe already has it: a request that timed out,
        or whose database transaction did not commit, is found by its metadata
        rather than sent again."""
        client = self._client_refund_get_stripe_client()
        key = refund._get_stripe_idempotency_key()
        known = client.v1.refunds.list(
            params={"payment_intent": payload["payment_intent"], "limit": 100}
        )
        stripe_refund = next(
            (
                known_refund
                for known_refund in known.data
                if known_refund.to_dict().get("metadata", {}).get("client_refund_key") == key
            ),
            None,
        ) or client.v1.refunds.create(
            params={
                **payload,
                "reason": refund.reason_id.stripe_reason,
                "metadata": refund._prepare_stripe_metadata(),
            },
            options={"idempotency_key": key},
        )
        if not refund.card_last4:
            refund._write_record(
                {"card_last4": self._client_refund_get_card_last4(stripe_refund.charge)}
            )
        return stripe_refund.to_dict()

    def _client_refund_get_stripe_refund(self, stripe_refund_id):
        self.ensure_one()
        return self._client_refund_get_stripe_client().v1.refunds.retrieve(stripe_refund_id).to_dict()

    def _client_refund_get_card_last4(self, charge_id):
        self.ensure_one()
        client = self._client_refund_get_stripe_client()
        charge = client.v1.charges.retrieve(charge_id).to_dict()
        card = (charge.get("payment_method_details") or {}).get("card")
        if not card and charge.get("payment_method"):
            card = client.v1.payment_methods.retrieve(charge["payment_method"]).to_dict().get("card")
        return (card or {}).get("last4")
