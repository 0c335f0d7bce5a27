import logging

import psycopg2
import stripe

from odoo import _, _lt, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, html2plaintext

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment_stripe.controllers.main import StripeController

from .client_refund_source import lock_rows, refund_own_path

_logger = logging.getLogger(__name__)

# Stripe's reasons, in words (Refund object: pending_reason, failure_reason)
STRIPE_PENDING_REASONS = {
    "processing": _lt("Stripe is processing it."),
    "insufficient_funds": _lt("the Stripe balance is too low: Stripe waits for funds."),
    "charge_pending": _lt("the card payment it refunds is not settled yet."),
}
# The state core gives a refund transaction for each Stripe status
STRIPE_STATES = {
    "pending": "pending",
    "requires_action": "draft",
    "succeeded": "done",
    "failed": "error",
    "canceled": "cancel",
}
STRIPE_FAILURE_REASONS = {
    "lost_or_stolen_card": _lt("the card was reported lost or stolen."),
    "expired_or_canceled_card": _lt("the card has expired or was cancelled."),
    "charge_for_pending_refund_disputed": _lt("the client disputed the card payment."),
    "insufficient_funds": _lt("the Stripe balance is too low."),
    "declined": _lt("the card's bank declined it."),
    "merchant_request": _lt("it was cancelled in the Stripe Dashboard."),
    "unknown": _lt("Stripe does not know why."),
}


