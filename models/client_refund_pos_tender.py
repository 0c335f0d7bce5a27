from collections import defaultdict

from odoo import Command, _, fields, models
from odoo.exceptions import UserError


class ClientRefundPosTender(models.AbstractModel):
    """How a till pays a refund back: what each payment method of the order has
    left, the refund order paid out with those tenders (cash rounded as the
    till rounds it) or to the card terminal, the lines it keeps back (store
    credit, points not returned) (pos.order)."""

    _name = "client.refund.pos.tender"
    _description = "Tenders of a Refunded Order"

    def _client_refund_get_left_by_method(self, refund_order=None):
        """What each payment method paid on the order, less what its refunds
        (other than `refund_order`) gave back."""
        self.ensure_one()
        earlier_refunds = (self.lines.refund_orderline_ids.order_id - (refund_order or self)).filtered(
            lambda order: order.state != "cancel"
        )
        left_by_method = defaultdict(float)
        for payment in self.payment_ids | earlier_refunds.payment_ids:
            left_by_method[payment.payment_method_id] += payment.amount
        refunded_outside = self._client_refund_get_refunded_outside()
        if refunded_outside:
            left_by_method[self._client_refund_get_terminal_payment().payment_method_id] -= (
                refunded_outside
            )
        return left_by_method

    def _client_refund_get_terminal_payment(self):
        """The order's payment on a Stripe terminal, which holds its PaymentIntent."""
        self.ensure_one()
        return self.payment_ids.filtered(
            lambda payment: payment.payment_method_id.use_payment_terminal == "stripe"
            and payment.transaction_id
            and payment.amount > 0
        )[:1]

    def _client_refund_top_up_ewallet(self, refund, amount):
        """Pay the refund onto the client's eWallet without touching the till:
        the refund order tops the eWallet up by what it gives back (a line of
        the program's top-up product, booked on its liability account as the
        till books any top-up), so that it totals 0; the points go on the
        card. Returns the card."""
        self.ensure_one()
        program, __ = self.env["loyalty.card"]._client_refund_get_ewallet(refund)
        self._client_refund_add_kept_line(program.trigger_product_ids[:1], amount)
        return self.env["loyalty.card"]._client_refund_add_credit(refund, amount)

    def _client_refund_add_kept_line(self, product, amount):
        """A line of `amount`, without tax, that the refund order keeps back from
        what the till pays out."""
        self.env["pos.order.line"].create(
            {
                "order_id": self.id,
                "product_id": product.id,
                "full_product_name": product.display_name,
                "qty": 1.0,
                "price_unit": amount,
                "price_subtotal": amount,
                "price_subtotal_incl": amount,
                "tax_ids": [Command.clear()],
            }
        )
        self._compute_prices()

    def _client_refund_get_till_shares(self, config, refund_order=None):
        """{payment method of the till of `config`: what it pays back of this
        order}: each tender left, in the same method; one this till cannot pay
        back (another till's, a card terminal's) in cash."""
        self.ensure_one()
        session_methods = (config.current_session_id or config).payment_method_ids
        cash_method = session_methods.filtered("is_cash_count")[:1]
        shares = defaultdict(float)
        for method, amount in self._client_refund_get_left_by_method(refund_order).items():
            if self.currency_id.compare_amounts(amount, 0.0) <= 0:
                continue
            target = (
                method
                if method in session_methods and not method.use_payment_terminal
                else cash_method
            )
            if not target:
                raise UserError(
                    _(
                        "%(pos)s has no cash payment method to pay back what was paid "
                        "by %(method)s.",
                        pos=config.display_name,
                        method=method.name,
                    )
                )
            shares[target] += amount
        return shares

    def _client_refund_pay_out(self, refunded_order, full, kept=0.0):
        """Pay the refund order out with what is left of the refunded order's
        tenders, in proportion. A tender this session cannot pay back (another
        POS's, a card terminal's) is paid in cash; cash is rounded as the till
        rounds it."""
        self.ensure_one()
        currency = self.currency_id
        shares = refunded_order._client_refund_get_till_shares(self.config_id, self)
        if not shares:
            raise UserError(
                _("Nothing paid on order %s is left to pay back.", refunded_order.display_name)
            )
        total_left = sum(shares.values())
        # what the refund keeps (points not returned, store credit) is not paid
        # out; what earlier refunds kept stays counted as left by the tenders
        to_pay = max(-total_left + kept, self.amount_total) if full else self.amount_total
        # never more than is left paid, but for what cash rounding moved: core's
        # paid check allows no other total
        rounding_step = self.config_id.cash_rounding and self.config_id.rounding_method.rounding
        if currency.compare_amounts(-to_pay, total_left + (rounding_step or 0.0)) > 0:
            to_pay = -total_left
        payments = []
        # cash last: it takes what rounding the other shares left, as the till rounds it
        methods = sorted(shares, key=lambda method: method.is_cash_count)
        for method in methods:
            if method == methods[-1]:
                amount = currency.round(to_pay - sum(amount for __, amount in payments))
                if method.is_cash_count:
                    amount = self._get_rounded_amount(amount, force_round=True)
            else:
                amount = currency.round(to_pay * shares[method] / total_left)
            payments.append((method, amount))
        for method, amount in payments:
            if not currency.is_zero(amount):
                self.add_payment(
                    {
                        "pos_order_id": self.id,
                        "payment_method_id": method.id,
                        "amount": amount,
                        "name": _("Refund"),
                        "payment_date": fields.Datetime.now(),
                    }
                )

    def _client_refund_pay_out_to_card(self, refunded_order, refund):
        """The refund order is paid with the terminal that took the card, for the
        refund Stripe made: the session's closing books it with the method."""
        terminal_payment = refunded_order._client_refund_get_terminal_payment()
        self.add_payment(
            {
                "pos_order_id": self.id,
                "payment_method_id": terminal_payment.payment_method_id.id,
                "amount": self.amount_total,
                "name": _("Refund"),
                "payment_date": fields.Datetime.now(),
                "transaction_id": refund.stripe_refund_reference,
                "card_type": terminal_payment.card_type,
            }
        )

    def _prepare_client_refund_card_transaction_vals(self, terminal_payment):
        provider = self._client_refund_get_card_provider()
        # sudo: transactions are kept for payment administrators
        transactions = self.env["payment.transaction"].sudo()
        return {
            "provider_id": provider.id,
            "payment_method_id": self.env.ref("payment.payment_method_card").id,
            "reference": transactions._compute_reference(provider.code, prefix=self.name),
            "amount": terminal_payment.amount,
            "currency_id": self.currency_id.id,
            # a walk-in client's card: the transaction still needs a customer
            "partner_id": (self.partner_id.commercial_partner_id or self.company_id.partner_id).id,
            "operation": "offline",
            "provider_reference": terminal_payment.transaction_id,
            "client_refund_pos_payment_id": terminal_payment.id,
            "state": "done",
            # the POS session books the payment: no account.payment for it
            "is_post_processed": True,
        }
