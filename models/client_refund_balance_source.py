from odoo import Command, _, models
from odoo.exceptions import UserError
from odoo.tools import float_compare

from .client_refund_source import get_document_fields

LIABILITY_TYPES = ("liability_current", "liability_non_current")


class ClientRefundBalanceSource(models.AbstractModel):
    """A balance a client bought: a loyalty card (gift card, eWallet, visit pack)
    or a membership. A refund of it goes one of three ways, read from the refund:

    * cancel the sale (scope full, the sale line in the refund's lines): the
      invoice or Point of Sale refund hooks reverse the sale line;
    * credit note (scope partial, no lines): the amount is credited against the
      sale by the same hooks;
    * refund expense (payout method ``refund_account``): the amount is paid out of
      cash or bank, booked on the company's Refund expense account, or on the
      liability account the balance was sold on.

    The models say what sold them (``_client_refund_get_sales``), what is left
    (``_client_refund_get_refundable_amount``) and what the refund changes on
    them (``_client_refund_prepare_change`` / ``_client_refund_apply_change``).
    """

    _name = "client.refund.balance.source"
    _inherit = ["client.refund.source"]
    _description = "Refundable Balance (card or membership)"
    _client_refund_payout_methods = ("journal", "credit", "pos", "refund_account", "ewallet")

    def _client_refund_get_sales(self):
        """[{line, sold_on, name, document, date, quantity, amount}]: the sale
        lines that sold the balance and are left to refund, newest first, with
        the invoice or order of each (`sold_on`, in sudo) and this balance's
        share of the line."""
        raise NotImplementedError

    def _client_refund_get_products(self):
        """The products that sell the balance."""
        raise NotImplementedError

    def _client_refund_prepare_change(self, refund, mode):
        """What `refund` changes on the balance, read before anything is done:
        {..., "forfeited": what its sale paid and nobody is paid back}."""
        raise NotImplementedError

    def _client_refund_apply_change(self, refund, change):
        """Change the balance as _client_refund_prepare_change said."""
        raise NotImplementedError

    def _client_refund_compute_amount(self, refund):
        """Cancelling the sale credits what its document credits for the sale
        line; otherwise the amount asked, checked against what is left."""
        if self._client_refund_get_mode(refund) == "cancel_sale":
            sale = self._client_refund_get_sale(refund)
            return self._client_refund_get_sale_document(sale)._client_refund_compute_amount(refund)
        return refund.amount

    def _client_refund_get_mode(self, refund):
        if refund.payout_method == "refund_account":
            return "expense"
        return "cancel_sale" if refund.scope == "full" else "credit_note"

    def _client_refund_get_suggested_amount(self):
        """What the wizard proposes to refund; the models prorate it."""
        return self._client_refund_get_refundable_amount()

    def _client_refund_get_sale(self, refund):
        """The sale the refund reverses: the line the refund names when the sale is
        cancelled, the newest sale left to refund when an amount is credited."""
        self.ensure_one()
        sales = self._client_refund_get_sales()
        if not refund.line_ids:
            if not sales:
                raise UserError(
                    _(
                        "No sale of %s is left to refund: pay the amount out on the "
                        "Refund account instead.",
                        self.display_name,
                    )
                )
            return sales[0]
        refund_line = refund.line_ids
        if len(refund_line) > 1:
            raise UserError(_("Cancel one sale at a time."))
        line = refund_line.move_line_id or refund_line.pos_order_line_id
        sale = next((sale for sale in sales if sale["line"] == line), None)
        if not sale:
            raise UserError(
                _(
                    "%(line)s did not sell %(what)s, or has been refunded already.",
                    line=line.display_name,
                    what=self.display_name,
                )
            )
        if float_compare(
            refund_line.quantity,
            sale["quantity"],
            precision_rounding=line.product_uom_id.rounding or 0.01,
        ):
            raise UserError(
                _(
                    "Cancelling the sale of %(what)s refunds %(quantity)s of %(line)s, "
                    "not %(asked)s.",
                    what=self.display_name,
                    quantity=sale["quantity"],
                    line=sale["name"],
                    asked=refund_line.quantity,
                )
            )
        return sale

    def _client_refund_get_policy_lines(self, refund):
        """A card or a membership follows the product that sold it: the sale
        the refund cancels, else its newest sale left, else the product of its
        program or membership."""
        self.ensure_one()
        sales = self._client_refund_get_sales()
        named = refund.line_ids[:1]
        sold = named._get_sold_line() if named else None
        sale = next((sale for sale in sales if sale["line"] == sold), sales[0] if sales else None)
        product = sale["line"].product_id if sale else self._client_refund_get_products()[:1]
        return [(product.with_env(self.env), refund.amount)]

    def _client_refund_get_policy_date(self):
        """The day of its newest sale left to refund, the one a refund reverses first."""
        self.ensure_one()
        sales = self._client_refund_get_sales()
        return sales[0]["date"] if sales else False

    def _client_refund_get_fee_left_on_balance(self, refund):
        """What of the fee `refund` keeps stays on the balance as store credit,
        instead of being invoiced: nothing but on an eWallet (see loyalty.card)."""
        return 0.0

    def _client_refund_get_sale_documents(self):
        """The invoices and orders that sold the balance, refunded or not."""
        self.ensure_one()
        return [self._client_refund_get_sale_document(sale) for sale in self._client_refund_get_sales()]

    def _client_refund_get_sale_document(self, sale):
        """The invoice or Point of Sale order of a sale, with the user's rights."""
        return sale["sold_on"].with_env(self.env)

    def _client_refund_get_till_ways(self, config):
        sales = self._client_refund_get_sales()
        if sales and sales[0]["sold_on"]._client_refund_sold_at_till:
            return sales[0]["sold_on"]._client_refund_get_till_ways(config)
        return super()._client_refund_get_till_ways(config)

    def _client_refund_has_started(self):
        """Whether the client has begun to use it: then its sale is not
        cancelled by default."""
        return False

    def _client_refund_prepare_sale_line_vals(self, sale):
        """The refund line that names the sale a refund cancels."""
        line = sale["line"]
        return {
            get_document_fields(self.env["client.refund.line"])[line._name]: line.id,
            "product_id": line.product_id.id,
            "name": sale["name"],
            "quantity": sale["quantity"],
            "amount": sale["amount"],
        }

    def _client_refund_get_payout_account(self, company):
        """The company's Refund expense account, or the liability account the
        balance was sold on: a balance sold as a debt is paid back out of it."""
        # sudo: the accounts of the products are read for front-desk staff, who
        # may have no accounting rights
        for product in self._client_refund_get_products().sudo():
            account = product.product_tmpl_id.with_company(company)._get_product_accounts()["income"]
            if account.account_type in LIABILITY_TYPES:
                return account
        account = company.sudo().client_refund_account_id
        if not account:
            raise UserError(
                _(
                    "%s has no Refund account: set it in the accounting settings first.",
                    company.name,
                )
            )
        return account

    def _client_refund_check_balance_request(self, refund):
        """The checks every balance shares, once the model has checked its own.
        Returns the sale the refund reverses, if it reverses one."""
        self.ensure_one()
        mode = self._client_refund_get_mode(refund)
        if mode == "expense":
            # the company's setup first: it is said whatever the card
            self._client_refund_get_payout_account(refund.company_id)
            self._client_refund_check_balance_amount(refund)
            self._client_refund_check_sales_paid()
            return None
        if mode == "cancel_sale" and not refund.line_ids:
            self._client_refund_get_sale(refund)  # says so when no sale is known
            raise UserError(_("Choose the sale of %s to cancel.", self.display_name))
        if mode == "credit_note" and refund.line_ids:
            raise UserError(_("A credit note for part of %s names no sale line.", self.display_name))
        sale = self._client_refund_get_sale(refund)
        document = self._client_refund_get_sale_document(sale)
        at_the_till = refund.payout_method == "pos"
        # store credit goes onto the eWallet whether the sale was an order or an invoice
        if refund.payout_method != "ewallet" and at_the_till != document._client_refund_sold_at_till:
            raise UserError(
                _(
                    "%s is reversed where it was sold: through a Point of Sale till for "
                    "an order, by credit note for an invoice.",
                    sale["document"],
                )
            )
        if mode == "credit_note":
            self._client_refund_check_balance_amount(refund)
            currency = document.currency_id
            if currency.compare_amounts(
                document._client_refund_get_refundable_amount(), sale["amount"]
            ) > 0:
                raise UserError(
                    _(
                        "%(document)s also bills other things than %(what)s: a credit "
                        "note for part of it would credit them too. Pay the amount out "
                        "on the Refund account instead.",
                        document=document.display_name,
                        what=self.display_name,
                    )
                )
        document._client_refund_check_request(refund)
        return sale

    def _client_refund_check_sales_paid(self):
        """Cash is paid back only for what the client paid: every invoice that
        sold the balance is paid (Point of Sale orders are paid when made)."""
        for sale in self._client_refund_get_sales():
            sale["sold_on"]._client_refund_check_sale_paid(self)

    def _client_refund_check_balance_amount(self, refund):
        refundable = self._client_refund_get_refundable_amount(exclude_refund=refund)
        if refund.currency_id.is_zero(refundable):
            raise UserError(_("%s has nothing left to refund.", self.display_name))
        self._client_refund_check_amount(refund, refundable)

    def _client_refund_execute(self, refund):
        """Pay the amount out on the Refund account, or let the invoice or Point of
        Sale order that sold the balance reverse its sale; then change the balance."""
        self.ensure_one()
        mode = self._client_refund_get_mode(refund)
        # what the refund takes off is read before the sale is reversed
        change = self._client_refund_prepare_change(refund, mode)
        if mode == "expense":
            results = self._client_refund_pay_out_expense(refund)
        else:
            document = self._client_refund_get_sale_document(self._client_refund_get_sale(refund))
            document._client_refund_lock()
            results = document._client_refund_execute(refund)
        self._client_refund_apply_change(refund, change)
        breakage = self._client_refund_release_liability(refund, change.get("forfeited", 0.0))
        if breakage:
            results["breakage_move_id"] = breakage.id
        return results

    def _client_refund_pay_out_expense(self, refund):
        """Pay what goes back to the client out of cash or bank, booked on the
        Refund expense account or on the liability the balance was sold on;
        the fee kept is booked out of the same account onto its fee invoice
        (see _client_refund_invoice_fee_from). Returns the register's values."""
        currency = refund.currency_id
        account = self._client_refund_get_payout_account(refund.company_id)
        results = {"amount_paid_back": 0.0}
        money_back = refund._get_money_back()
        if currency.compare_amounts(money_back, 0.0) > 0:
            payment = self.env["account.payment"]._client_refund_pay_out(
                refund, money_back, currency, account=account
            )
            results.update(payment_ids=[Command.link(payment.id)], amount_paid_back=payment.amount)
        if not self._client_refund_get_fee_left_on_balance(refund):
            fee_moves = self._client_refund_invoice_fee_from(refund, account)
            results["fee_move_ids"] = [Command.link(move.id) for move in fee_moves]
        return results

    def _client_refund_invoice_fee_from(self, refund, account):
        """The fee `refund` keeps of what it refunds out of `account`: invoiced
        on the fee product, whose income account and taxes book it, and paid
        by an entry that moves it from `account` to the client's receivable,
        reconciled with the fee invoice. So `account` is debited with all the
        amount refunded (the payout and the fee), as a credit note credits the
        sale in full, and the fee is income of its own. Returns both entries."""
        Move = self.env["account.move"]
        currency = refund.currency_id
        if currency.is_zero(refund.amount_fee):
            return Move
        fee_invoice = Move._client_refund_create_fee_invoice(refund)
        fee_line = Move._client_refund_get_receivable_lines(fee_invoice)
        label = _(
            "%(refund)s: %(fee)s kept of %(what)s, paying fee invoice %(invoice)s",
            refund=refund.name,
            fee=currency.format(refund.amount_fee),
            what=self.display_name,
            invoice=fee_invoice.name,
        )
        settlement = Move._client_refund_post_transfer(
            refund, refund.amount_fee, account, fee_line.account_id, label
        )
        if not settlement:
            raise UserError(
                _(
                    "%s has no miscellaneous journal to book the fee kept with.",
                    refund.company_id.name,
                )
            )
        paid = settlement.line_ids.filtered(lambda line: line.account_id == fee_line.account_id)
        (paid | fee_line).reconcile()
        return fee_invoice | settlement

    def _client_refund_get_breakage_account(self, company):
        """The income account a balance sold on a liability account and given up
        is released to: the income account of its product's category."""
        # sudo: the accounts are read for front-desk staff without accounting rights
        for product in self._client_refund_get_products().sudo():
            account = product.categ_id.with_company(company).property_account_income_categ_id
            if account and account.account_type not in LIABILITY_TYPES:
                return account
        return self.env["account.account"]

    def _client_refund_release_liability(self, refund, forfeited):
        """A balance sold on a liability account and closed by a refund that paid
        back only part of it: what is left of it on the liability account is no
        longer owed to anyone. It is released to income (breakage) by a journal
        entry dated the refund day, logged on the refund, the balance and the
        client. Returns the entry, if one was made."""
        self.ensure_one()
        currency = refund.currency_id
        forfeited = currency.round(forfeited)
        company = refund.company_id
        liability = self._client_refund_get_payout_account(company)
        if currency.compare_amounts(forfeited, 0.0) <= 0 or liability.account_type not in LIABILITY_TYPES:
            return self.env["account.move"]
        income = self._client_refund_get_breakage_account(company)
        label = _(
            "%(refund)s: %(what)s closed, %(amount)s not paid back",
            refund=refund.name,
            what=self.display_name,
            amount=currency.format(forfeited),
        )
        move = (
            self.env["account.move"]._client_refund_post_transfer(
                refund, forfeited, liability, income, label
            )
            if income
            else self.env["account.move"]
        )
        if not move:
            refund._log_on_documents(
                _(
                    "%(refund)s closed %(what)s: the %(amount)s left of it stay on "
                    "%(account)s, no income account of its product category or "
                    "miscellaneous journal of %(company)s being set to release them to.",
                    refund=refund.name,
                    what=self.display_name,
                    amount=currency.format(forfeited),
                    account=liability.display_name,
                    company=company.name,
                )
            )
            return move
        refund._log_on_documents(
            _(
                "%(refund)s closed %(what)s: the %(amount)s left of it on %(liability)s "
                "are released to %(income)s by %(move)s.",
                refund=refund.name,
                what=self.display_name,
                amount=currency.format(forfeited),
                liability=liability.display_name,
                income=income.display_name,
                move=move.name,
            )
        )
        return move