class PaymentTransaction(models.Model):
    """The card refund lifecycle of the register's refunds: sent once with an
    idempotency key, followed until Stripe says it succeeded or failed, booked
    or failed on the register accordingly."""

    _inherit = "payment.transaction"

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="payment_transaction_id",
        string="Client Refunds",
        readonly=True,
    )
    client_refund_pos_payment_id = fields.Many2one(
        comodel_name="pos.payment",
        string="POS Terminal Payment",
        index="btree_not_null",
        readonly=True,
        help="The Stripe terminal payment of a Point of Sale order this transaction stands for.",
    )

    def _post_process(self):
        """The refunds of a POS terminal payment are booked by the POS refund
        order and its session, not by an account.payment."""
        pos_refunds = self.filtered(
            lambda tx: tx.source_transaction_id.client_refund_pos_payment_id
        )
        pos_refunds.is_post_processed = True
        return super(PaymentTransaction, self - pos_refunds)._post_process()

    def _process_notification_data(self, notification_data):
        """Whoever brings Stripe's news (the answer to the request, the webhook,
        the scheduled check), the register follows the refund transaction it
        sent itself. A register refund that Stripe failed or cancelled stays so:
        Stripe's refunds end there, and a later message (replayed, out of
        order) must not book it again."""
        if self.operation == "refund" and self.sudo().client_refund_ids:
            stripe_refund = notification_data.get("refund")
            status = stripe_refund.get("status") if isinstance(stripe_refund, dict) else None
            if self.state in ("error", "cancel") or status not in STRIPE_STATES:
                # a status Stripe added since is no failure: the refund waits
                _logger.info("Refund %s: Stripe status %s left as it is", self.reference, status)
                return None
        result = super()._process_notification_data(notification_data)
        if self.operation == "refund" and isinstance(notification_data.get("refund"), dict):
            # sudo: the notification is processed for the provider, not for a user
            self.sudo()._client_refund_record_stripe_status(notification_data["refund"])
            self.sudo()._client_refund_update_register()
        return result

    def _client_refund_record_stripe_status(self, stripe_refund):
        """Show on the register's refunds what Stripe says of this refund."""
        status = stripe_refund.get("status")
        if STRIPE_STATES.get(status) != self.state:
            # a status Stripe added since, or one core did not follow
            return
        if status == "pending":
            reason = STRIPE_PENDING_REASONS.get(stripe_refund.get("pending_reason"), "")
        elif status == "failed":
            reason = STRIPE_FAILURE_REASONS.get(
                stripe_refund.get("failure_reason"), STRIPE_FAILURE_REASONS["unknown"]
            )
        elif status == "requires_action":
            reason = _("the client or the bank must act: a manager may cancel it at Stripe.")
        else:
            reason = ""
        card = (stripe_refund.get("destination_details") or {}).get("card") or {}
        values = {"stripe_status": status, "stripe_reason": str(reason) or False}
        if card.get("reference"):
            values["card_reference"] = card["reference"]
        self.client_refund_ids.filtered(
            lambda refund: refund.state in ("pending", "done", "failed")
        )._write_record(values)

    def _client_refund_get_card_refundable_amount(self, exclude_refund=None):
        """What the card payment can still give back: captured, less the refunds
        done or on their way (those of the Stripe Dashboard come through core's
        webhook as refund transactions too), less the register's refunds not
        sent yet, but `exclude_refund`, the one being sent."""
        self.ensure_one()
        refunds = self.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund" and tx.state not in ("cancel", "error")
        )
        waiting = self.env["client.refund"].sudo().search(
            [
                ("card_transaction_id", "=", self.id),
                ("state", "=", "pending"),
                ("payment_transaction_id", "=", False),
                # a refund not saved yet waits for nothing
                ("id", "!=", exclude_refund._origin.id if exclude_refund else False),
            ]
        )
        return self.currency_id.round(
            self.amount + sum(refunds.mapped("amount")) - sum(waiting.mapped("amount_to_card"))
        )

    # ------------------------------------------------------------------
    # A register refund going back to this card payment
    # ------------------------------------------------------------------

    def _client_refund_request(self, refund):
        """Record `refund` as waiting for Stripe. It is sent by the scheduled job
        (or the Send button) once this database transaction has committed, so
        that a request Stripe made is never lost with a rolled-back refund."""
        self.ensure_one()
        to_card = refund._get_money_back() - refund.amount_ewallet
        refund._write_record(
            {"state": "pending", "card_transaction_id": self.id, "amount_to_card": to_card}
        )
        refund._log_on_documents(
            _(
                "%(refund)s: %(amount)s goes back to the card of payment %(payment)s "
                "through Stripe. Reason: %(reason)s.",
                refund=refund._get_html_link(),
                amount=refund.currency_id.format(to_card),
                payment=self.reference,
                reason=refund.reason_id.name,
            )
        )
        self.env.ref("client_refund.ir_cron_client_refund_card")._trigger()

    def _client_refund_sync(self, refund, made=None):
        """Send `refund` or ask Stripe where it stands (`made`: the Stripe refund
        already read for it). Returns a message when the refund could not move
        on; it is tried again later."""
        self.ensure_one()
        refund_tx = refund.payment_transaction_id.sudo()
        try:
            with self.env.cr.savepoint():
                # one sender at a time, and no cancelling while it is sent
                lock_rows(refund)
                if not refund_tx:
                    self._client_refund_send(refund, made=made)
                elif refund_tx.state in ("draft", "pending"):
                    refund_tx._client_refund_update_from_stripe()
                else:
                    refund_tx._client_refund_update_register()
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            if refund_tx:
                return self._client_refund_log_delay(refund, error.user_message or error)
            # Stripe refused to make it: nothing was refunded
            self._client_refund_fail(
                refund, _("Stripe refused the refund: %s", error.user_message or error)
            )
        except stripe.APIConnectionError as error:
            return self._client_refund_log_delay(
                refund, _("Stripe could not be reached (%s).", error.user_message or error)
            )
        except stripe.StripeError as error:
            # a rate-limit or Stripe-side error: the same key is sent again
            return self._client_refund_log_delay(
                refund, _("Stripe answered: %s", error.user_message or error)
            )
        except UserError as error:
            return self._client_refund_log_delay(refund, error.args[0], alert=True)
        return None

    def _client_refund_adopt_late(self, refund, stripe_refund_id):
        """Stripe made `refund` after a manager cancelled it as never received:
        the money went back to the card all the same. The Refund object is read
        back from Stripe: only one sent for this refund, of this payment, that
        Stripe made or is making, counts; nothing is sent. The refund waits for
        Stripe again and is booked from what Stripe made, or, when the sale was
        paid back another way meanwhile, stays waiting to be booked; either way
        the managers are told that the client may have been paid twice."""
        self.ensure_one()
        provider = self.provider_id
        stripe_refund = provider._client_refund_get_stripe_refund(stripe_refund_id)
        made = (
            stripe_refund.get("payment_intent") == self.provider_reference
            and provider._client_refund_is_sent_for(stripe_refund, refund, self.provider_reference)
            and stripe_refund.get("status") in ("pending", "requires_action", "succeeded")
        )
        # one event at a time takes it up (a second one is told to come back)
        lock_rows(refund)
        if not made or refund.state != "cancel":
            return False
        refund._write_record({"state": "pending"})
        message = _(
            "Stripe made %(refund)s after all, though %(user)s cancelled it as not at "
            "Stripe: the client may have been paid back twice.",
            refund=refund._get_html_link(),
            user=refund.stripe_absence_stated_by.name,
        )
        refund._log_on_documents(message)
        refund._schedule_manager_activities(
            refund._get_managers(), _("Stripe made cancelled refund %s", refund.name), note=message
        )
        self._client_refund_sync(refund, made=stripe_refund)
        return True

    def _client_refund_send(self, refund, made=None):
        """Send `refund` to Stripe once: a refund Stripe already has (`made`, or
        found by its metadata after a lost answer or a rolled-back transaction)
        is not sent again, and one core's webhook recorded meanwhile is adopted."""
        self.ensure_one()
        provider = self.provider_id
        made = made or provider._client_refund_find_stripe_refund(refund, self.provider_reference)
        mirrored = self.child_transaction_ids.filtered(
            lambda tx: made and tx.operation == "refund" and tx.provider_reference == made["id"]
        )[:1]
        if mirrored:
            refund._write_record({"payment_transaction_id": mirrored.id})
            mirrored._client_refund_handle_stripe_refund(made)
            return
        if not made:
            source = refund._get_source()
            source._client_refund_lock()
            # the document may have been refunded otherwise since the request
            source._client_refund_check_request(refund)
            source._client_refund_check_card_request(refund)
        if self.token_id.payment_details:
            refund._write_record({"card_last4": self.token_id.payment_details})
        # core's steps of _send_refund_request, with the register's refund named
        # explicitly rather than through a context key
        self._ensure_provider_is_not_disabled()
        refund_tx = self._create_child_transaction(refund.amount_to_card, is_refund=True)
        refund_tx._log_sent_message()
        # linked before Stripe answers, so that the answer updates the refund
        refund._write_record({"payment_transaction_id": refund_tx.id})
        stripe_refund = made or provider._client_refund_create_stripe_refund(
            refund,
            {
                "payment_intent": self.provider_reference,
                # refund transactions' amount is negative
                "amount": payment_utils.to_minor_currency_units(
                    -refund_tx.amount, refund_tx.currency_id
                ),
            },
        )
        if not refund.card_last4:
            refund._write_record({"card_last4": provider._client_refund_get_card_last4(stripe_refund)})
        refund_tx._client_refund_handle_stripe_refund(stripe_refund)

    def _client_refund_handle_stripe_refund(self, stripe_refund):
        """Core's handling of Stripe's refund object, for this refund transaction."""
        self.ensure_one()
        notification_data = {"reference": self.reference}
        StripeController._include_refund_in_notification_data(stripe_refund, notification_data)
        self._handle_notification_data("stripe", notification_data)

    def _client_refund_is_at_stripe(self, refund):
        """Whether Stripe has `refund`, even when its answer was lost."""
        self.ensure_one()
        if refund.payment_transaction_id:
            return True
        # no sending while Stripe is asked
        lock_rows(refund)
        try:
            return bool(self.provider_id._client_refund_find_stripe_refund(refund, self.provider_reference))
        except stripe.StripeError as error:
            raise UserError(
                _(
                    "Stripe cannot tell whether it has refund %(refund)s (%(error)s): try "
                    "again later.",
                    refund=refund.name,
                    error=error.user_message or error,
                )
            ) from error

    def _client_refund_update_register(self):
        """Book the register's refunds of these refund transactions when Stripe
        made them; fail them when Stripe failed them."""
        for refund_tx in self:
            for refund in refund_tx.client_refund_ids:
                refund = refund.with_company(refund.company_id)
                if refund_tx.state == "done" and refund.state == "pending":
                    self._client_refund_book(refund)
                elif refund_tx.state == "cancel" and refund.state == "pending":
                    refund._write_record({"state": "cancel"})
                    refund._log_on_documents(
                        _(
                            "%s was cancelled at Stripe: nothing was paid back, nothing "
                            "is booked.",
                            refund._get_html_link(),
                        )
                    )
                elif refund_tx.state in ("error", "cancel") and refund.state in ("pending", "done"):
                    self._client_refund_fail(refund, refund.stripe_reason or refund_tx.state_message)

    @api.model
    def _client_refund_book(self, refund):
        """Book a refund Stripe made. Should booking fail, the money has gone
        back all the same: a manager is told the amount Stripe paid, the refund
        stays waiting to be booked, and it is never sent again."""
        try:
            with self.env.cr.savepoint():
                refund._execute()
        except (UserError, ValidationError) as error:
            self._client_refund_log_delay(
                refund,
                _(
                    "Stripe paid %(amount)s back to the card, but it could not be booked: "
                    "%(error)s",
                    amount=refund.currency_id.format(refund.amount_to_card),
                    error=error.args[0],
                ),
                alert=True,
            )

    def _client_refund_cancel_at_stripe(self):
        """Cancel this refund at Stripe (it requires an action there)."""
        self.ensure_one()
        try:
            stripe_refund = self.provider_id._client_refund_cancel_stripe_refund(
                self.provider_reference
            )
        except stripe.StripeError as error:
            raise UserError(
                _("Stripe did not cancel the refund: %s", error.user_message or error)
            ) from error
        self._client_refund_handle_stripe_refund(stripe_refund)

    def _client_refund_update_from_stripe(self):
        """Read this refund from Stripe and follow what Stripe says of it."""
        self.ensure_one()
        stripe_refund = self.provider_id._client_refund_get_stripe_refund(self.provider_reference)
        self._client_refund_handle_stripe_refund(stripe_refund)

    def _client_refund_get_payment(self):
        """The payment of this refund transaction, made by core's post-processing."""
        self.ensure_one()
        if not self.payment_id:
            self.with_company(self.company_id)._create_payment()
        return self.payment_id

    @api.model
    def _client_refund_cron_sync(self):
        """Send the card refunds waiting for Stripe and follow the sent ones.

        Every Odoo server runs this job, and staff may press *Check with
        Stripe* meanwhile: each refund is taken ``FOR NO KEY UPDATE SKIP
        LOCKED``, so that one held by another transaction is left to it (never
        sent twice, never waited for), and one changed by a transaction that
        committed after this one began fails to serialize and is left too: the
        next run sees it as it is now.

        Each refund is committed as soon as it is sent or followed: its lock,
        and what its booking holds until the commit (the number of the credit
        note, which every other credit note of the journal waits for), last
        one refund, not the whole run. A refund whose transaction fails is
        rolled back alone, and the next run finds it at Stripe by its metadata.
        """
        Refund = self.env["client.refund"]
        Refund.flush_model(["state"])
        self.env.cr.execute(
            SQL("SELECT id FROM client_refund WHERE state = %s ORDER BY id", "pending")
        )
        can_commit = self.env["account.move"]._can_commit()
        for (refund_id,) in self.env.cr.fetchall():
            if not self._client_refund_cron_take(refund_id):
                continue
            refund = Refund.browse(refund_id)
            refund.with_company(refund.company_id)._sync_card_refund()
            if can_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _client_refund_cron_take(self, refund_id):
        """Lock the pending refund `refund_id` for this transaction, or say that
        another transaction has it or has changed it since this one began."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM client_refund WHERE id = %s AND state = %s "
                        "FOR NO KEY UPDATE SKIP LOCKED",
                        refund_id,
                        "pending",
                    ),
                    log_exceptions=False,
                )
                return bool(self.env.cr.fetchone())
        except psycopg2.errors.SerializationFailure:
            return False

    @api.model
    def _client_refund_fail(self, refund, why):
        """Nothing stays booked as paid back; a manager takes it from here."""
        # the refund undoes its own payout
        paid = refund_own_path(refund.payment_ids, undoing=refund).filtered(lambda payment: payment.state != "canceled")
        # cancelled as it is, numbered (see account.move._client_refund_undo)
        paid.action_cancel()
        refund._write_record({"state": "failed", "amount_paid_back": 0.0})
        message = _(
            "%(refund)s failed at Stripe: %(why)s",
            refund=refund._get_html_link(),
            why=why or "",
        )
        if refund.pos_order_ids:
            # a paid POS order cannot be undone: its session books the card refund
            message += " " + _(
                "POS refund order %s stays booked on the card terminal: pay the client "
                "back at the till and have the session's closing corrected.",
                ", ".join(refund.pos_order_ids.mapped("name")),
            )
        else:
            message += " " + _("Nothing is booked as paid back.")
            if refund.credit_note_ids:
                message += " " + _(
                    "Credit note %s stays open as the client's credit: pay it back "
                    "another way.",
                    ", ".join(refund.credit_note_ids.mapped("name")),
                )
        refund._log_on_documents(message)
        refund._schedule_manager_activities(
            refund._get_managers(), _("Card refund %s failed", refund.name), note=message
        )

    @api.model
    def _client_refund_log_delay(self, refund, why, alert=False):
        message = _(
            "%(refund)s could not move on: %(why)s Nothing more is booked; it is tried "
            "again with the same idempotency key, so the client cannot be paid twice.",
            refund=refund.name,
            why=why,
        )
        # the scheduled check tries every 15 minutes: the same news is logged once
        last = refund.message_ids.filtered(lambda m: m.message_type == "notification")[:1]
        if html2plaintext(last.body or "").strip() != message.strip():
            refund._message_log(body=message)
        if alert and not refund.activity_ids:
            refund._schedule_manager_activities(
                refund._get_managers(), _("Card refund %s is stuck", refund.name), note=message
            )
        return message
