import io
from datetime import datetime, timedelta

import pytz
import stripe

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL, html2plaintext

from odoo.addons.payment import utils as payment_utils

from .client_refund_source import refund_own_path

# Stripe's events about a Dispute object; *Generate your webhook* subscribes to them
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
# The outcome of each Stripe status: an inquiry (warning_*) closed without a
# chargeback cost nothing, as a dispute won; a status Stripe added since is open
STRIPE_OUTCOMES = {"won": "won", "warning_closed": "won", "lost": "lost"}
# What a manager may change on a dispute: the rest is what Stripe says
MANAGER_WRITABLE_FIELDS = {"note"}
# Stripe takes dispute evidence files of these types, and texts up to this length
STRIPE_EVIDENCE_FILE_TYPES = ("application/pdf", "image/jpeg", "image/png")
STRIPE_EVIDENCE_TEXT_MAX = 20000


class ClientRefundDispute(models.Model):
    """A card payment the client disputed with their bank (a chargeback), as
    Stripe tells it: written by the webhook only, from the Dispute object read
    back from Stripe."""

    _name = "client.refund.dispute"
    _description = "Card Dispute"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "create_date desc, id desc"
    _rec_name = "stripe_dispute_id"
    _check_company_auto = True

    stripe_dispute_id = fields.Char(required=True, readonly=True, index=True)
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True, index=True)
    transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Card Payment",
        readonly=True,
        index="btree_not_null",
        # transactions are read by invoicing users
        groups="account.group_account_invoice",
    )
    pos_payment_id = fields.Many2one(
        comodel_name="pos.payment", string="Terminal Payment", readonly=True, index="btree_not_null"
    )
    partner_id = fields.Many2one(comodel_name="res.partner", string="Client", readonly=True, index=True)
    payment_id = fields.Many2one(comodel_name="account.payment", readonly=True)
    move_id = fields.Many2one(comodel_name="account.move", string="Invoice", readonly=True, index="btree_not_null")
    pos_order_id = fields.Many2one(
        comodel_name="pos.order", string="Point of Sale Order", readonly=True, index="btree_not_null"
    )
    amount = fields.Monetary(string="Disputed Amount", readonly=True)
    amount_fee = fields.Monetary(
        string="Dispute Fee", readonly=True, help="The fees of the dispute's balance transactions at Stripe."
    )
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    stripe_reason = fields.Char(string="Reason", readonly=True, help="The reason the bank gave, as Stripe says it.")
    stripe_status = fields.Char(readonly=True, tracking=True)
    evidence_due_by = fields.Datetime(readonly=True, tracking=True)
    outcome = fields.Selection(
        selection=[("open", "Open"), ("won", "Won"), ("lost", "Lost")],
        readonly=True,
        default="open",
        required=True,
        tracking=True,
    )
    funds_withdrawn = fields.Boolean(readonly=True, tracking=True)
    funds_reinstated = fields.Boolean(readonly=True, tracking=True)
    withdrawal_move_id = fields.Many2one(
        comodel_name="account.move",
        string="Withdrawal Entry",
        readonly=True,
        copy=False,
        tracking=True,
        help="The disputed amount and Stripe's fee out of the Stripe journal, the amount back on the "
        "client's receivable.",
    )
    reinstatement_move_id = fields.Many2one(
        comodel_name="account.move",
        string="Reinstatement Entry",
        readonly=True,
        copy=False,
        tracking=True,
        help="The disputed amount, and the fee if Stripe returned it, back into the Stripe journal.",
    )
    note = fields.Text()

    _sql_constraints = [
        (
            "stripe_dispute_company_uniq",
            "unique(company_id, stripe_dispute_id)",
            "A Stripe dispute is recorded once per company.",
        )
    ]

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            # who may not create any is told so first
            self.check_access("create")
            raise UserError(_("Card disputes are recorded from what Stripe says, not by hand."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and vals.keys() - MANAGER_WRITABLE_FIELDS:
            # who may not write at all is told so first
            self.check_access("write")
            raise UserError(
                _("A card dispute is what Stripe says of it: only a note may be added.")
            )
        return super().write(vals)

    # ------------------------------------------------------------------
    # From Stripe
    # ------------------------------------------------------------------

    @api.model
    def _find_card_payment(self, stripe_dispute):
        """(transaction, terminal payment) of the dispute's PaymentIntent or
        charge: core keeps the PaymentIntent in the transaction's
        provider_reference, the till in the terminal payment's transaction_id."""
        references = [
            reference
            for reference in (stripe_dispute.get("payment_intent"), stripe_dispute.get("charge"))
            if isinstance(reference, str) and reference
        ]
        # sudo: transactions and payments are read for the webhook's public user
        transaction = self.env["payment.transaction"].sudo().search(
            [
                ("provider_code", "=", "stripe"),
                ("operation", "!=", "refund"),
                ("provider_reference", "in", references),
            ],
            limit=1,
        )
        pos_payment = transaction.client_refund_pos_payment_id or (
            self.env["pos.payment"].sudo().search([("transaction_id", "in", references)], limit=1)
            if references
            else self.env["pos.payment"].sudo()
        )
        return transaction, pos_payment

    @api.model
    def _get_provider(self, transaction, pos_payment):
        """The Stripe provider whose keys read the dispute and check the event."""
        if transaction:
            return transaction.provider_id
        if not pos_payment:
            return self.env["payment.provider"]
        try:
            return pos_payment.payment_method_id.with_company(pos_payment.company_id)._get_stripe_payment_provider()
        except UserError:
            return self.env["payment.provider"]

    @api.model
    def _sync_from_stripe(self, stripe_dispute, transaction, pos_payment):
        """Create or update the dispute from the Dispute object read from
        Stripe: the same object read twice changes nothing, whichever event
        brought it. Staff are told what changed."""
        company = transaction.company_id or pos_payment.company_id
        Dispute = self.sudo().with_company(company)
        # One event of a payment at a time: a second event of a new dispute
        # waits on the payment's row, then fails to serialize and Odoo retries
        # it with a snapshot that has the first one's dispute (instead of
        # creating it twice and answering Stripe an error).
        payment = transaction or pos_payment
        self.env.cr.execute(
            SQL("UPDATE %s SET write_date = write_date WHERE id = %s", SQL.identifier(payment._table), payment.id)
        )
        dispute = Dispute.search(
            [("company_id", "=", company.id), ("stripe_dispute_id", "=", stripe_dispute["id"])], limit=1
        )
        vals = self._prepare_vals_from_stripe(stripe_dispute, transaction, pos_payment)
        if not dispute:
            dispute = Dispute.create({**vals, "company_id": company.id, "stripe_dispute_id": stripe_dispute["id"]})
            dispute._notify_opened()
            dispute._book_from_stripe(stripe_dispute)
            return dispute
        before = {name: dispute[name] for name in ("outcome", "funds_withdrawn", "funds_reinstated", "evidence_due_by")}
        # tracking logs only what changed: the same object read again logs nothing
        dispute.write(vals)
        dispute._notify_changes(before)
        dispute._book_from_stripe(stripe_dispute)
        return dispute

    @api.model
    def _prepare_vals_from_stripe(self, stripe_dispute, transaction, pos_payment):
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=ilike", stripe_dispute.get("currency") or "")], limit=1)
        ) or transaction.currency_id or pos_payment.currency_id
        due_by = (stripe_dispute.get("evidence_details") or {}).get("due_by")
        balance_transactions = stripe_dispute.get("balance_transactions") or []
        status = stripe_dispute.get("status") or ""
        order = pos_payment.pos_order_id
        invoice = transaction.invoice_ids.filtered(lambda move: move.is_sale_document())[:1]
        return {
            "transaction_id": transaction.id,
            "pos_payment_id": pos_payment.id,
            "pos_order_id": order.id,
            "payment_id": transaction.payment_id.id,
            "move_id": invoice.id or order.account_move.id,
            "partner_id": (transaction.partner_id or order.partner_id).commercial_partner_id.id,
            "currency_id": currency.id,
            "amount": payment_utils.to_major_currency_units(stripe_dispute.get("amount") or 0, currency),
            "amount_fee": payment_utils.to_major_currency_units(
                sum(bt.get("fee") or 0 for bt in balance_transactions), currency
            ),
            "stripe_reason": stripe_dispute.get("reason") or False,
            "stripe_status": status,
            "evidence_due_by": datetime.fromtimestamp(due_by, tz=pytz.utc).replace(tzinfo=None)
            if isinstance(due_by, int)
            else False,
            "outcome": STRIPE_OUTCOMES.get(status, "open"),
            # Stripe withdraws with a negative balance transaction, reinstates with a positive one
            "funds_withdrawn": any((bt.get("amount") or 0) < 0 for bt in balance_transactions),
            "funds_reinstated": any((bt.get("amount") or 0) > 0 for bt in balance_transactions),
        }

    # ------------------------------------------------------------------
    # Staff are told
    # ------------------------------------------------------------------

    def _get_documents(self):
        """The records whose chatter tells the dispute: the payment, the invoice,
        the order and the client."""
        self.ensure_one()
        return [doc for doc in (self.payment_id, self.move_id, self.pos_order_id, self.partner_id) if doc]

    def _log_on_documents(self, body):
        self.ensure_one()
        self.message_post(body=body)
        for document in self._get_documents():
            document.message_post(body=body)

    def _get_deadline_words(self):
        self.ensure_one()
        if not self.evidence_due_by:
            return _("no evidence deadline")
        return _("evidence due by %s", self._get_evidence_due_date())

    def _get_evidence_due_date(self):
        """The evidence deadline's day, in the company's refund time zone."""
        self.ensure_one()
        tz = pytz.timezone(self.company_id.client_refund_tz or "UTC")
        return pytz.utc.localize(self.evidence_due_by).astimezone(tz).date()

    def _get_managers(self):
        self.ensure_one()
        # sudo: who the managers are is read for the webhook's public user
        return (
            self.env.ref("client_refund.group_client_refund_manager")
            .sudo()
            .users.filtered(lambda user: self.company_id in user.company_ids and not user.share)
        )

    def _get_activity_deadline(self):
        """N days (the company's notice) before the evidence deadline, never
        before today."""
        self.ensure_one()
        today = self.company_id._client_refund_today()
        if not self.evidence_due_by:
            return today
        notice = timedelta(days=self.company_id.client_refund_dispute_notice_days)
        return max(self._get_evidence_due_date() - notice, today)

    def _notify_opened(self):
        self.ensure_one()
        self._log_on_documents(
            _(
                "The client disputed %(amount)s of this card payment with their bank "
                "(%(dispute)s, reason: %(reason)s, %(deadline)s). No card refund is "
                "possible while it is open.",
                amount=self.currency_id.format(self.amount),
                dispute=self._get_html_link(),
                reason=self.stripe_reason or _("none given"),
                deadline=self._get_deadline_words(),
            )
        )
        if self.outcome != "open":
            return
        deadline = self._get_activity_deadline()
        for manager in self._get_managers():
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                date_deadline=deadline,
                user_id=manager.id,
                summary=_("Answer card dispute %s", self.stripe_dispute_id),
                note=self._get_deadline_words(),
            )

    def _notify_changes(self, before):
        self.ensure_one()
        if self.evidence_due_by != before["evidence_due_by"] and self.outcome == "open":
            self.activity_ids.date_deadline = self._get_activity_deadline()
        if self.funds_withdrawn and not before["funds_withdrawn"]:
            self._log_on_documents(
                _("Stripe withdrew %(amount)s for dispute %(dispute)s.",
                  amount=self.currency_id.format(self.amount), dispute=self._get_html_link())
            )
        if self.funds_reinstated and not before["funds_reinstated"]:
            self._log_on_documents(
                _("Stripe reinstated %(amount)s of dispute %(dispute)s.",
                  amount=self.currency_id.format(self.amount), dispute=self._get_html_link())
            )
        if self.outcome != before["outcome"]:
            self._log_on_documents(
                _("Card dispute %(dispute)s is closed: %(outcome)s.",
                  dispute=self._get_html_link(),
                  outcome=dict(self._fields["outcome"]._description_selection(self.env))[self.outcome])
                if self.outcome != "open"
                else _("Card dispute %s is open again.", self._get_html_link())
            )
            if self.outcome != "open":
                self.activity_ids.action_feedback(feedback=_("The dispute is closed."))

    # ------------------------------------------------------------------
    # Refunds respect disputes
    # ------------------------------------------------------------------

    @api.model
    def _get_disputes_of(self, source, outcomes=("open",)):
        """The disputes of `source`'s card payment, or of `source` itself."""
        card_payment = source._client_refund_get_card_transaction()
        domains = [[("transaction_id", "in", card_payment.ids)]]
        document_field = {"account.move": "move_id", "pos.order": "pos_order_id", "account.payment": "payment_id"}
        if source._name in document_field:
            domains.append([(document_field[source._name], "=", source.id)])
        # sudo: every dispute counts, whoever may read it
        return self.sudo().search(expression.AND([[("outcome", "in", outcomes)], expression.OR(domains)]))

    @api.model
    def _check_card_not_disputed(self, source):
        """No card refund of a payment whose dispute is open, or lost (the bank
        gave the client the money back): Stripe refuses to refund a disputed
        charge, and the client would get the money twice."""
        dispute = self._get_disputes_of(source, outcomes=("open", "lost"))[:1]
        if dispute.outcome == "lost":
            raise UserError(
                _(
                    "The client's bank charged back the card payment of %(document)s "
                    "(dispute %(dispute)s, lost): no refund goes back to the card.",
                    document=source.display_name,
                    dispute=dispute.stripe_dispute_id,
                )
            )
        if dispute:
            raise UserError(
                _(
                    "The client disputed the card payment of %(document)s with their bank "
                    "(dispute %(dispute)s, %(deadline)s): no refund goes back to the card "
                    "while the dispute is open.",
                    document=source.display_name,
                    dispute=dispute.stripe_dispute_id,
                    deadline=dispute._get_deadline_words(),
                )
            )

    @api.model
    def _get_refund_approval_reasons(self, refund):
        """A refund of a sale whose card payment is disputed (open, or lost: the
        bank gave the money back) may pay the client twice: a manager decides."""
        source = refund._get_source()
        if not source or refund.scope == "void":
            return []
        return [
            _(
                "the card payment is disputed (%(dispute)s, %(outcome)s): the client may "
                "get the money twice",
                dispute=dispute.stripe_dispute_id,
                outcome=dict(dispute._fields["outcome"]._description_selection(self.env))[dispute.outcome],
            )
            for dispute in self._get_disputes_of(source, outcomes=("open", "lost"))
        ]

    # ------------------------------------------------------------------
    # The books
    # ------------------------------------------------------------------
    # A chargeback takes the client's payment back: the payment no longer pays
    # the sale. So the withdrawal is matched with the card payment in place of
    # the invoice, which reads "not paid" (or partially, for a partial dispute)
    # again, as core does with a payment reversed. A separate "disputed"
    # receivable would leave the invoice saying paid while the money is gone,
    # and hide the debt from the client's statement, follow-up and aged
    # receivable; the dispute, linked in the invoice's chatter, says why it is
    # open. Won, the withdrawal and the reinstatement settle each other and the
    # card payment pays the invoice again.

    @api.model
    def _get_stripe_fees(self, stripe_dispute, currency):
        """(the fee Stripe charged with the withdrawal, the fee it returned with
        the reinstatement), from the dispute's balance transactions: a
        withdrawal has a negative amount and its fee, a reinstatement a
        positive amount and the fee returned as a negative fee."""
        balance_transactions = stripe_dispute.get("balance_transactions") or []
        charged = sum(bt.get("fee") or 0 for bt in balance_transactions if (bt.get("amount") or 0) < 0)
        returned = -sum(bt.get("fee") or 0 for bt in balance_transactions if (bt.get("amount") or 0) > 0)
        return (
            payment_utils.to_major_currency_units(max(charged, 0), currency),
            payment_utils.to_major_currency_units(max(returned, 0), currency),
        )

    def _get_card_payment_receivable_line(self):
        """The receivable line of the card payment's entry: what the withdrawal
        takes back."""
        self.ensure_one()
        # sudo: the webhook books for Stripe; core's lock dates still apply
        payment = self.payment_id.sudo()
        if not payment.move_id or payment.move_id.state != "posted":
            return self.env["account.move.line"]
        _liquidity, counterpart, _writeoff = payment._seek_for_lines()
        return counterpart.filtered(lambda line: line.account_id.account_type == "asset_receivable")[:1]

    def _get_receivable_account(self, payment_line):
        """The client's receivable the chargeback puts the amount back on."""
        self.ensure_one()
        return payment_line.account_id or self.partner_id.with_company(self.company_id).property_account_receivable_id

    def _get_stripe_account(self):
        """Where the card payment's money went: the outstanding (or bank)
        account of the payment's liquidity line in the Stripe journal; for a
        till's terminal payment, the account its session's closing booked the
        payment method on, or books it on once closed."""
        self.ensure_one()
        if self.payment_id:
            # sudo: the payment's lines, read for the webhook
            liquidity, _counterpart, _writeoff = self.payment_id.sudo()._seek_for_lines()
            return liquidity.account_id[:1]
        # sudo: the till's bookings, read for the webhook
        pos_payment = self.pos_payment_id.sudo()
        method = pos_payment.payment_method_id
        session_payment = self.env["account.payment"].sudo().search(
            [
                ("pos_session_id", "=", pos_payment.session_id.id),
                ("pos_payment_method_id", "=", method.id),
                ("state", "!=", "draft"),
            ],
            limit=1,
        )
        return (
            session_payment.outstanding_account_id
            or method.outstanding_account_id
            or method.journal_id.inbound_payment_method_line_ids[:1].payment_account_id
            or method.journal_id.default_account_id
        )

    def _get_fee_account(self):
        company = self.company_id
        return company.client_refund_dispute_fee_account_id or company.client_refund_account_id

    def _book_from_stripe(self, stripe_dispute):
        """Book what Stripe did with the money, once: the entries on the record
        decide, so a replayed or late event books nothing twice. A lost
        dispute stays as withdrawn."""
        self.ensure_one()
        to_withdraw = self.funds_withdrawn and not self.withdrawal_move_id
        to_reinstate = self.funds_reinstated and not self.reinstatement_move_id
        if not (to_withdraw or to_reinstate):
            return
        # a till's terminal payment has none: its session books the payment
        # method's takings at once, not against the client
        payment_line = self._get_card_payment_receivable_line()
        if not (payment_line or self.pos_payment_id) or not self._get_stripe_account():
            return
        fee_charged, fee_returned = self._get_stripe_fees(stripe_dispute, self.currency_id)
        if to_withdraw:
            self._book_withdrawal(payment_line, fee_charged)
        if to_reinstate and self.withdrawal_move_id:
            self._book_reinstatement(payment_line, fee_returned)

    def _post_dispute_entry(self, label, lines):
        """A posted entry of the company's miscellaneous journal, dated today,
        of `lines` [(account, amount in the dispute's currency, with partner)],
        which add up to zero."""
        self.ensure_one()
        company = self.company_id
        # sudo: the webhook books for Stripe, as the refunds do
        journal = self.env["account.journal"].sudo().search(
            [("company_id", "=", company.id), ("type", "=", "general")], limit=1
        ) or (self.payment_id.sudo().journal_id or self.pos_payment_id.sudo().payment_method_id.journal_id)
        date = company._client_refund_today()
        move = self.env["account.move"].sudo().with_company(company).create(
            {
                "move_type": "entry",
                "journal_id": journal.id,
                "date": date,
                "ref": label,
                "line_ids": [
                    Command.create(
                        {
                            "account_id": account.id,
                            "partner_id": self.partner_id.id if with_partner else False,
                            "name": label,
                            "currency_id": self.currency_id.id,
                            "amount_currency": amount,
                            "balance": self.currency_id._convert(amount, company.currency_id, company, date),
                        }
                    )
                    for account, amount, with_partner in lines
                    if not self.currency_id.is_zero(amount)
                ],
            }
        )
        move.action_post()
        return move

    def _book_withdrawal(self, payment_line, fee):
        """The disputed amount out of the Stripe journal back onto the client's
        receivable, and Stripe's fee on the fee account; the withdrawal takes
        the card payment off the invoice, which is due again."""
        self.ensure_one()
        fee_account = self._get_fee_account() if fee else self.env["account.account"]
        fee = fee if fee_account else 0.0
        receivable = self._get_receivable_account(payment_line)
        move = self._post_dispute_entry(
            _("Card dispute %s: funds withdrawn", self.stripe_dispute_id),
            [
                (receivable, self.amount, True),
                (fee_account, fee, False),
                (self._get_stripe_account(), -(self.amount + fee), False),
            ],
        )
        self.withdrawal_move_id = move
        # a terminal payment's withdrawal stays open on the client's receivable:
        # what the client owes after the chargeback
        paid = self._unmatch(payment_line)
        withdrawal_line = move.line_ids.filtered(lambda line: line.account_id == receivable)
        self._reconcile_open(withdrawal_line | payment_line)
        # what the payment still pays (a partial dispute) goes back on the sale
        self._reconcile_open(payment_line | paid)

    def _book_reinstatement(self, payment_line, fee):
        """The disputed amount back into the Stripe journal, and the fee if
        Stripe returned it; the withdrawal and the reinstatement settle each
        other and the card payment pays the sale again."""
        self.ensure_one()
        stripe_account = self._get_stripe_account()
        withdrawal_lines = self.withdrawal_move_id.line_ids
        receivable = self._get_receivable_account(payment_line)
        withdrawal_line = withdrawal_lines.filtered(lambda line: line.account_id == receivable)
        # the fee comes back on the account it was booked on
        fee_account = (withdrawal_lines - withdrawal_line).account_id.filtered(
            lambda account: account != stripe_account
        )[:1]
        fee = fee if fee_account else 0.0
        move = self._post_dispute_entry(
            _("Card dispute %s: funds reinstated", self.stripe_dispute_id),
            [
                (stripe_account, self.amount + fee, False),
                (fee_account, -fee, False),
                (receivable, -self.amount, True),
            ],
        )
        self.reinstatement_move_id = move
        self._unmatch(withdrawal_line)
        reinstatement_line = move.line_ids.filtered(lambda line: line.account_id == receivable)
        (withdrawal_line | reinstatement_line).reconcile()
        if payment_line:
            # sudo: the sale's receivable, whoever may read it
            sales = (self.transaction_id.sudo().invoice_ids | self.move_id).filtered(
                lambda move: move.state == "posted"
            )
            self._reconcile_open(payment_line | sales.line_ids.filtered(lambda line: line.account_id == receivable))

    def _unmatch(self, line):
        """Undo `line`'s matches, on the refund's own path (the addon's guards
        keep a refunded sale's matches from core's buttons). Returns the lines
        it was matched with."""
        partials = line.matched_debit_ids | line.matched_credit_ids
        counterparts = (partials.debit_move_id | partials.credit_move_id) - line
        refund_own_path(partials).unlink()
        return counterparts

    @api.model
    def _reconcile_open(self, lines):
        open_lines = lines.filtered(lambda line: not line.reconciled)
        if open_lines.filtered(lambda line: line.balance > 0) and open_lines.filtered(lambda line: line.balance < 0):
            open_lines.reconcile()

    # ------------------------------------------------------------------
    # Evidence
    # ------------------------------------------------------------------
    # What the addon knows of the sale, attached to the dispute by a manager,
    # then sent to Stripe: each attachment's description is the field of
    # Stripe's `evidence` it answers (a PDF is uploaded as a file, a text sent
    # as text).

    evidence_attachment_ids = fields.Many2many(
        comodel_name="ir.attachment",
        relation="client_refund_dispute_evidence_rel",
        column1="dispute_id",
        column2="attachment_id",
        string="Evidence",
        readonly=True,
        copy=False,
    )
    evidence_sent_date = fields.Datetime(string="Evidence Sent", readonly=True, copy=False, tracking=True)

    def _get_evidence_source(self):
        """The document the client was sold and refunded by: its refunds and chatter."""
        self.ensure_one()
        return self.move_id or self.pos_order_id or self.payment_id

    def _get_evidence_policy_texts(self, refunds):
        """The refund policy texts the client was given: printed on the
        invoice, and with each of the sale's refunds."""
        self.ensure_one()
        invoice = self.move_id or self.pos_order_id.account_move
        texts = invoice._client_refund_get_policy_texts() if invoice else []
        texts += refunds.policy_ids.mapped("client_text")
        return [text for index, text in enumerate(texts) if text and text not in texts[:index]]

    @api.model
    def _get_selection_label(self, record, fname):
        return dict(record._fields[fname]._description_selection(self.env)).get(record[fname], "")

    def _get_evidence_summary(self, source, refunds):
        """The register's history of the sale and the policy the client was
        given, as plain text."""
        self.ensure_one()
        lines = [
            _(
                "Card dispute %(dispute)s of %(amount)s: %(document)s, client %(client)s.",
                dispute=self.stripe_dispute_id,
                amount=self.currency_id.format(self.amount),
                document=source.display_name,
                client=self.partner_id.display_name or "",
            ),
            "",
            _("Refunds of this sale in the register:"),
        ]
        for refund in refunds.sorted(lambda refund: (refund.create_date, refund.id)):
            lines.append(
                _(
                    "- %(refund)s, %(date)s, %(state)s: %(amount)s, %(payout)s, reason: %(reason)s, "
                    "fee kept: %(fee)s",
                    refund=refund.name,
                    date=fields.Date.to_string((refund.date or refund.create_date).date()),
                    state=self._get_selection_label(refund, "state"),
                    amount=refund.currency_id.format(refund.amount),
                    payout=self._get_selection_label(refund, "payout_method"),
                    reason=refund.reason_id.name or "",
                    fee=refund.currency_id.format(refund.amount_fee),
                )
            )
        if not refunds:
            lines.append(_("- none"))
        lines += ["", _("Refund policy the client was given:")]
        lines += self._get_evidence_policy_texts(refunds) or [_("- none")]
        return "\n".join(lines) + "\n"

    @api.model
    def _get_chatter_text(self, document):
        """`document`'s chatter, oldest first, as plain text."""
        messages = document.message_ids.filtered(lambda message: message.body).sorted(
            lambda message: (message.date, message.id)
        )
        return "".join(
            f"{fields.Datetime.to_string(message.date)} {message.author_id.name or message.email_from or ''}: "
            f"{html2plaintext(message.body)}\n"
            for message in messages
        )

    def _prepare_evidence_attachments(self):
        """[(name, content, Stripe's evidence field)] of what the addon knows of the sale."""
        self.ensure_one()
        source = self._get_evidence_source()
        if not source:
            raise UserError(_("Dispute %s names no sale: there is no evidence to gather.", self.stripe_dispute_id))
        refunds = source.client_refund_ids
        Report = self.env["ir.actions.report"]
        documents = []
        # the POS order's receipt is its invoice: the till prints no other in the back office
        invoice = self.move_id or self.pos_order_id.account_move
        if invoice:
            content, extension = Report._render_qweb_pdf("account.account_invoices", invoice.ids)
            documents.append((f"{_('Invoice %s', invoice.name)}.{extension}", content, "receipt"))
        done = refunds.filtered(lambda refund: refund.state == "done")
        if done:
            content, extension = Report._render_qweb_pdf("client_refund.action_report_client_refund", done.ids)
            documents.append(
                (f"{_('Refund receipts %s', source.display_name)}.{extension}", content, "uncategorized_file")
            )
        documents.append(
            (
                _("Refund history and policy %s.txt", source.display_name),
                self._get_evidence_summary(source, refunds).encode(),
                "uncategorized_text",
            )
        )
        documents.append(
            (_("Chatter %s.txt", source.display_name), self._get_chatter_text(source).encode(), "uncategorized_text")
        )
        return documents

    def action_gather_evidence(self):
        """Attach what the addon knows of the sale to the dispute, in place of
        what was gathered before (refund managers)."""
        self.ensure_one()
        self.check_access("write")
        documents = self._prepare_evidence_attachments()
        self.evidence_attachment_ids.unlink()
        attachments = self.env["ir.attachment"].create(
            [
                {"name": name, "raw": content, "description": field, "res_model": self._name, "res_id": self.id}
                for name, content, field in documents
            ]
        )
        # sudo: the evidence is the addon's, not a field a manager writes (see write())
        self.sudo().evidence_attachment_ids = [Command.set(attachments.ids)]
        self.message_post(
            body=_("Evidence gathered: %s", ", ".join(attachments.mapped("name"))),
            attachment_ids=attachments.ids,
        )
        return True

    def _prepare_stripe_evidence(self, stripe_client):
        """Stripe's `evidence` of the dispute: the PDFs uploaded as dispute
        evidence files, the texts joined (Stripe keeps 20,000 characters a text)."""
        self.ensure_one()
        evidence = {
            "customer_name": self.partner_id.name or "",
            "customer_email_address": self.partner_id.email or "",
            "refund_policy_disclosure": "\n\n".join(
                self._get_evidence_policy_texts(self._get_evidence_source().client_refund_ids)
            )[:STRIPE_EVIDENCE_TEXT_MAX],
        }
        texts = []
        for attachment in self.evidence_attachment_ids.sorted("id"):
            if attachment.mimetype in STRIPE_EVIDENCE_FILE_TYPES:
                upload = io.BytesIO(attachment.raw)
                upload.name = attachment.name
                stripe_file = stripe_client.v1.files.create(params={"purpose": "dispute_evidence", "file": upload})
                evidence[attachment.description] = stripe_file.id
            else:
                texts.append(f"{attachment.name}\n{attachment.raw.decode()}")
        evidence["uncategorized_text"] = "\n\n".join(texts)[:STRIPE_EVIDENCE_TEXT_MAX]
        return {field: value for field, value in evidence.items() if value}

    def action_submit_evidence_to_stripe(self):
        """Send the evidence gathered to Stripe, which submits it to the bank
        (refund managers)."""
        self.ensure_one()
        self.check_access("write")
        if self.outcome != "open":
            raise UserError(_("Dispute %s is closed: Stripe takes no more evidence.", self.stripe_dispute_id))
        if not self.evidence_attachment_ids:
            raise UserError(_("Gather the evidence of dispute %s first.", self.stripe_dispute_id))
        if self.evidence_sent_date:
            raise UserError(_("The evidence of dispute %s was sent to Stripe already.", self.stripe_dispute_id))
        # sudo: the card payment and its provider's keys, whoever submits
        transaction, pos_payment = self.sudo().transaction_id, self.sudo().pos_payment_id
        provider = self._get_provider(transaction, pos_payment)
        if not provider:
            raise UserError(_("No Stripe account of dispute %s is known.", self.stripe_dispute_id))
        stripe_client = provider._client_refund_get_stripe_client()
        try:
            evidence = self._prepare_stripe_evidence(stripe_client)
            stripe_dispute = stripe_client.v1.disputes.update(
                self.stripe_dispute_id, params={"evidence": evidence, "submit": True}
            ).to_dict()
        except stripe.StripeError as error:
            raise UserError(
                _("Stripe did not take the evidence of dispute %(dispute)s: %(error)s",
                  dispute=self.stripe_dispute_id, error=error.user_message or str(error))
            ) from error
        # sudo: as the webhook does, what Stripe says of the dispute is written
        self.sudo().evidence_sent_date = fields.Datetime.now()
        self._sync_from_stripe(stripe_dispute, transaction, pos_payment)
        self.message_post(
            body=_("Evidence sent to Stripe: %s", ", ".join(sorted(evidence)))
        )
        return True
