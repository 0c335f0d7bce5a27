from odoo import _, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_round

# Sales looked at for a card sold by invoice: the client's most recent ones
INVOICE_SALES_LIMIT = 20


class LoyaltyCard(models.Model):
    _name = "loyalty.card"
    _inherit = ["loyalty.card", "client.refund.balance.source"]

    client_refund_is_visit_pack = fields.Boolean(related="program_id.client_refund_is_visit_pack")
    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_card_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )

    def action_client_refund(self):
        self.ensure_one()
        self._client_refund_check_refundable()
        return self.env["client.refund.balance.wizard"]._get_launch_action(
            {"default_card_id": self.id}
        )

    def action_view_client_refunds(self):
        self.ensure_one()
        return self.env["client.refund"]._action_view_refunds(self.client_refund_ids)

    # ------------------------------------------------------------------
    # What can be refunded
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        self.ensure_one()
        return self.program_id._client_refund_get_source_type()

    def _client_refund_get_currency(self):
        return self.currency_id

    def _client_refund_get_products(self):
        return self.program_id.trigger_product_ids

    def _client_refund_check_refundable(self):
        today = fields.Date.context_today(self)
        for card in self:
            if not card._client_refund_get_source_type():
                raise UserError(
                    _(
                        "%s is neither a gift card, an eWallet nor a visit pack: it "
                        "cannot be refunded.",
                        card.display_name,
                    )
                )
            if not card.active:
                raise UserError(_("Card %s is closed.", card.display_name))
            if card.expiration_date and card.expiration_date < today:
                raise UserError(
                    _(
                        "Card %(card)s expired on %(date)s.",
                        card=card.display_name,
                        date=card.expiration_date,
                    )
                )
            card.program_id._client_refund_check_balance_change()

    def _client_refund_get_sales(self):
        """The sale lines of the program's products that sold this card and are
        left to refund, newest first: [{line, name, quantity, amount, date}], the
        quantity and amount being this card's share of the line (one unit per gift
        card). A card made by the Point of Sale was sold by its orders (the one that
        made it, those whose history issued points on it); any other card of a
        client, by the client's invoices (those of Point of Sale orders aside)."""
        self.ensure_one()
        products = self._client_refund_get_products()
        if not products:
            return []
        # sudo: what sold the card is read for front-desk staff, who may have no
        # Point of Sale or Invoicing rights; reversing the sale through them
        # checks their rights
        card = self.sudo()
        order_ids = card.history_ids.filtered(
            lambda line: line.order_model == "pos.order" and line.issued > 0
        ).mapped("order_id")
        documents = list(
            (card.source_pos_order_id | card.env["pos.order"].browse(order_ids).exists()).filtered(
                lambda order: order.state in ("paid", "done", "invoiced")
            )
        )
        if not card.source_pos_order_id and card.partner_id:
            documents += list(
                card.env["account.move"].search(
                    [
                        ("move_type", "=", "out_invoice"),
                        ("state", "=", "posted"),
                        ("commercial_partner_id", "=", card.partner_id.commercial_partner_id.id),
                        ("invoice_line_ids.product_id", "in", products.ids),
                        # an invoiced Point of Sale order is refunded as the order
                        ("pos_order_ids", "=", False),
                    ],
                    order="invoice_date desc, id desc",
                    limit=INVOICE_SALES_LIMIT,
                )
            )
        one_unit = self.program_id.program_type == "gift_card"
        sales = []
        for document in documents:
            is_invoice = document._name == "account.move"
            date = (
                document.invoice_date
                if is_invoice
                else fields.Date.context_today(self, document.date_order)
            )
            for line, balance in document._client_refund_get_line_balances().items():
                if line.product_id not in products or balance["quantity"] <= 0:
                    continue
                quantity = min(balance["quantity"], 1.0) if one_unit else balance["quantity"]
                sales.append(
                    {
                        "line": line,
                        "name": (line.name if is_invoice else line.full_product_name)
                        or line.product_id.display_name,
                        "document": document.display_name,
                        "date": date,
                        "quantity": quantity,
                        "amount": document.currency_id.round(
                            balance["amount"] * quantity / balance["quantity"]
                        ),
                    }
                )
        return sorted(sales, key=lambda sale: (sale["date"], sale["line"].id), reverse=True)

    def _client_refund_get_balance_value(self):
        """The money the points pay for (gift cards and eWallets)."""
        self.ensure_one()
        return self.currency_id.round(
            self.points * self.program_id._client_refund_get_point_value()
        )

    def _client_refund_get_visits_bought(self):
        self.ensure_one()
        history = self.history_ids
        return sum(history.mapped("issued")) or self.points + sum(history.mapped("used"))

    def _client_refund_get_refundable_amount(self):
        """The balance of a gift card or eWallet; what was paid for a visit pack
        with visits left."""
        self.ensure_one()
        if float_compare(self.points, 0.0, precision_digits=2) <= 0:
            return 0.0
        if self._client_refund_get_source_type() != "visit_pack":
            return self._client_refund_get_balance_value()
        return self.currency_id.round(
            sum(sale["amount"] for sale in self._client_refund_get_sales())
        )

    def _client_refund_get_suggested_amount(self):
        """A visit pack gives back the price paid for the visits not used."""
        self.ensure_one()
        paid = self._client_refund_get_refundable_amount()
        if self._client_refund_get_source_type() != "visit_pack" or not paid:
            return paid
        bought = self._client_refund_get_visits_bought()
        return self.currency_id.round(paid * min(self.points / bought, 1.0))

    def _client_refund_is_used(self):
        self.ensure_one()
        history = self.history_ids
        issued = sum(history.mapped("issued"))
        return bool(
            # sudo: the Point of Sale lines that used the card are counted for
            # staff without Point of Sale rights
            self.sudo().use_count
            or any(history.mapped("used"))
            or (history and float_compare(self.points, issued, precision_digits=2) < 0)
        )

    def _client_refund_check_request(self, refund):
        self.ensure_one()
        self._client_refund_check_refundable()
        if self.company_id and refund.company_id != self.company_id:
            raise UserError(
                _(
                    "Card %(card)s belongs to %(company)s, not to %(other)s.",
                    card=self.display_name,
                    company=self.company_id.name,
                    other=refund.company_id.name,
                )
            )
        source_type = self._client_refund_get_source_type()
        if refund.source_type != source_type:
            raise UserError(
                _("%s is not what this refund says it refunds.", self.display_name)
            )
        refund._check_client_of(self)
        mode = self._client_refund_get_mode(refund)
        if mode == "credit_note" and source_type != "visit_pack":
            raise UserError(
                _(
                    "Part of %s is refunded as an expense, paid out on the Refund "
                    "account: only visit packs are credited against their sale.",
                    self.display_name,
                )
            )
        if mode == "cancel_sale" and source_type != "ewallet" and self._client_refund_is_used():
            raise UserError(
                _(
                    "%s has been used: its sale cannot be cancelled. Refund what is "
                    "left of it instead.",
                    self.display_name,
                )
            )
        sale = self._client_refund_check_balance_request(refund)
        if mode == "cancel_sale" and source_type == "ewallet":
            value = self._client_refund_get_balance_value()
            if self.currency_id.compare_amounts(value, sale["amount"]) < 0:
                raise UserError(
                    _(
                        "%(card)s holds %(value)s, less than the top-up of %(amount)s: "
                        "it cannot be cancelled. Refund what is left instead.",
                        card=self.display_name,
                        value=self.currency_id.format(value),
                        amount=self.currency_id.format(sale["amount"]),
                    )
                )

    # ------------------------------------------------------------------
    # Doing it
    # ------------------------------------------------------------------

    def _client_refund_prepare_change(self, refund, mode):
        """Points to take off: an eWallet loses what is refunded; a gift card or a
        visit pack is emptied and closed."""
        self.ensure_one()
        if self._client_refund_get_source_type() != "ewallet":
            return {"points": self.points, "close": True}
        amount = refund.amount if mode == "expense" else self._client_refund_get_sale(refund)["amount"]
        if self.currency_id.compare_amounts(amount, self._client_refund_get_balance_value()) >= 0:
            points = self.points
        else:
            points = float_round(
                amount / self.program_id._client_refund_get_point_value(), precision_digits=2
            )
        return {"points": points, "close": False}

    def _client_refund_apply_change(self, refund, change):
        self.ensure_one()
        # sudo: front-desk staff need no Loyalty rights to refund; the history line
        # says who took the points off, by which refund and why
        self.env["loyalty.history"].sudo().create(
            {
                "card_id": self.id,
                "description": _(
                    "%(refund)s by %(user)s: %(reason)s",
                    refund=refund.name,
                    user=refund.user_id.name,
                    reason=refund.reason_id.name,
                ),
                "used": change["points"],
            }
        )
        values = {"points": float_round(self.points - change["points"], precision_digits=2)}
        if change["close"]:
            values["active"] = False
        self.sudo().write(values)
