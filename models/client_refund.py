import psycopg2
import stripe
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL
from odoo.tools.misc import clean_context

SOURCE_FIELDS = (
    "source_move_id",
    "source_payment_id",
    "source_pos_order_id",
    "source_card_id",
    "source_membership_line_id",
)
# What a refund did: only the refund's own methods write these once it is
# confirmed, so that the register stays the audit trail.
RECORD_FIELDS = {
    "state",
    "amount",
    "amount_paid_back",
    "partner_id",
    "currency_id",
    "company_id",
    "source_type",
    "scope",
    *SOURCE_FIELDS,
    "payout_method",
    "payout_journal_id",
    "pos_config_id",
    "line_ids",
    "user_id",
    "approver_id",
    "date",
    "date_approved",
    "date_done",
    "credit_note_ids",
    "payment_ids",
    "pos_order_ids",
    "picking_ids",
    "payment_transaction_id",
    "card_transaction_id",
}
# Written by the refund's own methods only, even on a draft
MADE_FIELDS = {
    "state",
    "user_id",
    "approver_id",
    "date_approved",
    "date_done",
    "amount_paid_back",
    "credit_note_ids",
    "payment_ids",
    "pos_order_ids",
    "picking_ids",
    "payment_transaction_id",
    "card_transaction_id",
    "card_last4",
}


