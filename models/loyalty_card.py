from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_round

from .pos_order import PAID_STATES


class LoyaltyCard(models.Model):
    _name = "loyalty.card"
    _inherit = [
        "loyalty.card",
        "client.refund.balance.source",
        "client.refund.page.row",
        "client.refund.card.sale",
        "client.refund.store.credit",
    ]

    client_refund_is_visit_pack = fields.Boolean(related="program_id.client_refund_is_visit_pack")
    client_refund_allow_balance = fields.Boolean(related="program_id.client_refund_allow_balance")
    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_card_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_sale_line_ids = fields.Many2many(
        comodel_name="account.move.line",
        relation="loyalty_card_client_refund_sale_line_rel",
        column1="card_id",
        column2="move_line_id",
        string="Sold By Invoice Lines",
        readonly=True,
        copy=False,
        groups="account.group_account_invoice",
        help="The invoice lines that sold the card, tied to it by its refunds: "
        "another card cannot be refunded from them.",
    )
    client_refund_balance_display = fields.Char(
        string="Balance",
        compute="_compute_client_refund_balance_display",
        help="The card's balance: money for a gift card or an eWallet, whose points "
        "are worth their program's currency one for one; points otherwise.",
    )
    client_refund_tied_on = fields.Datetime(
        string="Tied to Its Order On",
        readonly=True,
        copy=False,
        help="When the card was tied to the Point of Sale order that made or sold "
        "it: of the cards tied to one sale, the first ones tied were sold by it.",
    )

    @api.depends("points", "program_id.currency_id", "program_id.program_type")
    def _compute_client_refund_balance_display(self):
        for card in self:
            program = card.program_id
            card.client_refund_balance_display = (
                program.currency_id.format(card.points)
                if program.is_payment_program and program.currency_id
                else card.points_display
            )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            "client_refund_sale_line_ids" in vals or "client_refund_tied_on" in vals
            for vals in vals_list
        ):
            self._client_refund_raise_evidence_written()
        now = fields.Datetime.now()
        for vals in vals_list:
            if vals.get("source_pos_order_id"):
                vals["client_refund_tied_on"] = now
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            self._client_refund_check_evidence_write(vals)
        newly_tied = self.filtered(
            lambda card: vals.get("source_pos_order_id")
            and card.source_pos_order_id.id != vals["source_pos_order_id"]
        )
        if newly_tied:
            # when a card is tied to its order is written once: writing the same
            # order again does not move the card behind others tied since
            newly_tied.sudo().write({"client_refund_tied_on": fields.Datetime.now()})
        return super().write(vals)

    def action_client_refund(self):
        self.ensure_one()
        self._client_refund_check_refundable()
        return self.env["client.refund.balance.wizard"]._get_launch_action(
            {"default_card_id": self.id}
        )

    # The client's Refund page: one row per card (see res.partner)
    client_refund_date = fields.Date(
        string="Date",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_amount = fields.Monetary(
        string="Amount",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
        help="What the card holds: its balance, or the price of a visit pack.",
    )
    client_refund_left = fields.Monetary(
        string="Left to Refund",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )

    def _compute_client_refund_row(self):
        """What the client's Refund page shows of each card."""
        for card in self:
            card.client_refund_products = " ".join(
                filter(None, [card.program_id.name, card.code])
            )
            source_type = card._client_refund_get_source_type()
            if not source_type:
                card.client_refund_date = card.create_date and card.create_date.date()
                card.client_refund_amount = 0.0
                card.client_refund_paid_by = False
                card.client_refund_left = 0.0
                continue
            sales = card._client_refund_get_sales()
            card.client_refund_date = (
                sales[-1]["date"] if sales else card.create_date and card.create_date.date()
            )
            documents = [sale["sold_on"] for sale in sales]
            card.client_refund_paid_by = ", ".join(
                dict.fromkeys(
                    way
                    for document in documents
                    for way in (document.sudo().client_refund_paid_by or "").split(", ")
                    if way
                )
            )
            left = card._client_refund_get_refundable_amount() if card.active else 0.0
            card.client_refund_left = left
            card.client_refund_amount = (
                sum(sale["amount"] for sale in sales)
                if source_type == "visit_pack"
                else card._client_refund_get_balance_value()
            )

    # ------------------------------------------------------------------
    # What can be refunded
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        self.ensure_one()
        return self.program_id._client_refund_get_source_type()

    def _client_refund_get_currency(self):
        return self.currency_id

    @api.model
    def _client_refund_search_client_documents(self, client, limit):
        return self.search(
            [
                ("partner_id", "child_of", client.id),
                ("points", ">", 0),
                "|",
                ("program_id.client_refund_is_visit_pack", "=", True),
                ("program_id.program_type", "in", ("gift_card", "ewallet")),
            ],
            order="id desc",
            limit=limit,
        )

    def _client_refund_get_receipt_description(self):
        self.ensure_one()
        return " ".join(filter(None, [self.program_id.name, self.code]))

    def _client_refund_get_products(self):
        return self.program_id.trigger_product_ids

    def _client_refund_check_refundable(self):
        for card in self:
            today = (card.company_id or self.env.company)._client_refund_today()
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
        """The sale lines that sold this card and are left to refund, newest
        first: [{line, name, document, date, quantity, amount}], the quantity and
        amount being this card's share of the line (one unit per gift card).

        A card made by the Point of Sale was sold by its orders (the one that made
        it, those whose history issued points on it), of the card's company. Any
        other card was sold by the invoice lines its refunds tied to it, or by the
        invoice lines of its client and company that match what the card was
        issued (see ``_client_refund_match_invoice_lines``): a card given for
        free, or one whose sale cannot be told apart from another's, has no known
        sale."""
        self.ensure_one()
        products = self._client_refund_get_products()
        if not products:
            return []
        # sudo: what sold the card is read for front-desk staff, who may have no
        # Point of Sale or Invoicing rights; reversing the sale through them
        # checks their rights
        card = self.sudo()
        company = card.company_id or self.env.company
        order_ids = card.history_ids.filtered(
            lambda line: line.order_model == "pos.order" and line.issued > 0
        ).mapped("order_id")
        orders = (
            card.source_pos_order_id | card.env["pos.order"].browse(order_ids).exists()
        ).filtered(
            lambda order: order.state in PAID_STATES
            and order.company_id == company
        )
        one_unit = self.program_id.program_type == "gift_card"
        found = []
        for order in orders:
            sold = card._client_refund_get_pos_sale_lines(order, products, one_unit)
            found += [
                (order, line, balance)
                for line, balance in order._client_refund_get_line_balances().items()
                if line in sold and balance["quantity"] > 0
            ]
        if not card.source_pos_order_id:
            found += card._client_refund_match_invoice_lines(products, company)
        sales = []
        for document, line, balance in found:
            quantity = min(balance["quantity"], 1.0) if one_unit else balance["quantity"]
            sales.append(
                {
                    "line": line,
                    "sold_on": document,
                    "name": document._client_refund_get_sale_line_name(line),
                    "document": document.display_name,
                    "date": document._client_refund_get_sale_date(),
                    "quantity": quantity,
                    "amount": document.currency_id.round(
                        balance["amount"] * quantity / balance["quantity"]
                    ),
                }
            )
        return sorted(sales, key=lambda sale: (sale["date"], sale["line"].id), reverse=True)

    def _client_refund_get_sale_documents(self):
        """The invoices its refunds tied to the card count too, once refunded."""
        # sudo: what sold the card is read for staff without Invoicing rights
        tied = self.sudo().client_refund_sale_line_ids.move_id.with_env(self.env)
        return [*super()._client_refund_get_sale_documents(), *tied]

    def _client_refund_get_balance_value(self):
        """The money the points pay for (gift cards and eWallets). Points are a
        field Point of Sale users may write: a card with a history has at most
        what its history issued and did not use."""
        self.ensure_one()
        points = self.points
        if self.history_ids:
            history = self.history_ids
            points = min(points, sum(history.mapped("issued")) - sum(history.mapped("used")))
        return self.currency_id.round(
            max(points, 0.0) * self.program_id._client_refund_get_point_value()
        )

    def _client_refund_get_points_held(self):
        """The points a loyalty card holds, as its history backs them: points
        issued by an order or a refund, less every use. Point of Sale users may
        write `points`, and core's Update Balance adds points no sale earned:
        neither lowers what a refund takes back."""
        self.ensure_one()
        # sudo: the history is read for staff without Loyalty rights
        history = self.sudo().history_ids
        if not history:
            return self.points
        earned = sum(history.filtered("order_model").mapped("issued"))
        return float_round(min(self.points, earned - sum(history.mapped("used"))), precision_digits=2)

    def _client_refund_get_visits_bought(self):
        self.ensure_one()
        history = self.history_ids
        return sum(history.mapped("issued")) or self.points + sum(history.mapped("used"))

    def _client_refund_get_paid_left(self):
        """What the card's known sales paid and its refunds have not paid back
        yet: the sales left to refund (credit notes and Point of Sale refunds
        taken off) less what its refunds out of cash on the Refund account
        refunded, the fees they kept included: a deposit's fee left on the
        wallet as store credit is spent, not cashed out again."""
        self.ensure_one()
        paid = sum(sale["amount"] for sale in self._client_refund_get_sales())
        # sudo: the card's refunds are read for staff who may see only their own
        paid_out = self.env["client.refund"].sudo().search(
            [
                ("source_card_id", "=", self.id),
                ("state", "=", "done"),
                ("payout_method", "=", "refund_account"),
            ]
        )
        left = self.currency_id.round(paid - sum(paid_out.mapped("amount")))
        return max(left, 0.0)

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        """The balance of a gift card or eWallet, up to what its sales paid and
        was not paid back; what was paid for a visit pack with visits left."""
        self.ensure_one()
        if float_compare(self.points, 0.0, precision_digits=2) <= 0:
            return 0.0
        paid = self._client_refund_get_paid_left()
        if self._client_refund_get_source_type() == "visit_pack":
            return paid
        return max(
            min(self._client_refund_get_balance_value(), paid - self._client_refund_get_spent_value()),
            0.0,
        )

    def _client_refund_get_spent_value(self):
        """What the client spent of a gift card or eWallet: it was paid for once
        and is not paid back. Points added by hand (core's Update Balance, open
        to Point of Sale users) are no money paid: they never make a spent card
        refundable again."""
        self.ensure_one()
        # sudo: the history is read for staff without Loyalty rights; what the
        # refunds took off is counted as paid out
        spent = sum(
            self.sudo()
            .history_ids.filtered(lambda line: line.order_model != "client.refund")
            .mapped("used")
        )
        return self.currency_id.round(spent * self.program_id._client_refund_get_point_value())

    def _client_refund_get_suggested_amount(self):
        """A visit pack gives back the price paid for the visits not used."""
        self.ensure_one()
        paid = self._client_refund_get_refundable_amount()
        if self._client_refund_get_source_type() != "visit_pack" or not paid:
            return paid
        bought = self._client_refund_get_visits_bought()
        return self.currency_id.round(paid * min(self.points / bought, 1.0))

    def _client_refund_check_evidence_write(self, vals):
        """What sold a card decides what its refunds may pay out: its refunds
        tie invoice lines to it, the Point of Sale ties it to its order once
        (selling a card printed beforehand), and nobody moves a card to another
        program or order afterwards."""
        if "client_refund_sale_line_ids" in vals or "client_refund_tied_on" in vals:
            self._client_refund_raise_evidence_written()
        if "program_id" in vals and any(card.program_id.id != vals["program_id"] for card in self):
            self._client_refund_raise_evidence_written()
        if "source_pos_order_id" in vals and any(
            card.source_pos_order_id and card.source_pos_order_id.id != vals["source_pos_order_id"]
            for card in self
        ):
            self._client_refund_raise_evidence_written()

    def _client_refund_raise_evidence_written(self):
        raise UserError(
            _(
                "What sold a card is recorded when it is sold: a card is not moved to "
                "another program or order, and only its refunds tie invoice lines to it."
            )
        )

    def _client_refund_raise_no_sale(self):
        raise UserError(
            _(
                "No sale of %s is known: it was given for free, or sold on an invoice "
                "that cannot be told apart from the sale of another card (same client, "
                "same value). Its sale cannot be cancelled and nothing can be paid out "
                "of it.",
                self.display_name,
            )
        )

    def _client_refund_get_sale(self, refund):
        if not self._client_refund_get_sales():
            self._client_refund_raise_no_sale()
        return super()._client_refund_get_sale(refund)

    def _client_refund_check_balance_amount(self, refund):
        """Nothing is paid out of a card no known sale paid for."""
        if not self._client_refund_get_sales():
            self._client_refund_raise_no_sale()
        return super()._client_refund_check_balance_amount(refund)

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

    def _client_refund_get_client(self):
        """The card's holder, or for an anonymous card who bought it."""
        self.ensure_one()
        if self.partner_id:
            return self.partner_id.commercial_partner_id
        sales = self._client_refund_get_sales()
        if not sales:
            return self.env["res.partner"]
        # sudo: the order or invoice is read for staff who may not read it
        document = self.sudo()._client_refund_get_sale_document(sales[0])
        return document.partner_id.commercial_partner_id.with_env(self.env)

    def _client_refund_check_own_request(self, refund):
        self.ensure_one()
        source_type = self._client_refund_get_source_type()
        if (refund.payout_method == "ewallet" or refund.amount_ewallet) and source_type == "ewallet":
            raise UserError(
                _("%s is an eWallet: its refund is paid back in money, not onto itself.", self.display_name)
            )
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
        if mode == "cancel_sale" and self._client_refund_get_fee_left_on_balance(refund):
            raise UserError(
                _(
                    "%(policies)s keeps %(fee)s of %(card)s on it as store credit: its "
                    "top-up is not cancelled. Pay the rest out of cash or bank instead.",
                    policies=", ".join(refund.fee_ids.policy_id.mapped("name")),
                    fee=self.currency_id.format(refund.amount_fee),
                    card=self.display_name,
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
        # the invoice lines it is refunded from are tied to the card, so that no
        # other card is refunded from them
        sale_lines = [
            sale["line"].id
            for sale in self._client_refund_get_sales()
            if not sale["sold_on"]._client_refund_sold_at_till
        ]
        if self._client_refund_get_source_type() != "ewallet":
            # what its sale paid and is not paid back by this refund is given up:
            # released from a liability account it was sold on
            forfeited = (
                self._client_refund_get_paid_left() - refund.amount
                if mode != "cancel_sale"
                else 0.0
            )
            return {
                "points": self.points,
                "close": True,
                "sale_line_ids": sale_lines,
                "forfeited": forfeited,
            }
        if mode == "expense":
            # what the policy keeps of a deposit as store credit stays on the wallet
            amount = refund.amount - self._client_refund_get_fee_left_on_balance(refund)
        else:
            amount = self._client_refund_get_sale(refund)["amount"]
        if self.currency_id.compare_amounts(amount, self._client_refund_get_balance_value()) >= 0:
            points = self.points
        else:
            points = float_round(
                amount / self.program_id._client_refund_get_point_value(), precision_digits=2
            )
        return {"points": points, "close": False, "sale_line_ids": sale_lines}

    def _client_refund_get_fee_store_credit(self, refund):
        return self._client_refund_get_fee_left_on_balance(refund)

    def _client_refund_get_fee_left_on_balance(self, refund):
        """An eWallet top-up is a deposit: what the policy keeps of it as store
        credit stays on the wallet."""
        self.ensure_one()
        if self._client_refund_get_source_type() != "ewallet":
            return 0.0
        return self._client_refund_get_deposit_credit(refund)

    def _client_refund_apply_change(self, refund, change):
        self.ensure_one()
        # the refund that took them off: no use by the client
        self._client_refund_change_points(refund, refund._get_points_description(), -change["points"])
        values = {"client_refund_sale_line_ids": [Command.link(line) for line in change["sale_line_ids"]]}
        if change["close"]:
            values["active"] = False
        # sudo: only refunds tie sale lines to a card
        self.sudo().write(values)

    def _client_refund_change_points(self, document, description, points):
        """Add `points` to the card (take them off when negative) through its
        history, which names `document` (the refund, or the till's refund
        order) and says why."""
        self.ensure_one()
        # sudo: front-desk staff need no Loyalty rights to refund; the history
        # line says who changed the points, by which refund and why
        self.env["loyalty.history"].sudo().create(
            {
                "card_id": self.id,
                "order_model": document._name,
                "order_id": document.id,
                "description": description,
                "issued": max(points, 0.0),
                "used": max(-points, 0.0),
            }
        )
        self.sudo().write({"points": float_round(self.points + points, precision_digits=2)})
