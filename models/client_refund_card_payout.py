from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError


class ClientRefundCardPayout(models.AbstractModel):
    """A refund paid back to the card (client.refund): the Stripe refund it
    waits for, what Stripe said of it, the manager's actions on it, and the
    failed card refund paid back another way. The lifecycle at Stripe is the
    transaction's (see payment.transaction)."""

    _name = "client.refund.card.payout"
    _description = "Refund Paid Back to the Card"

    payment_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Stripe Refund",
        readonly=True,
        copy=False,
        index="btree_not_null",
    )
    card_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Card Payment",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The Stripe payment the refund goes back to.",
    )
    # the register's own (client.refund), declared for the amounts below
    currency_id = fields.Many2one(comodel_name="res.currency")
    amount_to_card = fields.Monetary(
        string="Asked Back to the Card",
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="What the refund asked Stripe to pay back to the card. Money Paid Back "
        "says it once Stripe has paid it and it is booked.",
    )
    card_last4 = fields.Char(string="Card Ending In", readonly=True, copy=False)
    stripe_status = fields.Selection(
        selection=[
            ("pending", "Pending"),
            ("requires_action", "Requires Action"),
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
            ("canceled", "Canceled"),
        ],
        readonly=True,
        copy=False,
        tracking=True,
        help="The card refund's status at Stripe, as Stripe last said it.",
    )
    stripe_reason = fields.Char(
        string="Stripe Says",
        readonly=True,
        copy=False,
        help="Why Stripe keeps the refund pending, or why it failed.",
    )
    card_reference = fields.Char(
        string="Card Network Reference",
        readonly=True,
        copy=False,
        help="The acquirer reference number of the refund: the client's bank traces "
        "the money with it.",
    )
    replaced_refund_id = fields.Many2one(
        comodel_name="client.refund",
        string="Pays Back Failed Refund",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The failed card refund this refund pays back another way.",
    )
    stripe_refund_reference = fields.Char(
        related="payment_transaction_id.provider_reference", string="Stripe Reference"
    )
    stripe_absence_stated_by = fields.Many2one(
        comodel_name="res.users",
        string="Not at Stripe, Stated By",
        readonly=True,
        copy=False,
        help="The refund manager who cancelled this card refund, which Stripe never "
        "acknowledged and could not be asked about, stating that the Stripe Dashboard "
        "showed no such refund.",
    )
    stripe_absence_stated_on = fields.Datetime(
        string="Not at Stripe, Stated On", readonly=True, copy=False
    )
    stripe_wait_over = fields.Boolean(
        compute="_compute_stripe_wait_over",
        help="A card refund Stripe never acknowledged, asked longer ago than the "
        "company waits for Stripe: a manager may cancel it.",
    )
    status_with_stripe = fields.Boolean(
        compute="_compute_status_with_stripe",
        help="The refund goes back to the card: it waits for Stripe.",
    )

    @api.depends("payout_method")
    def _compute_status_with_stripe(self):
        for refund in self:
            refund.status_with_stripe = refund.payout_method == "card"

    def _compute_stripe_wait_over(self):
        for refund in self:
            refund.stripe_wait_over = refund._is_stripe_wait_over()

    def action_cancel_not_at_stripe(self):
        """A manager cancels a card refund Stripe never acknowledged, once the
        company's wait for Stripe is over, so that the sale can be paid back
        another way. Stripe is asked first, by the refund's metadata; when it
        cannot be asked, the cancel stands on the manager's statement that the
        Stripe Dashboard shows no such refund, recorded with their name. Should
        Stripe have made it after all, its event books it and tells the managers
        (see payment.transaction._client_refund_adopt_late)."""
        if not self.env.user.has_group("client_refund.group_client_refund_manager"):
            raise AccessError(_("Only a refund manager can cancel a card refund Stripe never answered."))
        for refund in self:
            if not refund._is_stripe_wait_over():
                raise UserError(
                    _(
                        "Refund %(refund)s is not a card refund that Stripe has left "
                        "unanswered for %(hours)s hours.",
                        refund=refund.name,
                        hours=refund.company_id.client_refund_stripe_wait_hours,
                    )
                )
            try:
                # sudo: transactions are kept for payment administrators
                at_stripe = refund.card_transaction_id.sudo()._client_refund_is_at_stripe(refund)
                unasked = None
            except UserError as error:
                at_stripe, unasked = False, error.args[0]
            if at_stripe:
                raise UserError(
                    _("Stripe has refund %s: it is booked once Stripe has made it.", refund.name)
                )
            if unasked:
                refund._write_record(
                    {
                        "stripe_absence_stated_by": self.env.user.id,
                        "stripe_absence_stated_on": fields.Datetime.now(),
                    }
                )
            refund._message_log(
                body=_(
                    "%(user)s stated that the Stripe Dashboard shows no refund %(refund)s. %(why)s",
                    user=self.env.user.name,
                    refund=refund.name,
                    why=unasked or _("Stripe said it has none."),
                )
            )
            refund._cancel()
        return True

    def action_cancel_at_stripe(self):
        """Cancel at Stripe a card refund that waits for an action there."""
        if not self.env.user.has_group("client_refund.group_client_refund_manager"):
            raise AccessError(_("Only a refund manager can cancel a card refund at Stripe."))
        for refund in self:
            if refund.state != "pending" or refund.stripe_status != "requires_action":
                raise UserError(
                    _("Stripe can cancel refund %s only while it requires an action.", refund.name)
                )
            # sudo: transactions and providers are kept for payment administrators
            refund.payment_transaction_id.sudo()._client_refund_cancel_at_stripe()
        return True

    def action_pay_back_another_way(self):
        """A failed card refund is paid back by cash, bank or client credit: the
        refund wizard on the same document, for the same amount."""
        self.ensure_one()
        if self.state != "failed" or self.credit_note_ids or self.pos_order_ids:
            raise UserError(
                _("Only a failed card refund that booked nothing is paid back another way.")
            )
        action = self._get_source().action_client_refund()
        action["context"] = {
            **action["context"],
            "default_refund_mode": "full" if self.scope == "full" else "amount",
            "default_amount": self.amount,
            "default_payout_method": "journal",
            "default_reason_id": self.reason_id.id,
            "default_failed_refund_id": self.id,
        }
        return action

    def action_send_card_refund(self):
        """Send a waiting card refund now, or ask Stripe where it stands."""
        messages = [refund._sync_card_refund() for refund in self]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": "\n".join(filter(None, messages)) or _("The refund is up to date."),
                "type": "warning" if any(messages) else "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_sync_card_refunds(self):
        """The scheduled job: see payment.transaction._client_refund_cron_sync."""
        self.env["payment.transaction"]._client_refund_cron_sync()

    def _check_replaced_refund(self):
        """A failed card refund is paid back another way once, for its own
        document, and only when it booked nothing."""
        # the caller names the refund it replaces: one it may read, before the
        # checks below read it whoever made it
        self.replaced_refund_id.check_access("read")
        failed = self.replaced_refund_id.sudo()
        others = self.sudo().search(
            [
                ("replaced_refund_id", "=", failed.id),
                ("state", "not in", ("cancel", "failed")),
                ("id", "!=", self._origin.id),
            ]
        )
        if (
            failed.state != "failed"
            or failed.payout_method != "card"
            or failed._get_source() != self._get_source()
            or failed.credit_note_ids
            or failed.pos_order_ids
            or others
        ):
            raise UserError(
                _(
                    "Refund %s is not a failed card refund of this document left to pay "
                    "back another way.",
                    failed.name,
                )
            )

    def _sync_card_refund(self):
        """Send the refund or ask Stripe where it stands (see payment.transaction)."""
        self.ensure_one()
        if self.state != "pending":
            return None
        # sudo: transactions and providers are kept for payment administrators;
        # the refund user may send the refund the register holds
        return self.card_transaction_id.sudo()._client_refund_sync(self)

    def _is_at_stripe(self):
        """Whether Stripe has this refund (see payment.transaction); a UserError
        when Stripe cannot be asked."""
        self.ensure_one()
        try:
            # sudo: transactions are kept for payment administrators
            return self.card_transaction_id.sudo()._client_refund_is_at_stripe(self)
        except UserError as error:
            if not self._is_stripe_wait_over():
                raise
            raise UserError(
                _(
                    "%s If the Stripe Dashboard shows no such refund, a refund manager may "
                    "cancel it with Not at Stripe.",
                    error.args[0],
                )
            ) from error

    def _is_stripe_wait_over(self):
        """A card refund Stripe never acknowledged, asked (or approved) longer ago
        than the company waits for Stripe."""
        self.ensure_one()
        if self.state != "pending" or self.payout_method != "card" or self.payment_transaction_id:
            return False
        hours = self.company_id.client_refund_stripe_wait_hours
        return fields.Datetime.now() >= (self.date_approved or self.date) + timedelta(hours=hours)

    def _get_card_paid_back_words(self):
        return _(
            "Paid back %(amount)s to the card%(ending)s, Stripe reference %(reference)s.",
            amount=self.currency_id.format(self.amount_paid_back),
            ending=_(" ending in %s", self.card_last4) if self.card_last4 else "",
            reference=self.stripe_refund_reference,
        )
