from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .client_refund_source import refund_own_path


class AccountPayment(models.Model):
    _name = "account.payment"
    _inherit = ["account.payment", "client.refund.source"]
    _client_refund_payout_methods = ("journal", "card", "ewallet")

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_payment_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_can_void = fields.Boolean(
        compute="_compute_client_refund_can_void",
        help="No money has moved yet: the payment can be voided instead of refunded.",
    )
    client_refund_can_refund = fields.Boolean(compute="_compute_client_refund_can_void")

    @api.depends("state", "is_matched", "payment_type", "partner_type")
    def _compute_client_refund_can_void(self):
        for payment in self:
            is_client_payment = (
                payment.payment_type == "inbound"
                and payment.partner_type == "customer"
                and payment.state in ("in_process", "paid")
            )
            payment.client_refund_can_void = (
                is_client_payment and not payment._client_refund_get_void_blocker()
            )
            # Void while it can be, refund otherwise
            payment.client_refund_can_refund = (
                is_client_payment and not payment.client_refund_can_void
            )

    def action_client_refund_void(self):
        self.ensure_one()
        self._client_refund_check_voidable()
        mistake = self.env.ref("client_refund.reason_payment_mistake", raise_if_not_found=False)
        return self.env["client.refund.wizard"]._get_launch_action(
            {
                "default_source_type": "payment",
                "default_payment_id": self.id,
                "default_void_payment": True,
                "default_reason_id": mistake.id if mistake else False,
            },
            title=_("Cancel Payment"),
        )

    def action_client_refund(self):
        """Refund what the payment paid: its invoice when it paid one, otherwise the
        client credit it left."""
        self.ensure_one()
        self._client_refund_check_client_payment()
        invoices = self.reconciled_invoice_ids.filtered(
            lambda m: m.move_type == "out_invoice"
        )
        if len(invoices) == 1:
            return invoices.action_client_refund()
        if invoices:
            raise UserError(
                _(
                    "Payment %(payment)s paid several invoices (%(invoices)s): refund "
                    "them one by one from each invoice.",
                    payment=self.display_name,
                    invoices=", ".join(invoices.mapped("name")),
                )
            )
        return self.env["client.refund.wizard"]._get_launch_action(
            {"default_source_type": "payment", "default_payment_id": self.id}
        )

    def _client_refund_check_client_payment(self):
        for payment in self:
            if payment.payment_type != "inbound" or payment.partner_type != "customer":
                raise UserError(
                    _(
                        "%s is not a payment received from a client.",
                        payment.display_name,
                    )
                )
            if payment.state not in ("in_process", "paid"):
                raise UserError(
                    _(
                        "Payment %s is not confirmed: there is nothing to refund.",
                        payment.display_name,
                    )
                )

    def _client_refund_get_void_blocker(self):
        """Why the payment can no longer be voided, or False."""
        self.ensure_one()
        if self.payment_transaction_id:
            return _(
                "Payment %s was made online by card: refund it to the card instead.",
                self.display_name,
            )
        if self.outstanding_account_id and self.is_matched:
            return _(
                "Payment %s is matched with a bank statement: the money has moved, "
                "refund it instead.",
                self.display_name,
            )
        receivable_lines = self.move_id.line_ids.filtered(
            lambda line: line.account_id == self.destination_account_id
        )
        matched = (
            receivable_lines.matched_debit_ids.debit_move_id
            | receivable_lines.matched_credit_ids.credit_move_id
        ).move_id
        if matched.filtered(lambda move: move.move_type != "out_invoice"):
            return _(
                "Payment %s has been paid back or used otherwise than on invoices: "
                "refund it instead.",
                self.display_name,
            )
        lock_date = self.company_id._get_user_fiscal_lock_date(self.journal_id)
        if self.move_id and self.move_id.date <= lock_date:
            return _(
                "Payment %(payment)s is dated in a locked period (until %(date)s): "
                "refund it instead.",
                payment=self.display_name,
                date=lock_date,
            )
        return False

    def _client_refund_check_voidable(self):
        self._client_refund_check_client_payment()
        for payment in self:
            blocker = payment._client_refund_get_void_blocker()
            if blocker:
                raise UserError(blocker)

    def write(self, vals):
        if vals.get("state") in ("draft", "canceled", "rejected"):
            self.env["account.move"]._client_refund_check_bookings_kept(_("reset or cancelled"), payments=self)
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_client_refund_booking(self):
        self.env["account.move"]._client_refund_check_bookings_kept(_("deleted"), payments=self)

    def action_draft(self):
        self._client_refund_check_not_card_refund_made()
        self.env["account.move"]._client_refund_check_bookings_kept(_("reset to draft"), payments=self)
        return super().action_draft()

    def action_cancel(self):
        self._client_refund_check_not_card_refund_made()
        self.env["account.move"]._client_refund_check_bookings_kept(_("cancelled"), payments=self)
        return super().action_cancel()

    def _client_refund_check_not_card_refund_made(self):
        """The payout of a card refund Stripe made is money gone back to the
        card: it cannot be reset or cancelled (a failed refund is undone by the
        addon once Stripe says it failed)."""
        # sudo: the transaction is read for any user who may reset payments
        made = self.sudo().filtered(
            lambda payment: payment.payment_transaction_id.operation == "refund"
            and payment.payment_transaction_id.state == "done"
            and payment.payment_transaction_id.client_refund_ids
        )
        if made:
            raise UserError(
                _(
                    "%s paid a card refund back through Stripe: a card refund is final, "
                    "its payment cannot be reset or cancelled.",
                    ", ".join(made.mapped("name")),
                )
            )

    # ------------------------------------------------------------------
    # The refund protocol (client.refund.source)
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        return "payment"

    def _client_refund_get_receipt_description(self):
        return _("Payment")

    def _client_refund_get_open_credit_lines(self):
        """The payment's receivable lines still open: client credit not used."""
        return self.move_id.line_ids.filtered(
            lambda line: line.account_id == self.destination_account_id
            and not line.reconciled
            and line.balance < 0
        )

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        self.ensure_one()
        return self.currency_id.round(
            -sum(self._client_refund_get_open_credit_lines().mapped("amount_residual_currency"))
            - self._client_refund_get_amount_waiting_for_card(exclude_refund)
            - self._client_refund_get_refunded_outside(self.currency_id)
        )

    def _client_refund_compute_amount(self, refund):
        if refund.scope == "void":
            return self.amount
        if refund.scope == "full":
            return self._client_refund_get_refundable_amount(exclude_refund=refund)
        return refund.amount

    def _client_refund_get_refunded_outside(self, currency=None):
        """Card refunds of these payments made outside the register (the Stripe
        Dashboard, core's Refund button) and not settled by a credit note: money
        already gone back, in `currency` (the payments' by default)."""
        currency = currency or self.currency_id[:1]
        # sudo: transactions are kept for payment administrators
        refunds = self.sudo().payment_transaction_id.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund"
            and tx.state not in ("cancel", "error")
            and not tx.client_refund_ids
            and not tx.payment_id.is_reconciled
        )
        # the server's day, not the caller's `tz`: the rate of what left already
        today = fields.Date.today()
        return -sum(
            tx.currency_id._convert(tx.amount, currency, tx.company_id, today) for tx in refunds
        )

    def _client_refund_get_sale_documents(self):
        """The invoices the payment paid: its credit and their refunds are one
        client's money."""
        # sudo: the payment's matches are read for staff without accounting rights
        return list(self.sudo().reconciled_invoice_ids.with_env(self.env))

    def _client_refund_get_tenders(self):
        self.ensure_one()
        return [(self.journal_id.name, self._client_refund_get_refundable_amount())]

    def _client_refund_get_tender_journals(self):
        self.ensure_one()
        if self._client_refund_get_card_transaction():
            return {}
        return {self.journal_id: self._client_refund_get_refundable_amount()}

    def _client_refund_get_card_transaction(self):
        self.ensure_one()
        # sudo: transactions are read by payment administrators only
        card_payment = self.sudo().payment_transaction_id
        if card_payment.provider_code == "stripe" and card_payment.operation != "refund":
            return card_payment
        return card_payment.browse()

    def _client_refund_check_void(self, refund):
        self._client_refund_check_voidable()

    def _client_refund_check_own_request(self, refund):
        if refund.scope == "void":
            return
        self._client_refund_check_client_payment()
        refundable = self._client_refund_get_refundable_amount(exclude_refund=refund)
        self._client_refund_check_amount(
            refund,
            refundable,
            _(
                "Only %(left)s of payment %(payment)s is unused client credit, not "
                "%(asked)s. Refund the invoices it paid from the invoices.",
                left=self.currency_id.format(refundable),
                payment=self.display_name,
                asked=self.currency_id.format(refund.amount),
            ),
        )
        if self.env["loyalty.card"]._client_refund_get_deposit_credit(refund):
            # the deposit kept goes onto the eWallet: said before anything is written
            self.env["loyalty.card"]._client_refund_check_ewallet(refund)

    def _client_refund_get_sellers(self):
        return self.create_uid

    def _client_refund_get_fee_store_credit(self, refund):
        return self.env["loyalty.card"]._client_refund_get_deposit_credit(refund)

    def _client_refund_get_policy_date(self):
        """An advance payment is a deposit: the window counts from the day it was paid."""
        return self.date

    def _client_refund_execute(self, refund):
        """Keep the fee of a deposit the client loses, then give back the rest
        of the client credit the way asked."""
        self.ensure_one()
        if refund.scope == "void":
            return self._client_refund_void(refund)
        currency = self.currency_id
        money_back = refund._get_money_back()
        to_ewallet = money_back if refund.payout_method == "ewallet" else refund.amount_ewallet
        results, deposit_credit = self._client_refund_keep_deposit(refund)
        onto_ewallet = currency.round(to_ewallet + deposit_credit)
        if onto_ewallet:
            results.update(
                self.env["loyalty.card"]._client_refund_credit_ewallet(
                    refund, onto_ewallet, self._client_refund_get_open_credit_lines()
                )
            )
        rest = currency.round(money_back - to_ewallet)
        if currency.compare_amounts(rest, 0.0) > 0:
            payment = self._client_refund_pay_back(
                refund, rest, self._client_refund_get_open_credit_lines()
            )
            results.update(payment_ids=[fields.Command.link(payment.id)], amount_paid_back=payment.amount)
        return results

    def _client_refund_keep_deposit(self, refund):
        """The fee `refund` keeps of the deposit: invoiced on the fee product and
        settled from the payment's client credit, as an invoice's fee is, or
        left to the client as store credit when the policy says so. Returns
        (the register's values, what goes onto the eWallet as store credit)."""
        Move = self.env["account.move"]
        deposit_credit = self.env["loyalty.card"]._client_refund_get_deposit_credit(refund)
        if deposit_credit:
            return {}, deposit_credit
        credit = {
            line: -line.amount_residual_currency
            for line in self._client_refund_get_open_credit_lines()
        }
        fee_invoice, __ = Move._client_refund_keep_fee(
            refund, Move._client_refund_split_give_back(credit, refund.amount)[0]
        )
        return {"fee_move_ids": [fields.Command.link(fee_invoice.id)] if fee_invoice else []}, 0.0

    def _client_refund_void(self, refund):
        invoices = self.reconciled_invoice_ids
        # the void's own path: its invoices are the refund's sale documents
        refund_own_path(self, undoing=refund).action_cancel()
        invoices._message_log_batch(
            bodies={
                invoice.id: _(
                    "Payment %(payment)s of %(amount)s was voided by %(user)s "
                    "(%(refund)s, %(reason)s).",
                    payment=self.name,
                    amount=self.currency_id.format(self.amount),
                    user=self.env.user.name,
                    refund=refund.name,
                    reason=refund.reason_id.name,
                )
                for invoice in invoices
            }
        )
        return {"amount": self.amount}

    # ------------------------------------------------------------------
    # Payouts: money going back to a client
    # ------------------------------------------------------------------

    @api.model
    def _client_refund_pay_back_lines(self, refund, to_give_back):
        """Pay back {open client credit line: amount} in the currency each line
        was paid in: one payout per currency, each matched with the lines it
        settles on its own (an exchange difference sits on that match)."""
        payments = self.browse()
        lines = self.env["account.move.line"].concat(*to_give_back)
        for currency, group in lines.grouped("currency_id").items():
            amount = currency.round(sum(to_give_back[line] for line in group))
            if currency.compare_amounts(amount, 0.0) > 0:
                payments |= self._client_refund_pay_back(refund, amount, group, currency)
        return payments

    @api.model
    def _client_refund_pay_back(self, refund, amount, lines_to_settle, currency=None):
        """Pay `amount` back and reconcile the payout with the client's receivable
        lines it settles."""
        if refund.payout_method == "card":
            # sudo: transactions and their payments are created for the provider
            payment = refund.payment_transaction_id.sudo()._client_refund_get_payment()
            payment = payment.with_env(self.env)
        else:
            payment = self._client_refund_pay_out(refund, amount, currency or refund.currency_id)
        payout_lines = payment.move_id.line_ids.filtered(
            lambda line: line.account_id in lines_to_settle.account_id
        )
        (payout_lines + lines_to_settle).reconcile()
        return payment

    @api.model
    def _client_refund_pay_out(self, refund, amount, currency, account=None):
        """A posted outbound payment to the client from the refund's cash or bank
        journal. `account`: booked there (the Refund expense account, a
        liability) instead of on the client's receivable."""
        if not refund.payout_journal_id:
            raise UserError(_("Choose the cash or bank journal that pays the refund."))
        payout_vals = self._prepare_client_refund_payout_vals(refund, amount, currency)
        if account:
            payout_vals["destination_account_id"] = account.id
        payment = self.create(payout_vals)
        if not payment.outstanding_account_id:
            payment.outstanding_account_id = payment._get_outstanding_account("outbound")
        payment.action_post()
        return payment

    @api.model
    def _prepare_client_refund_payout_vals(self, refund, amount, currency):
        return {
            "payment_type": "outbound",
            "partner_type": "customer",
            "partner_id": refund.partner_id.commercial_partner_id.id,
            "amount": amount,
            "currency_id": currency.id,
            "journal_id": refund.payout_journal_id.id,
            "company_id": refund.company_id.id,
            "date": refund.company_id._client_refund_today(),
            "memo": _(
                "%(refund)s: %(reason)s", refund=refund.name, reason=refund.reason_id.name
            ),
        }
