from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.misc import clean_context


# What a user may change on a refund: the register is the record of what was
# refunded, written by the addon's own code (in sudo) only.
USER_WRITABLE_FIELDS = {"note"}
# The refunds that count against the approval threshold and the daily cap
COUNTED_STATES = ("to_approve", "pending", "done")


class ClientRefund(models.Model):
    _name = "client.refund"
    _description = "Client Refund"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "client.refund.document",
        "client.refund.bookings",
        "client.refund.card.payout",
        "client.refund.fees",
        "client.refund.oversight",
        "client.refund.disputed.sale",
    ]
    _order = "date desc, id desc"
    _check_company_auto = True
    _rec_names_search = ["name", "partner_id", "source_reference"]

    name = fields.Char(string="Number", required=True, readonly=True, copy=False, default="/")
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        index=True,
        readonly=True,
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
        readonly=True,
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
        readonly=True,
        index=True,
        tracking=True,
    )
    scope = fields.Selection(
        selection=[
            ("full", "Full"),
            ("partial", "Partial"),
            ("void", "Void"),
        ],
        string="Full or Part",
        required=True,
        readonly=True,
        default="full",
        tracking=True,
    )
    amount = fields.Monetary(
        currency_field="currency_id",
        readonly=True,
        tracking=True,
        help="Amount credited or refunded, tax included, computed from the document refunded.",
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
        readonly=True,
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
            ("journal", "Cash or Bank Transfer"),
            ("card", "Card (Stripe)"),
            ("pos", "Point of Sale"),
            ("credit", "Client Credit"),
            ("refund_account", "Cash or Bank Transfer, as a Refund Expense"),
            ("ewallet", "The Client's eWallet"),
            ("none", "No Money Moved"),
        ],
        string="Paid Back By",
        readonly=True,
        tracking=True,
        help="Client Credit: the credit note stays open on the client's account. "
        "No Money Moved: a payment was voided before any money was paid.",
    )
    payout_journal_id = fields.Many2one(
        comodel_name="account.journal",
        string="Paid Back From",
        readonly=True,
        check_company=True,
        domain="[('type', 'in', ('cash', 'bank'))]",
    )
    reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
        check_company=True,
    )
    note = fields.Text()
    send_receipt = fields.Boolean(
        readonly=True, help="E-mail the receipt to the client once the refund is made."
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
        readonly=True,
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
    request_date = fields.Date(
        compute="_compute_request_date",
        store=True,
        # the Date filter of the register searches by it
        index=True,
        help="The day the refund was asked, in the time zone of who asked it. The "
        "register's reports count refunds by it.",
    )
    user_id = fields.Many2one(
        comodel_name="res.users",
        string="Requested By",
        required=True,
        readonly=True,
        default=lambda self: self.env.user,
        index=True,
        tracking=True,
    )
    approver_id = fields.Many2one(
        comodel_name="res.users", string="Approved By", readonly=True, copy=False
    )
    date_approved = fields.Datetime(string="Approved On", readonly=True, copy=False)
    date_done = fields.Datetime(string="Done On", readonly=True, copy=False)
    pos_config_id = fields.Many2one(
        comodel_name="pos.config",
        string="Paid Out At",
        readonly=True,
        check_company=True,
        help="Point of Sale whose open session pays the refund out.",
    )
    amount_ewallet = fields.Monetary(
        string="Onto the eWallet",
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="What the refund put on the client's eWallet as store credit: all of it "
        "when paid back to the eWallet, a part of it when split with one other way.",
    )
    # the status bar shows the steps this refund goes through
    status_with_approval = fields.Boolean(
        compute="_compute_status_with_approval",
        help="The refund waits, or waited, for a manager's approval.",
    )

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique(name, company_id)",
            "A refund number is used once per company.",
        ),
    ]

    @api.depends("state", "approver_id", "date_approved")
    def _compute_status_with_approval(self):
        for refund in self:
            refund.status_with_approval = bool(
                refund.state == "to_approve" or refund.approver_id or refund.date_approved
            )

    @api.depends("date", "user_id")
    def _compute_request_date(self):
        # the day as the staff member saw it, whoever computes it: a Date, so
        # that the reports group by month without a time zone in the query
        for refund in self:
            refund.request_date = fields.Date.context_today(
                refund.with_context(tz=refund.user_id.tz or "UTC"), timestamp=refund.date
            )

    @api.depends("amount", "currency_id", "company_id", "date")
    def _compute_amount_company_currency(self):
        for refund in self:
            refund.amount_company_currency = refund.currency_id._convert(
                refund.amount,
                refund.company_currency_id,
                refund.company_id,
                refund.date or fields.Date.context_today(refund),
            )

    def init(self):
        # The reports group the register by month and reason: without statistics
        # on that expression PostgreSQL expects a group per day and plans for
        # them. Statistics on expressions came with PostgreSQL 14; Odoo 18 runs on 12.
        if self.env.cr._cnx.server_version < 140000:
            return
        self.env.cr.execute(
            SQL(
                "CREATE STATISTICS IF NOT EXISTS client_refund_request_month_stats "
                "ON (date_trunc('month', request_date::timestamp)::date), reason_id "
                "FROM client_refund"
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        # Only the wizards record refunds (in sudo, once they checked them);
        # numbers come from the company's sequence, never from the caller.
        for vals in vals_list:
            company = self.env["res.company"].browse(vals.get("company_id") or self.env.company.id)
            vals["name"] = company._client_refund_next_number()
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and vals.keys() - USER_WRITABLE_FIELDS:
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
            refund._get_source()._client_refund_lock()
            refund._write_record(refund._prepare_values_from_source())
            refund._write_record(refund._prepare_policy_values())
            if refund.policy_waived and refund._is_refund_manager(self.env.user):
                refund._write_record({"waived_by_id": self.env.user.id})
            refund._check_request()
            approval_reason = refund._get_approval_reason()
            if approval_reason:
                refund._request_approval(approval_reason)
            else:
                refund._make()
        self._set_oversight_flags()
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
            if refund.policy_waived and not refund.waived_by_id:
                # the done message says who waived it
                refund._write_record({"waived_by_id": self.env.user.id})
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
            if refund.payout_method == "card" and (
                refund.state == "done" or refund.state == "pending" and refund._is_at_stripe()
            ):
                raise UserError(
                    _(
                        "Refund %s has been sent to Stripe: a card refund is final and "
                        "cannot be taken back.",
                        refund.name,
                    )
                )
            # a refund user cancels only the refunds they asked for, while waiting
            if not is_manager and (
                refund.state in ("done", "failed") or refund.user_id != self.env.user
            ):
                raise AccessError(_("Only a refund manager can cancel refund %s.", refund.name))
            if refund.state in ("done", "failed"):
                refund._undo_bookings()
        self.filtered(lambda r: r.state != "cancel")._cancel()
        return True

    def action_send_receipt(self):
        self.ensure_one()
        if self.state != "done":
            raise UserError(_("A receipt is sent once the refund is made."))
        if not self.partner_id.email:
            raise UserError(_("Client %s has no e-mail address.", self.partner_id.display_name))
        self._send_receipt()
        return True

    def action_print_receipt(self):
        self._check_receipt_printable()
        return self.env.ref("client_refund.action_report_client_refund").report_action(self)

    # ------------------------------------------------------------------
    # Approval
    # ------------------------------------------------------------------

    def _get_approval_reason(self, serialize=True):
        """Why a manager approves this refund, or False. The threshold applies to
        the refunds of the same document added together, so that splitting a
        refund does not dodge it; the daily cap to the requester's refunds of
        the day. `serialize`: count the day's refunds one request at a time (at
        confirm; the wizard only tells in advance)."""
        self.ensure_one()
        policy_reasons = [
            *self._get_policy_approval_reasons(),
            *self.env["client.refund.dispute"]._get_refund_approval_reasons(self),
        ]
        if policy_reasons:
            return "; ".join(policy_reasons)
        company = self.company_id
        currency = self.company_currency_id
        threshold = company.client_refund_approval_threshold
        source = self._get_source()
        counted = [("state", "in", COUNTED_STATES), ("id", "!=", self._origin.id)]
        # sudo: every refund of the document counts, whoever made it, and the
        # sales are named for staff who may not read them
        Refund = self.sudo()
        if threshold:
            # the refunds of the document, and of the sales it gives back
            # (an invoice's lines and the gift card it sold are one sale)
            same_sale = expression.OR(
                [
                    [(self._get_source_fields()[source._name], "=", source.id)],
                    *(
                        [(fname, "in", Refund[fname].ids)]
                        for fname in self._get_sale_document_fields().values()
                        if Refund[fname]
                    ),
                ]
            )
            earlier = Refund.search(expression.AND([same_sale, counted]))
            total = sum(earlier.mapped("amount_company_currency")) + self.amount_company_currency
            if currency.compare_amounts(total, threshold) > 0:
                sales = [
                    name
                    for fname in self._get_sale_document_fields().values()
                    for name in Refund[fname].mapped("display_name")
                ]
                return _(
                    "refunds of %(document)s add up to %(total)s, above %(threshold)s",
                    document=", ".join(dict.fromkeys([source.display_name, *sales])),
                    total=currency.format(total),
                    threshold=currency.format(threshold),
                )
        cap = company.client_refund_daily_cap
        if cap:
            if serialize:
                # One count at a time per requester: the requester's row is
                # touched, so a second refund of the same user at once waits,
                # then fails to serialize and is retried by Odoo with a snapshot
                # that counts the first one (a lock alone would leave it
                # counting from before).
                self.env.cr.execute(
                    SQL("UPDATE res_users SET write_date = write_date WHERE id = %s", self.user_id.id)
                )
            today = Refund.search(
                [
                    ("user_id", "=", self.user_id.id),
                    ("company_id", "=", company.id),
                    ("date", ">=", company._client_refund_start_of_day()),
                    *counted,
                ]
            )
            total = sum(today.mapped("amount_company_currency")) + self.amount_company_currency
            if currency.compare_amounts(total, cap) > 0:
                return _(
                    "%(user)s's refunds of the day add up to %(total)s, beyond the daily "
                    "cap of %(cap)s",
                    user=self.user_id.name,
                    total=currency.format(total),
                    cap=currency.format(cap),
                )
        return False

    def _request_approval(self, why):
        self.ensure_one()
        managers = self._get_managers() - self.user_id
        if not managers:
            raise UserError(
                _(
                    "This refund needs approval in %(company)s (%(why)s), and no other "
                    "refund manager of the company can approve it.",
                    company=self.company_id.name,
                    why=why,
                )
            )
        self._write_record({"state": "to_approve"})
        self._schedule_manager_activities(managers, _("Approve refund %s", self.name))
        self._log_on_documents(
            _(
                "%(refund)s of %(amount)s by %(user)s waits for a manager's approval "
                "(%(why)s).",
                refund=self._get_html_link(),
                amount=self.currency_id.format(self.amount),
                user=self.user_id.name,
                why=why,
            )
        )

    def _get_managers(self):
        self.ensure_one()
        # sudo: who the managers are is read for users who may not read groups
        return (
            self.env.ref("client_refund.group_client_refund_manager")
            .sudo()
            .users.filtered(lambda user: self.company_id in user.company_ids)
        )

    def _schedule_manager_activities(self, managers, summary, note=None):
        for manager in managers:
            self.activity_schedule(
                "mail.mail_activity_data_todo", user_id=manager.id, summary=summary, note=note
            )

    # ------------------------------------------------------------------
    # Execution
    # ------------------------------------------------------------------

    def _execute(self):
        """Make a refund confirmed earlier, once a manager approved it or Stripe
        made it: checked again, on what it was confirmed for."""
        self.ensure_one()
        source = self._get_source()
        source._client_refund_lock()
        self._check_still_as_approved()
        if self.state == "pending":
            # Stripe has made it: the card's own checks would count it twice
            source._client_refund_check_request(self)
        else:
            self._check_request()
        self._make()

    def _make(self):
        """Let the refunded document do the refund, then record what it made. A
        card refund is booked once Stripe has made it."""
        self.ensure_one()
        source = self._get_source()
        if self.payout_method == "card" and self.state != "pending":
            # sudo: transactions are kept for payment administrators
            source._client_refund_ensure_card_transaction().sudo()._client_refund_request(self)
            return
        results = source._client_refund_execute(self)
        if self.currency_id.compare_amounts(results.pop("amount", self.amount), self.amount):
            raise UserError(
                _(
                    "Refund %s would credit another amount than the one confirmed: "
                    "nothing was refunded. Refund again.",
                    self.name,
                )
            )
        if self.scope == "void" or (
            self.payout_method in ("journal", "ewallet")
            and not results.get("amount_paid_back")
            and not results.get("amount_ewallet")
        ):
            results["payout_method"] = "none"
        self._write_record({**results, "state": "done", "date_done": fields.Datetime.now()})
        self._log_on_documents(self._get_done_message())
        if self.replaced_refund_id:
            self.replaced_refund_id._message_log(
                body=_("Paid back another way by %s.", self._get_html_link())
            )
        if self.send_receipt and self.partner_id.email:
            self._send_receipt()

    # ------------------------------------------------------------------
    # The record and its messages
    # ------------------------------------------------------------------

    def _cancel(self):
        self.activity_unlink(["mail.mail_activity_data_todo"])
        self._write_record({"state": "cancel"})
        for refund in self:
            refund._message_log(body=_("Cancelled by %s.", self.env.user.name))

    def _write_record(self, vals):
        # sudo: the refund records what it did; users cannot write these fields
        return self.sudo().write(vals)

    def _log_on_documents(self, body):
        """The refund, the refunded document and the client all tell the story."""
        self.ensure_one()
        for document in (self, self._get_source(), self.partner_id):
            if document:
                document._message_log(body=body)

    def _check_receipt_printable(self):
        """A receipt says money went back: none for a refund waiting for a
        manager or Stripe, rejected, failed or cancelled."""
        not_made = self.filtered(lambda refund: refund.state != "done")
        if not_made:
            raise UserError(
                _(
                    "A receipt is printed once the refund is made, not for %s.",
                    ", ".join(not_made.mapped("name")),
                )
            )

    def _send_receipt(self):
        self.ensure_one()
        template = self.env.ref("client_refund.mail_template_client_refund")
        template.send_mail(self.id, email_layout_xmlid="mail.mail_notification_light")
        self._message_log(body=_("Receipt sent to %s.", self.partner_id.email))

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
        fee_words = self._get_fee_words()
        if fee_words:
            parts.append(_("Refund policy: %s.", fee_words))
        if self.waived_by_id:
            parts.append(
                _("Policy waived by %(user)s: %(reason)s.", user=self.waived_by_id.name,
                  reason=(self.waiver_reason or "").strip().rstrip("."))
            )
        if self.amount_ewallet:
            parts.append(
                _(
                    "Put %(amount)s on eWallet %(card)s.",
                    amount=self.currency_id.format(self.amount_ewallet),
                    card=self.ewallet_card_id.code,
                )
            )
        if self.amount_paid_back and self.payout_method == "card":
            parts.append(self._get_card_paid_back_words())
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