class ClientRefund(models.Model):
    _name = "client.refund"
    _description = "Client Refund"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True
    _rec_names_search = ["name", "partner_id", "source_reference"]

    name = fields.Char(
        string="Number", required=True, readonly=True, copy=False, default="/"
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        index=True,
        help="Empty for an anonymous Point of Sale ticket.",
        tracking=True,
        check_company=True,
    )
    partner_email = fields.Char(related="partner_id.email")
    partner_phone = fields.Char(related="partner_id.phone")
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        index=True,
        readonly=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(
        comodel_name="res.currency",
        required=True,
        default=lambda self: self.env.company.currency_id,
        tracking=True,
    )
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company Currency"
    )
    source_type = fields.Selection(
        selection=[
            ("invoice", "Invoice"),
            ("payment", "Payment"),
            ("pos_order", "POS Order"),
            ("gift_card", "Gift Card"),
            ("ewallet", "eWallet Deposit"),
            ("membership", "Membership"),
            ("visit_pack", "Visit Pack"),
        ],
        string="Refunded",
        required=True,
        index=True,
        tracking=True,
    )
    scope = fields.Selection(
        selection=[
            ("full", "Full"),
            ("partial", "Partial"),
            ("void", "Void"),
        ],
        required=True,
        default="full",
        tracking=True,
    )
    source_move_id = fields.Many2one(
        comodel_name="account.move",
        string="Source Invoice",
        index="btree_not_null",
        check_company=True,
    )
    source_payment_id = fields.Many2one(
        comodel_name="account.payment",
        index="btree_not_null",
        check_company=True,
    )
    source_pos_order_id = fields.Many2one(
        comodel_name="pos.order",
        index="btree_not_null",
        check_company=True,
    )
    source_card_id = fields.Many2one(
        comodel_name="loyalty.card",
        index="btree_not_null",
        help="Gift card, eWallet or visit pack refunded.",
    )
    source_membership_line_id = fields.Many2one(
        comodel_name="membership.membership_line",
        string="Source Membership",
        index="btree_not_null",
    )
    source_reference = fields.Char(
        compute="_compute_source_reference",
        store=True,
        help="Name of the document refunded.",
    )
    amount = fields.Monetary(
        currency_field="currency_id",
        tracking=True,
        help="Amount credited or refunded, tax included.",
    )
    amount_paid_back = fields.Monetary(
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="Money that went back to the client; the rest of the amount settled "
        "what the client still owed.",
    )
    line_ids = fields.One2many(
        comodel_name="client.refund.line",
        inverse_name="refund_id",
        string="Lines",
        help="Lines and quantities refunded; empty when an amount is refunded.",
    )
    amount_company_currency = fields.Monetary(
        string="Amount in Company Currency",
        currency_field="company_currency_id",
        compute="_compute_amount_company_currency",
        store=True,
    )
    payout_method = fields.Selection(
        selection=[
            ("journal", "Cash / Bank"),
            ("card", "Card (Stripe)"),
            ("pos", "Point of Sale"),
            ("credit", "Client Credit"),
            ("refund_account", "Cash / Bank, on the Refund Account"),
            ("none", "No Money Moved"),
        ],
        string="Paid Back By",
        tracking=True,
        help="Client Credit: the credit note stays open on the client's account. "
        "No Money Moved: a payment was voided before any money was paid.",
    )
    payout_journal_id = fields.Many2one(
        comodel_name="account.journal",
        check_company=True,
        domain="[('type', 'in', ('cash', 'bank'))]",
    )
    reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        required=True,
        index=True,
        tracking=True,
        check_company=True,
    )
    note = fields.Text()
    send_receipt = fields.Boolean(
        help="E-mail the receipt to the client once the refund is made.",
    )
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("to_approve", "To Approve"),
            ("pending", "Waiting for Stripe"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("cancel", "Cancelled"),
        ],
        required=True,
        default="draft",
        index=True,
        tracking=True,
        copy=False,
    )
    date = fields.Datetime(
        string="Requested On",
        required=True,
        default=fields.Datetime.now,
        readonly=True,
        copy=False,
        # the register lists the newest first: 100,000 refunds read in 25 ms, not 105
        index=True,
    )
    user_id = fields.Many2one(
        comodel_name="res.users",
        string="Requested By",
        required=True,
        default=lambda self: self.env.user,
        index=True,
        tracking=True,
    )
    approver_id = fields.Many2one(
        comodel_name="res.users", string="Approved By", readonly=True, copy=False
    )
    date_approved = fields.Datetime(string="Approved On", readonly=True, copy=False)
    date_done = fields.Datetime(string="Done On", readonly=True, copy=False)
    credit_note_ids = fields.Many2many(
        comodel_name="account.move",
        relation="client_refund_account_move_rel",
        string="Credit Notes",
        copy=False,
    )
    payment_ids = fields.Many2many(
        comodel_name="account.payment",
        relation="client_refund_account_payment_rel",
        string="Payments",
        copy=False,
    )
    pos_order_ids = fields.Many2many(
        comodel_name="pos.order",
        relation="client_refund_pos_order_rel",
        string="POS Refund Orders",
        copy=False,
    )
    picking_ids = fields.Many2many(
        comodel_name="stock.picking",
        relation="client_refund_stock_picking_rel",
        string="Returns",
        copy=False,
    )
    pos_config_id = fields.Many2one(
        comodel_name="pos.config",
        string="Paid Out At",
        check_company=True,
        help="Point of Sale whose open session pays the refund out.",
    )
    payment_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Stripe Refund",
        copy=False,
        index="btree_not_null",
    )
    card_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Card Payment",
        copy=False,
        index="btree_not_null",
        help="The Stripe payment the refund goes back to.",
    )
    card_last4 = fields.Char(string="Card Ending In", copy=False)
    stripe_refund_reference = fields.Char(
        related="payment_transaction_id.provider_reference", string="Stripe Reference"
    )

    @api.depends(*(f"{fname}.display_name" for fname in SOURCE_FIELDS))
    def _compute_source_reference(self):
        for refund in self:
            source = refund._get_source()
            refund.source_reference = source.display_name if source else False

    @api.depends("amount", "currency_id", "company_id", "date")
    def _compute_amount_company_currency(self):
        for refund in self:
            refund.amount_company_currency = refund.currency_id._convert(
                refund.amount,
                refund.company_currency_id,
                refund.company_id,
                refund.date or fields.Date.context_today(refund),
            )

    @api.model_create_multi
    def create(self, vals_list):
        # only the register's own methods (in sudo) record a refund as made;
        # a context key would be within reach of any RPC caller
        if not self.env.su:
            for vals in vals_list:
                if any(
                    vals.get(fname) and not (fname == "state" and vals[fname] == "draft")
                    for fname in MADE_FIELDS
                ):
                    raise UserError(
                        _("A refund is recorded as done by confirming it, not by hand.")
                    )
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                company = self.env["res.company"].browse(
                    vals.get("company_id", self.env.company.id)
                )
                # the numbering is read-only for refund users, the register still
                # needs the next number
                vals["name"] = (
                    self.env["ir.sequence"]
                    .sudo()
                    .with_company(company)
                    .next_by_code("client.refund")
                    or "/"
                )
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and (
            MADE_FIELDS & vals.keys()
            or (RECORD_FIELDS & vals.keys() and any(refund.state != "draft" for refund in self))
        ):
            raise UserError(
                _(
                    "A confirmed refund cannot be changed: it is the record of what "
                    "was refunded. Cancel it, or add a note."
                )
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(refund.state != "draft" for refund in self):
            raise UserError(
                _(
                    "Only draft refunds can be deleted. Cancel the refund instead: "
                    "it stays in the register as cancelled."
                )
            )

    def action_confirm(self):
        # the defaults of the screen that launched the refund (default_move_id...)
        # must not leak into the payments and credit notes it creates
        self = self.with_env(self.env(context=clean_context(self.env.context)))
        for refund in self:
            if refund.state != "draft":
                raise UserError(_("Refund %s has already been confirmed.", refund.name))
            # who confirms is who asks for the refund
            refund._write_record({"user_id": self.env.user.id})
            if refund._needs_approval():
                refund._request_approval()
            else:
                refund._execute()
        return True

    def action_approve(self):
        """A manager other than the requester approves: the refund is made now."""
        if not self.env.user.has_group("client_refund.group_client_refund_manager"):
            raise AccessError(_("Only a refund manager can approve a refund."))
        self = self.with_env(self.env(context=clean_context(self.env.context)))
        for refund in self:
            if refund.state != "to_approve":
                raise UserError(_("Refund %s is not waiting for approval.", refund.name))
            if refund.user_id == self.env.user:
                raise UserError(
                    _("Nobody approves their own refund: another manager approves %s.", refund.name)
                )
            refund._write_record(
                {"approver_id": self.env.user.id, "date_approved": fields.Datetime.now()}
            )
            refund._message_log(body=_("Approved by %s.", self.env.user.name))
            refund.activity_unlink(["mail.mail_activity_data_todo"])
            refund._execute()
        return True

    def action_reject(self, reason):
        if not self.env.user.has_group("client_refund.group_client_refund_manager"):
            raise AccessError(_("Only a refund manager can reject a refund."))
        if not reason:
            raise UserError(_("Say why the refund is rejected."))
        for refund in self:
            if refund.state != "to_approve":
                raise UserError(_("Refund %s is not waiting for approval.", refund.name))
            refund._write_record({"state": "cancel"})
            refund._log_on_documents(
                _(
                    "%(refund)s was rejected by %(user)s: %(reason)s",
                    refund=refund._get_html_link(),
                    user=self.env.user.name,
                    reason=reason,
                )
            )
            refund.activity_unlink(["mail.mail_activity_data_todo"])
        return True

    def action_cancel(self):
        is_manager = self.env.user.has_group("client_refund.group_client_refund_manager")
        for refund in self:
            if refund.state == "cancel":
                continue
            if refund.state == "pending" and refund._is_at_stripe():
                raise UserError(
                    _(
                        "Refund %s has been sent to Stripe: a card refund cannot be "
                        "taken back.",
                        refund.name,
                    )
                )
            if refund.state in ("done", "failed") and not is_manager:
                raise AccessError(
                    _("Only a refund manager can cancel refund %s.", refund.name)
                )
            if refund.state == "done" and refund._has_live_effects():
                raise UserError(
                    _(
                        "Refund %s has paid money back or posted credit notes. "
                        "Reverse its credit notes and cancel its payments first.",
                        refund.name,
                    )
                )
        to_cancel = self.filtered(lambda r: r.state != "cancel")
        to_cancel.activity_unlink(["mail.mail_activity_data_todo"])
        to_cancel._write_record({"state": "cancel"})
        for refund in to_cancel:
            refund._message_log(body=_("Cancelled by %s.", self.env.user.name))
        return True

    def action_view_credit_notes(self):
        return self.credit_note_ids._get_records_action(name=self.credit_note_ids._description)

    def action_view_payments(self):
        return self.payment_ids._get_records_action(name=self.payment_ids._description)

    def action_view_pos_orders(self):
        return self.pos_order_ids._get_records_action(name=self.pos_order_ids._description)

    def action_view_source(self):
        source = self._get_source()
        return source._get_records_action(name=source._description)

    @api.model
    def _action_view_refunds(self, refunds):
        if len(refunds) == 1:
            # as core's wizards open what they made: no action to read
            return {
                "type": "ir.actions.act_window",
                "name": _("Refund"),
                "res_model": "client.refund",
                "res_id": refunds.id,
                "view_mode": "form",
                "views": [(False, "form")],
            }
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "client_refund.client_refund_action"
        )
        action["domain"] = [("id", "in", refunds.ids)]
        return action

    def _get_source(self):
        self.ensure_one()
        for fname in SOURCE_FIELDS:
            if self[fname]:
                return self[fname]
        return None

    def _has_live_effects(self):
        self.ensure_one()
        live_moves = self.credit_note_ids.filtered(
            lambda m: m.state == "posted" and m.payment_state != "reversed"
        )
        live_payments = self.payment_ids.filtered(lambda p: p.state != "canceled")
        live_orders = self.pos_order_ids.filtered(lambda o: o.state != "cancel")
        return bool(live_moves or live_payments or live_orders)

    def _needs_approval(self):
        """Above the company's threshold (in company currency), a manager approves."""
        self.ensure_one()
        threshold = self.company_id.client_refund_approval_threshold
        return bool(threshold) and (
            self.company_currency_id.compare_amounts(self.amount_company_currency, threshold) > 0
        )

    def _check_request(self):
        """Everything that refuses the refund, checked before anything is written:
        also on the unsaved refund of a wizard, before it takes a number."""
        self.ensure_one()
        if self.payout_method == "pos" and self.source_type in ("invoice", "payment"):
            raise UserError(_("Only Point of Sale orders are paid back through a till."))
        if self.payout_method in ("journal", "credit") and self.source_type == "pos_order":
            raise UserError(_("Point of Sale orders are paid back through a till or to the card."))
        source = self._get_source()
        source._client_refund_check_request(self)
        if self.payout_method == "card":
            self._check_card_request(source)
        if (
            self.state == "draft"
            and self._needs_approval()
            and not self._get_managers() - self.env.user
        ):
            raise UserError(
                _(
                    "This refund is above the approval threshold of %(company)s, and no "
                    "other refund manager of the company can approve it.",
                    company=self.company_id.name,
                )
            )

    def _check_card_request(self, source):
        currency = self.currency_id
        card_left = source._client_refund_get_card_refundable_amount()
        if currency.is_zero(card_left):
            raise UserError(
                _("%s was not paid online with Stripe: pay it back another way.", source.display_name)
            )
        to_card = source._client_refund_get_paid_back_amount(self.amount)
        if currency.is_zero(to_card):
            raise UserError(
                _(
                    "The refund only settles what the client still owes: nothing goes "
                    "back to the card. Keep it as client credit."
                )
            )
        if currency.compare_amounts(to_card, card_left) > 0:
            raise UserError(
                _(
                    "The card can take back at most %(left)s, not %(asked)s: pay the "
                    "rest back another way.",
                    left=currency.format(card_left),
                    asked=currency.format(to_card),
                )
            )

    def _request_approval(self):
        self.ensure_one()
        # the refund is checked now, so that a manager only approves what can be done
        self._check_request()
        managers = self._get_managers() - self.user_id
        self._write_record({"state": "to_approve"})
        self._schedule_manager_activities(managers, _("Approve refund %s", self.name))
        self._log_on_documents(
            _(
                "%(refund)s of %(amount)s by %(user)s waits for a manager's approval "
                "(above %(threshold)s).",
                refund=self._get_html_link(),
                amount=self.currency_id.format(self.amount),
                user=self.user_id.name,
                threshold=self.company_currency_id.format(
                    self.company_id.client_refund_approval_threshold
                ),
            )
        )

    def _execute(self):
        """Let the refunded document do the refund, then record what it made. A
        card refund is booked once Stripe has made it."""
        self.ensure_one()
        if self.payout_method == "card" and self.state != "pending":
            self._request_card_refund()
            return
        results = self._get_source()._client_refund_execute(self)
        if self.scope == "void" or (
            self.payout_method == "journal" and not results.get("amount_paid_back")
        ):
            results["payout_method"] = "none"
        self._write_record({**results, "state": "done", "date_done": fields.Datetime.now()})
        self._log_on_documents(self._get_done_message())
        if self.send_receipt and self.partner_id.email:
            self._send_receipt()

    @api.model
    def _get_amount_waiting_for_card(self, source):
        """Card refunds of `source` on their way to Stripe and not booked yet."""
        source_field = next(
            fname for fname in SOURCE_FIELDS if self._fields[fname].comodel_name == source._name
        )
        # sudo: every refund of the document counts, whoever made it
        waiting = self.sudo().search(
            [
                (source_field, "=", source.id),
                ("state", "=", "pending"),
                ("id", "!=", self.env.context.get("client_refund_sending_id")),
            ]
        ).filtered(lambda refund: refund.payment_transaction_id.state != "done")
        return sum(waiting.mapped("amount"))

    def _get_managers(self):
        self.ensure_one()
        # sudo: who the managers are is read for users who may not read groups
        return self.env.ref("client_refund.group_client_refund_manager").sudo().users.filtered(
            lambda user: self.company_id in user.company_ids
        )

    def _schedule_manager_activities(self, managers, summary, note=None):
        for manager in managers:
            self.activity_schedule(
                "mail.mail_activity_data_todo", user_id=manager.id, summary=summary, note=note
            )

    # ------------------------------------------------------------------
    # Card refunds through Stripe
    # ------------------------------------------------------------------

    def _request_card_refund(self):
        """Record the card refund as waiting for Stripe. It is sent by the
        scheduled job (or the Send button) once this transaction has committed,
        so that a request Stripe made is never lost with a rolled-back refund."""
        source = self._get_source()
        self._lock_for_refund(source)
        self._check_request()
        card_payment = source._client_refund_get_card_transaction()
        to_card = source._client_refund_get_paid_back_amount(self.amount)
        currency = self.currency_id
        self._write_record(
            {
                "state": "pending",
                "card_transaction_id": card_payment.id,
                "amount_paid_back": to_card,
            }
        )
        self._log_on_documents(
            _(
                "%(refund)s: %(amount)s goes back to the card of payment %(payment)s "
                "through Stripe. Reason: %(reason)s.",
                refund=self._get_html_link(),
                amount=currency.format(to_card),
                payment=card_payment.reference,
                reason=self.reason_id.name,
            )
        )
        self.env.ref("client_refund.ir_cron_client_refund_card")._trigger()

    def _is_at_stripe(self):
        """Whether Stripe has the refund, even when the answer was lost."""
        self.ensure_one()
        if self.payment_transaction_id:
            return True
        self._lock_for_refund(self)
        # sudo: see _sync_card_refund
        card_payment = self.card_transaction_id.sudo()
        try:
            return bool(
                card_payment.provider_id._client_refund_find_stripe_refund(
                    self, card_payment.provider_reference
                )
            )
        except stripe.StripeError as error:
            raise UserError(
                _(
                    "Stripe cannot tell whether it has refund %(refund)s (%(error)s): try "
                    "again later.",
                    refund=self.name,
                    error=error.user_message or error,
                )
            ) from error

    def _get_stripe_idempotency_key(self):
        """The same refund always sends the same key: a retry after a timeout, a
        double click or a replayed job is one refund for Stripe."""
        self.ensure_one()
        database_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        return f"client_refund-{database_uuid}-{self.id}"

    def _prepare_stripe_metadata(self):
        self.ensure_one()
        return {
            "client_refund": self.name,
            "client_refund_key": self._get_stripe_idempotency_key(),
            "database": self.env.cr.dbname,
            "company": self.company_id.name,
        }

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
        # No commit per refund: a run that fails after Stripe made refunds is
        # rolled back whole, and the next run finds them again by their metadata.
        for refund in self.search([("state", "=", "pending")]):
            refund.with_company(refund.company_id)._sync_card_refund()

    def _sync_card_refund(self):
        """Send the refund or ask Stripe where it stands. Returns a message when
        the refund could not move on; it is tried again later."""
        self.ensure_one()
        if self.state != "pending":
            return None
        # sudo: transactions and providers are kept for payment administrators;
        # the refund user may send the refund the register holds
        refund_tx = self.payment_transaction_id.sudo()
        try:
            with self.env.cr.savepoint():
                # one sender at a time, and no cancelling while it is sent
                self._lock_for_refund(self)
                if not refund_tx:
                    self._send_card_refund()
                elif refund_tx.state in ("draft", "pending"):
                    stripe_refund = refund_tx.provider_id._client_refund_get_stripe_refund(
                        refund_tx.provider_reference
                    )
                    refund_tx._handle_notification_data(
                        "stripe", {"reference": refund_tx.reference, "refund": stripe_refund}
                    )
                else:
                    self._update_from_card_refund()
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            if refund_tx:
                return self._log_card_refund_delay(error.user_message or error)
            # Stripe refused to make it: nothing was refunded
            self._fail_card_refund(_("Stripe refused the refund: %s", error.user_message or error))
        except stripe.APIConnectionError as error:
            return self._log_card_refund_delay(
                _("Stripe could not be reached (%s).", error.user_message or error)
            )
        except stripe.StripeError as error:
            # a rate-limit or Stripe-side error: the same key is sent again
            return self._log_card_refund_delay(
                _("Stripe answered: %s", error.user_message or error)
            )
        except UserError as error:
            return self._log_card_refund_delay(error.args[0], alert=True)
        return None

    def _log_card_refund_delay(self, why, alert=False):
        message = _(
            "%(refund)s could not move on: %(why)s Nothing more is booked; it is tried "
            "again with the same idempotency key, so the client cannot be paid twice.",
            refund=self.name,
            why=why,
        )
        self._message_log(body=message)
        if alert and not self.activity_ids:
            self._schedule_manager_activities(
                self._get_managers(), _("Card refund %s is stuck", self.name), note=message
            )
        return message

    def _send_card_refund(self):
        # the refund being sent does not wait for itself
        self = self.with_context(client_refund_sending_id=self.id)
        # sudo: see _sync_card_refund
        card_payment = self.card_transaction_id.sudo()
        provider = card_payment.provider_id
        made = provider._client_refund_find_stripe_refund(self, card_payment.provider_reference)
        mirrored = card_payment.child_transaction_ids.filtered(
            lambda tx: made and tx.operation == "refund" and tx.provider_reference == made["id"]
        )[:1]
        if mirrored:
            # core's webhook recorded it while the transaction that sent it rolled back
            self._write_record({"payment_transaction_id": mirrored.id})
            mirrored._handle_notification_data(
                "stripe", {"reference": mirrored.reference, "refund": made}
            )
            return
        if not made:
            source = self._get_source()
            self._lock_for_refund(source)
            # the document may have been refunded otherwise since the request
            source._client_refund_check_request(self)
            self._check_card_request(source)
        if card_payment.token_id.payment_details:
            self._write_record({"card_last4": card_payment.token_id.payment_details})
        card_payment.with_context(client_refund_id=self.id)._send_refund_request(
            amount_to_refund=self.amount_paid_back
        )

    def _update_from_card_refund(self):
        """Book the refund when Stripe made it; undo it when Stripe failed it."""
        for refund in self:
            refund = refund.with_company(refund.company_id)
            refund_tx = refund.payment_transaction_id
            if refund_tx.state == "done" and refund.state == "pending":
                refund._execute()
            elif refund_tx.state == "done" and refund.state == "failed":
                refund._schedule_manager_activities(
                    refund._get_managers(),
                    _("Card refund %s succeeded after it failed", refund.name),
                    note=_(
                        "Stripe now says refund %s succeeded: nothing is booked for it. "
                        "Book the refund by hand.",
                        refund.name,
                    ),
                )
            elif refund_tx.state in ("error", "cancel") and refund.state in ("pending", "done"):
                refund._fail_card_refund(refund_tx.state_message)

    def _fail_card_refund(self, why):
        """Nothing stays booked as paid back; a manager takes it from here."""
        self.ensure_one()
        paid = self.payment_ids.filtered(lambda payment: payment.state != "canceled")
        paid.action_draft()
        paid.action_cancel()
        self._write_record({"state": "failed", "amount_paid_back": 0.0})
        message = _(
            "%(refund)s failed at Stripe: %(why)s",
            refund=self._get_html_link(),
            why=why or "",
        )
        if self.pos_order_ids:
            # a paid POS order cannot be undone: its session books the card refund
            message += " " + _(
                "POS refund order %s stays booked on the card terminal: pay the client "
                "back at the till and have the session's closing corrected.",
                ", ".join(self.pos_order_ids.mapped("name")),
            )
        else:
            message += " " + _("Nothing is booked as paid back.")
            if self.credit_note_ids:
                message += " " + _(
                    "Credit note %s stays open as the client's credit: pay it back "
                    "another way.",
                    ", ".join(self.credit_note_ids.mapped("name")),
                )
        self._log_on_documents(message)
        self._schedule_manager_activities(
            self._get_managers(), _("Card refund %s failed", self.name), note=message
        )

    def _send_receipt(self):
        self.ensure_one()
        template = self.env.ref("client_refund.mail_template_client_refund")
        template.send_mail(self.id, email_layout_xmlid="mail.mail_notification_light")
        self._message_log(body=_("Receipt sent to %s.", self.partner_id.email))

    def action_send_receipt(self):
        self.ensure_one()
        if self.state != "done":
            raise UserError(_("A receipt is sent once the refund is made."))
        if not self.partner_id.email:
            raise UserError(_("Client %s has no e-mail address.", self.partner_id.display_name))
        self._send_receipt()
        return True

    def _check_client_of(self, document):
        """A refund goes to the client who paid, not to someone else."""
        client = document.partner_id.commercial_partner_id
        if self.partner_id and client and self.partner_id.commercial_partner_id != client:
            raise UserError(
                _(
                    "%(document)s was paid by %(client)s, not by %(other)s.",
                    document=document.display_name,
                    client=client.display_name,
                    other=self.partner_id.display_name,
                )
            )

    def _check_no_balance_sold(self, document, products):
        """A gift card, eWallet top-up, visit pack or membership sold on `document`
        is refunded from the card or the membership, so that its balance follows
        and it cannot be paid back twice; their own refunds reverse the sale."""
        if self.source_card_id or self.source_membership_line_id:
            return
        # sudo: programs are read for staff without Loyalty rights
        programs = self.env["loyalty.program"].sudo().search(
            [
                ("trigger_product_ids", "in", products.ids),
                "|",
                ("program_type", "in", ("gift_card", "ewallet")),
                ("client_refund_is_visit_pack", "=", True),
            ]
        )
        balances = products.filtered(
            lambda product: product.membership or product in programs.trigger_product_ids
        )
        if balances:
            raise UserError(
                _(
                    "%(document)s sold %(products)s: refund them from the card or the "
                    "membership (its Refund button, or the client's Refunds page), so "
                    "that the balance follows. Pick the other lines to refund the rest.",
                    document=document.display_name,
                    products=", ".join(balances.mapped("display_name")),
                )
            )

    def _check_amount_within(self, refundable, currency, too_much_message):
        """Refuse an amount of zero or less, or above what is `refundable`."""
        if currency.compare_amounts(self.amount, 0.0) <= 0:
            raise UserError(_("The amount to refund must be positive."))
        if currency.compare_amounts(self.amount, refundable) > 0:
            raise UserError(too_much_message)

    def _write_record(self, vals):
        # sudo: the refund records what it did; users cannot write these fields
        return self.sudo().write(vals)

    def _lock_for_refund(self, records):
        """Take the refunded documents for this transaction, so that two people
        refunding the same thing at once cannot both succeed."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM %s WHERE id IN %s FOR NO KEY UPDATE NOWAIT",
                        SQL.identifier(records._table),
                        tuple(records.ids),
                    )
                )
        except psycopg2.errors.LockNotAvailable:
            raise UserError(
                _(
                    "%s is being refunded by someone else right now. Reload it and "
                    "check what is left to refund.",
                    ", ".join(records.mapped("display_name")),
                )
            ) from None
        # Touch the rows: a request whose snapshot predates this refund's commit
        # then fails to lock them with a serialization error, and Odoo retries it
        # with fresh data, instead of refunding from stale quantities.
        self.env.cr.execute(
            SQL(
                "UPDATE %s SET write_date = write_date WHERE id IN %s",
                SQL.identifier(records._table),
                tuple(records.ids),
            )
        )
        records.invalidate_recordset()

    def _pay_back_lines(self, to_give_back, plan=()):
        """Pay back {open client credit line: amount} in the currency each line
        was paid in: one payout per currency. `plan`: reconciliations to make in
        the same batch as the payouts' (account.move.line._reconcile_plan)."""
        self.ensure_one()
        plan = list(plan)
        payments = self.env["account.payment"]
        lines = self.env["account.move.line"].concat(*to_give_back)
        for currency, group in lines.grouped("currency_id").items():
            amount = currency.round(sum(to_give_back[line] for line in group))
            if currency.compare_amounts(amount, 0.0) > 0:
                payment = self._get_payout(amount, currency)
                payments |= payment
                plan.append(self._get_payout_lines(payment, group) + group)
        if plan:
            self.env["account.move.line"]._reconcile_plan(plan)
        return payments

    def _pay_back(self, amount, lines_to_settle, currency=None):
        """Pay `amount` back and reconcile the payout with the client's receivable
        lines it settles."""
        self.ensure_one()
        payment = self._get_payout(amount, currency or self.currency_id)
        (self._get_payout_lines(payment, lines_to_settle) + lines_to_settle).reconcile()
        return payment

    def _get_payout(self, amount, currency):
        """The payment out of the payout journal, or the payment of the card
        refund Stripe made."""
        if self.payout_method == "card":
            return self._get_card_refund_payment()
        return self._pay_out_of_journal(amount, currency)

    def _get_payout_lines(self, payment, lines_to_settle):
        return payment.move_id.line_ids.filtered(
            lambda line: line.account_id in lines_to_settle.account_id
        )

    def _pay_out_of_journal(self, amount, currency, account=None):
        """`account`: booked there (the Refund expense account, a liability) instead
        of on the client's receivable."""
        if not self.payout_journal_id:
            raise UserError(_("Choose the cash or bank journal that pays the refund."))
        payout_vals = self._prepare_payout_vals(amount, currency)
        if account:
            payout_vals["destination_account_id"] = account.id
        payment = self.env["account.payment"].create(payout_vals)
        if not payment.outstanding_account_id:
            payment.outstanding_account_id = payment._get_outstanding_account("outbound")
        payment.action_post()
        return payment

    def _get_card_refund_payment(self):
        """The payment of the refund transaction, made by core's post-processing."""
        # sudo: transactions and their payments are created for the provider
        refund_tx = self.payment_transaction_id.sudo()
        if not refund_tx.payment_id:
            refund_tx.with_company(refund_tx.company_id)._create_payment()
        return refund_tx.payment_id.with_env(self.env)

    def _return_delivered_products(self, deliveries, quantities):
        """Receive back `quantities` ({product: quantity in its unit}) through
        returns of `deliveries`, validated at once: the client hands them back."""
        returns = self.env["stock.picking"]
        left = dict(quantities)
        # Taking back what the client returns is part of the refund the user may
        # make; front-desk staff need no Inventory rights for it.
        for delivery in deliveries.sudo():
            wizard = (
                self.env["stock.return.picking"]
                .sudo()
                .with_context(active_id=delivery.id, active_model="stock.picking")
                .create({"picking_id": delivery.id})
            )
            to_return = False
            for line in wizard.product_return_moves:
                returned = line.move_id.returned_move_ids.filtered(
                    lambda m: m.state != "cancel"
                )
                returnable = line.move_id.quantity - sum(returned.mapped("quantity"))
                quantity = min(left.get(line.product_id, 0.0), returnable)
                line.quantity = quantity
                if quantity > 0:
                    left[line.product_id] -= quantity
                    to_return = True
            if not to_return:
                continue
            picking = wizard._create_return()
            for move in picking.move_ids:
                move.quantity = move.product_uom_qty
            picking.move_ids.picked = True
            picking.button_validate()
            returns |= picking
        return returns.with_env(self.env)

    def _log_on_documents(self, body):
        """The refund, the refunded document and the client all tell the story."""
        self.ensure_one()
        for document in (self, self._get_source(), self.partner_id):
            if document:
                document._message_log(body=body)

    def _get_done_message(self):
        self.ensure_one()
        amount = self.currency_id.format(self.amount)
        if self.scope == "void":
            what = _("voided %(amount)s", amount=amount)
        else:
            what = _("refunded %(amount)s", amount=amount)
        parts = [
            _(
                "%(refund)s: %(user)s %(what)s of %(document)s. Reason: %(reason)s.",
                refund=self._get_html_link(),
                user=self.user_id.name,
                what=what,
                document=self.source_reference,
                reason=self.reason_id.name,
            )
        ]
        if self.credit_note_ids:
            parts.append(
                _(
                    "Credit note: %s.",
                    ", ".join(self.credit_note_ids.mapped("name")),
                )
            )
        if self.amount_paid_back and self.payout_method == "card":
            parts.append(
                _(
                    "Paid back %(amount)s to the card%(ending)s, Stripe reference %(reference)s.",
                    amount=self.currency_id.format(self.amount_paid_back),
                    ending=_(" ending in %s", self.card_last4) if self.card_last4 else "",
                    reference=self.stripe_refund_reference,
                )
            )
        elif self.amount_paid_back:
            parts.append(
                _(
                    "Paid back %(amount)s by %(journal)s.",
                    amount=self.currency_id.format(self.amount_paid_back),
                    journal=self.payout_journal_id.name or self.payout_method,
                )
            )
        if self.note:
            parts.append(self.note)
        return Markup(" ").join(parts)

    def _prepare_payout_vals(self, amount, currency):
        return {
            "payment_type": "outbound",
            "partner_type": "customer",
            "partner_id": self.partner_id.commercial_partner_id.id,
            "amount": amount,
            "currency_id": currency.id,
            "journal_id": self.payout_journal_id.id,
            "company_id": self.company_id.id,
            "date": fields.Date.context_today(self),
            "memo": _(
                "%(refund)s: %(reason)s", refund=self.name, reason=self.reason_id.name
            ),
        }
