from collections import defaultdict

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_round

from .client_refund_source import get_refund_own_path, refund_own_path

# What a paid order's lines and payments say was sold and paid: refunds are
# counted against them. Core's forms show a paid order read-only, but Point of
# Sale users may write these fields over JSON-RPC.
PAID_LINE_FIELDS = (
    "order_id", "product_id", "qty", "price_unit", "discount", "tax_ids", "price_subtotal",
    "price_subtotal_incl", "refunded_orderline_id", "combo_parent_id", "pack_lot_ids",
)
PAID_PAYMENT_FIELDS = ("pos_order_id", "amount", "payment_method_id", "transaction_id", "card_type")
PAID_STATES = ("paid", "done", "invoiced")


class PosOrder(models.Model):
    _name = "pos.order"
    _inherit = [
        "pos.order",
        "client.refund.source",
        "client.refund.page.row",
        "client.refund.pos.tender",
        "client.refund.pos.points",
    ]
    _client_refund_payout_methods = ("pos", "card", "ewallet")
    _client_refund_sold_at_till = True
    _client_refund_by_lines = True

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_pos_order_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )

    def write(self, vals):
        # its lines and payments are guarded on their own models
        if not self.env.su and any(
            fname in vals for fname in ("amount_total", "amount_paid", "amount_tax")
        ):
            self._client_refund_check_not_paid()
        return super().write(vals)

    def add_loyalty_history_lines(self, coupon_data, coupon_updates):
        """Core's till records what an order earned and spent on cards once,
        right after the order reaches the server in its open session: the only
        way a card's history names an order outside the superuser's code."""
        if not self.env.su:
            History = self.env["loyalty.history"].sudo()
            recorded = History.search_count(
                [("order_model", "=", self._name), ("order_id", "in", self.ids)], limit=1
            )
            closed = self.filtered(
                lambda order: order.session_id.state not in ("opening_control", "opened")
            )
            if recorded or closed:
                raise UserError(
                    _(
                        "What order %s earned on loyalty cards is recorded once, by its till, "
                        "while its session is open.",
                        ", ".join(self.mapped("name")),
                    )
                )
        return super(PosOrder, refund_own_path(self)).add_loyalty_history_lines(
            coupon_data, coupon_updates
        )

    def action_client_refund(self):
        self.ensure_one()
        self._client_refund_check_refundable()
        return self.env["client.refund.wizard"]._get_launch_action(
            {"default_source_type": "pos_order", "default_pos_order_id": self.id}
        )

    def _client_refund_check_not_paid(self):
        """A paid order's lines and payments are what was sold and paid: its
        refunds are counted against them, so nobody rewrites them."""
        paid = self.exists().filtered(lambda order: order.state in PAID_STATES)
        if paid:
            raise UserError(
                _(
                    "Order %s is paid: what it sold and how it was paid are not changed "
                    "any more. Refund it instead.",
                    ", ".join(paid.mapped("name")),
                )
            )

    # The client's Refund page: one row per order (see res.partner)
    client_refund_left = fields.Monetary(
        string="Left to Refund",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )

    def _compute_client_refund_row(self):
        """What the client's Refund page shows of each order; the lines and
        payments of every order are read together (prefetch)."""
        for order in self:
            order.client_refund_products = ", ".join(
                dict.fromkeys(
                    (line.full_product_name or line.product_id.name or "").strip()
                    for line in order.lines
                )
            )
            order.client_refund_paid_by = ", ".join(
                dict.fromkeys(
                    payment.payment_method_id.name
                    for payment in order.payment_ids
                    if order.currency_id.compare_amounts(payment.amount, 0.0) > 0
                )
            )
            order.client_refund_left = (
                order._client_refund_get_refundable_amount()
                if order.state in PAID_STATES
                else 0.0
            )

    # ------------------------------------------------------------------
    # The refund protocol (client.refund.source)
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        return "pos_order"

    def _client_refund_get_till_ways(self, config):
        methods = list(self._client_refund_get_till_shares(config))
        ways = [
            _("in cash") if method.is_cash_count else _("by %s", method.name)
            for method in sorted(methods, key=lambda method: not method.is_cash_count)
        ]
        return _(" and ").join(ways) if ways else super()._client_refund_get_till_ways(config)

    def _client_refund_get_points_note(self, amount):
        self.ensure_one()
        plan = self._client_refund_get_points_due(amount)
        shortfall = sum(step["shortfall"] for step in plan)
        if not shortfall:
            return False
        deduction = self._client_refund_get_points_deduction(plan)
        if deduction:
            return _(
                "%(points)s points earned by the order are spent: %(amount)s is deducted "
                "from the money paid back.",
                points=shortfall,
                amount=self.currency_id.format(deduction),
            )
        return _("%s points earned by the order are spent: they cannot be taken back.", shortfall)

    @api.model
    def _client_refund_search_client_documents(self, client, limit):
        return self.search(
            [
                ("partner_id", "child_of", client.id),
                ("state", "in", PAID_STATES),
                # refund orders total less than nothing
                ("amount_total", ">", 0),
            ],
            order="date_order desc, id desc",
            limit=limit,
        ).filtered("has_refundable_lines")

    def _client_refund_get_receipt_description(self):
        self.ensure_one()
        return ", ".join(dict.fromkeys(self.lines.mapped("full_product_name")))

    def _client_refund_check_ewallet_rest(self, refund, rest):
        """The till rounds the cash it pays out: the rest must be rounded."""
        config = refund.pos_config_id or self.config_id
        currency = refund.currency_id
        if (
            refund.payout_method == "pos"
            and config.cash_rounding
            and currency.compare_amounts(config.rounding_method.round(rest), rest)
        ):
            raise UserError(
                _(
                    "The part onto the eWallet leaves %(rest)s for the till, which rounds "
                    "cash to %(step)s: leave a rounded amount.",
                    rest=currency.format(rest),
                    step=config.rounding_method.rounding,
                )
            )

    def _client_refund_get_sale_line_name(self, line):
        return line.full_product_name or line.product_id.display_name

    def _client_refund_is_paid_by_card(self):
        # a till's card payment has its transaction once a card refund made one
        return super()._client_refund_is_paid_by_card() or bool(self._client_refund_get_terminal_payment())

    def _client_refund_get_sellers(self):
        return self.user_id

    def _client_refund_get_sale_date(self):
        return fields.Date.context_today(self, self.date_order)

    def _client_refund_get_policy_date(self):
        """The day of the sale in the company's day, as the window's today is
        (see res.company._client_refund_today): never the caller's `tz`."""
        self.ensure_one()
        company_day = self.with_context(tz=self.company_id.client_refund_tz or "UTC")
        return fields.Datetime.context_timestamp(company_day, self.date_order).date()

    def _client_refund_get_policy_lines(self, refund):
        """Each order line the refund order credits, by its product: the lines
        and quantities asked, or every line left scaled to the amount."""
        self.ensure_one()
        quantities, prices = self._client_refund_get_quantities_and_prices(refund)
        return [
            (
                line.product_id,
                line._client_refund_compute_totals(quantity, prices[line])["price_subtotal_incl"],
            )
            for line, quantity in quantities.items()
        ]

    def _client_refund_check_refundable(self):
        for order in self:
            if order.state not in PAID_STATES:
                raise UserError(
                    _(
                        "Order %s is not paid: only paid orders can be refunded.",
                        order.display_name,
                    )
                )
            if order.refunded_order_id or order.currency_id.compare_amounts(
                order.amount_total, 0.0
            ) < 0:
                raise UserError(
                    _(
                        "Order %s is itself a refund: a refund cannot be refunded.",
                        order.display_name,
                    )
                )
            # what the till knows how to undo and this refund does not (yet)
            if order.lines.filtered(lambda line: line.combo_parent_id or line.combo_line_ids):
                raise UserError(
                    _(
                        "Order %s holds combo products: refund it at the till, which "
                        "refunds a combo with its parts.",
                        order.display_name,
                    )
                )
            if order.lines.filtered("is_reward_line"):
                raise UserError(
                    _(
                        "Order %s used loyalty rewards, a gift card or an eWallet: refund "
                        "it at the till, where the points follow the refund.",
                        order.display_name,
                    )
                )

    def _client_refund_get_line_balances(self):
        """For each line: the quantity (core refunded_qty, which counts every
        refund order, the till's included) and the amount (tax included, from the
        refund lines' own totals) left to refund. A refund line gives back: its
        quantity is never positive (see pos.order.line), and its amount only
        lowers what is left, so that a draft order's line that names a sold line
        with no quantity and a positive total never raises it."""
        self.ensure_one()
        refunded_amounts = defaultdict(float)
        for refund_line in self.lines.refund_orderline_ids:
            if refund_line.order_id.state != "cancel":
                refunded_amounts[refund_line.refunded_orderline_id] += max(
                    -refund_line.price_subtotal_incl, 0.0
                )
        balances = {}
        for line in self.lines:
            quantity_left = line.qty - line.refunded_qty
            if float_compare(
                quantity_left, 0.0, precision_rounding=line.product_uom_id.rounding
            ) <= 0:
                balances[line] = {"quantity": 0.0, "amount": 0.0}
                continue
            balances[line] = {
                "quantity": quantity_left,
                "amount": self.currency_id.round(
                    line.price_subtotal_incl - refunded_amounts[line]
                ),
            }
        return balances

    def _client_refund_get_amount_lines(self, balances):
        """The lines a refund by amount spreads over: services only, since a
        product taken back returns to stock and is refunded by lines."""
        return {
            line: balance
            for line, balance in balances.items()
            if balance["amount"] > 0 and not line.product_id.is_storable
        }

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        self.ensure_one()
        return self.currency_id.round(
            sum(balance["amount"] for balance in self._client_refund_get_line_balances().values())
            - self._client_refund_get_refunded_outside()
        )

    def _client_refund_get_refunded_outside(self, currency=None):
        """Refunds of the order's card terminal payment made outside the
        register and the till (the Stripe Dashboard, mirrored by core's webhook
        once the payment has a transaction): money already gone back, in the
        order's currency (a terminal is paid in it)."""
        terminal_payment = self._client_refund_get_terminal_payment()
        if not terminal_payment:
            return 0.0
        # sudo: transactions are kept for payment administrators
        card_payment = self.env["payment.transaction"].sudo().search(
            [("client_refund_pos_payment_id", "=", terminal_payment.id)], limit=1
        )
        refunds = card_payment.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund"
            and tx.state not in ("cancel", "error")
            and not tx.client_refund_ids
        )
        return -sum(refunds.mapped("amount"))

    def _client_refund_compute_amount(self, refund):
        """What the refund order will credit, as core's _compute_prices totals an
        order: its lines' taxes, then the till's cash rounding of the total. A
        refund by amount is priced to hit the amount asked."""
        config = refund.pos_config_id or self.config_id
        if refund.scope == "partial" and not refund.line_ids:
            cash_rounding = self._client_refund_get_cash_rounding(config)
            return cash_rounding.round(refund.amount) if cash_rounding else refund.amount
        quantities, prices = self._client_refund_get_quantities_and_prices(refund)
        return self._client_refund_get_credited_total(quantities, prices, config)

    @api.model
    def _client_refund_get_cash_rounding(self, config):
        """The rounding the till of `config` applies to an order's total."""
        if config.cash_rounding and not config.only_round_cash_method:
            return config.rounding_method
        return None

    def _client_refund_get_credited_total(self, quantities, prices, config):
        """What a refund order of the till of `config` crediting `quantities`
        ({order line: quantity}) at `prices` ({order line: unit price}) totals,
        tax included and rounded as the till rounds an order's total."""
        cash_rounding = self._client_refund_get_cash_rounding(config)
        lines = self.env["pos.order.line"].concat(
            *(line.new({"qty": quantity, "price_unit": prices[line]}, origin=line)
              for line, quantity in quantities.items())
        )
        AccountTax = self.env["account.tax"]
        base_lines = lines._prepare_tax_base_line_values()
        AccountTax._add_tax_details_in_base_lines(base_lines, self.company_id)
        AccountTax._round_base_lines_tax_details(base_lines, self.company_id)
        totals = AccountTax._get_tax_totals_summary(
            base_lines, self.currency_id, self.company_id, cash_rounding=cash_rounding
        )
        return self.currency_id.round(totals["total_amount_currency"])

    def _client_refund_get_refunded_products(self, refund):
        if refund.line_ids:
            return refund.line_ids.pos_order_line_id.product_id
        return self.lines.product_id

    def _client_refund_get_default_payout(self):
        """The card when its payment has the most left, else the till."""
        self.ensure_one()
        card_left = self._client_refund_get_card_refundable_amount()
        left = self._client_refund_get_left_by_method().values()
        if card_left > 0 and self.currency_id.compare_amounts(card_left, max(left)) >= 0:
            return "card", self.env["account.journal"]
        return "pos", self.env["account.journal"]

    def _client_refund_get_tenders(self):
        return [
            (method.name, amount)
            for method, amount in self._client_refund_get_left_by_method().items()
            if not self.currency_id.is_zero(amount)
        ]

    def _client_refund_get_card_refundable_amount(self, exclude_refund=None):
        terminal_payment = self._client_refund_get_terminal_payment()
        if not terminal_payment:
            return 0.0
        left = self._client_refund_get_left_by_method()[terminal_payment.payment_method_id]
        return self.currency_id.round(max(left, 0.0))

    def _client_refund_get_card_transaction(self):
        """The transaction of the order's Stripe terminal payment, once its
        first card refund recorded it (see _client_refund_ensure_card_transaction)."""
        terminal_payment = self._client_refund_get_terminal_payment()
        # sudo: transactions are kept for payment administrators
        transactions = self.env["payment.transaction"].sudo()
        if not terminal_payment:
            return transactions
        return transactions.search([("client_refund_pos_payment_id", "=", terminal_payment.id)], limit=1)

    def _client_refund_ensure_card_transaction(self):
        """Core keeps only the PaymentIntent on the POS payment: the transaction
        is recorded when the first card refund is made, so that refunds go
        through the payment machinery."""
        terminal_payment = self._client_refund_get_terminal_payment()
        return self._client_refund_get_card_transaction() or self.env["payment.transaction"].sudo().create(
            self._prepare_client_refund_card_transaction_vals(terminal_payment)
        )

    def _client_refund_get_card_provider(self):
        terminal_payment = self._client_refund_get_terminal_payment()
        # sudo: providers are kept for payment administrators
        return terminal_payment.payment_method_id.sudo().with_company(
            self.company_id
        )._get_stripe_payment_provider()

    def _client_refund_check_own_request(self, refund):
        balances = self._client_refund_get_line_balances()
        if not any(balance["quantity"] for balance in balances.values()):
            raise UserError(
                _("Order %s has been refunded in full already.", self.display_name)
            )
        if refund.line_ids:
            self._client_refund_get_asked_quantities(refund, balances)
        elif refund.scope != "full":
            refundable = sum(
                balance["amount"]
                for balance in self._client_refund_get_amount_lines(balances).values()
            )
            self._client_refund_check_amount(
                refund,
                refundable,
                _(
                    "Only %(left)s of the services of order %(order)s is left to refund "
                    "by amount, not %(asked)s. Products are refunded by lines.",
                    left=self.currency_id.format(refundable),
                    order=self.display_name,
                    asked=self.currency_id.format(refund.amount),
                ),
            )
            # an amount the taxes cannot reach is refused now, not once Stripe paid it
            self._client_refund_split_amount(refund.amount, balances)
        if self._client_refund_get_refunded_outside():
            # the lines left are worth more than is left to pay back
            self._client_refund_check_amount(refund, self._client_refund_get_refundable_amount())
        # whatever the lines say, never more than the order's payments have left
        # (the till rounds cash by at most one step)
        left_paid = sum(max(amount, 0.0) for amount in self._client_refund_get_left_by_method().values())
        config = self.config_id
        rounding = config.rounding_method.rounding if config.cash_rounding else 0.0
        if self.currency_id.compare_amounts(refund.amount, left_paid + rounding) > 0:
            raise UserError(
                _(
                    "Only %(left)s paid on order %(order)s is left to give back, not %(asked)s.",
                    left=self.currency_id.format(left_paid),
                    order=self.display_name,
                    asked=self.currency_id.format(refund.amount),
                )
            )
        session = self._client_refund_get_session(refund.pos_config_id)
        if refund.payout_method == "pos":
            # each tender left has a method of the till to pay it back with
            self._client_refund_get_till_shares(session.config_id)
        if refund.payout_method == "ewallet" and self.account_move:
            raise UserError(
                _(
                    "Order %s was invoiced: its refund is paid back at the till or to the "
                    "card, not onto the eWallet.",
                    self.display_name,
                )
            )
        if self._client_refund_get_amount_waiting_for_card(refund):
            raise UserError(
                _(
                    "A card refund of order %s is waiting for Stripe: refund more once "
                    "it is done.",
                    self.display_name,
                )
            )
        if refund.payout_method == "card":
            self._client_refund_check_terminal_of(session)

    def _client_refund_get_asked_quantities(self, refund, balances=None):
        """{order line: quantity} of a refund by lines, each checked against what
        is left of its line."""
        balances = balances if balances is not None else self._client_refund_get_line_balances()
        quantities = {}
        for refund_line in refund.line_ids.sorted("id"):
            line = refund_line.pos_order_line_id
            if line not in balances:
                raise UserError(
                    _(
                        "Line %(line)s is not a line of order %(order)s.",
                        line=line.display_name,
                        order=self.display_name,
                    )
                )
            label = line.full_product_name or line.product_id.display_name
            left = balances[line]["quantity"] - quantities.get(line, 0.0)
            self._client_refund_check_quantity(refund_line.quantity, left, line.product_uom_id, label)
            if line.pack_lot_ids and float_compare(
                refund_line.quantity, left, precision_rounding=line.product_uom_id.rounding
            ):
                raise UserError(
                    _(
                        "%s is tracked by lots or serial numbers: refund all of it, or "
                        "refund part of it at the till, where the lots are chosen.",
                        label,
                    )
                )
            quantities[line] = quantities.get(line, 0.0) + refund_line.quantity
        return quantities

    def _client_refund_check_terminal_of(self, session):
        """The session that pays the refund out must take the card terminal."""
        terminal_payment = self._client_refund_get_terminal_payment()
        if terminal_payment and terminal_payment.payment_method_id not in session.payment_method_ids:
            raise UserError(
                _(
                    "%(pos)s does not take %(method)s: pay the refund out at a Point of "
                    "Sale that does.",
                    pos=session.config_id.display_name,
                    method=terminal_payment.payment_method_id.name,
                )
            )

    def _client_refund_get_session(self, config=None):
        """The open session that pays the refund out: the chosen POS's, by default
        the order's own."""
        self.ensure_one()
        config = config or self.config_id
        if config.company_id != self.company_id:
            raise UserError(
                _(
                    "Point of Sale %(pos)s belongs to another company than order %(order)s.",
                    pos=config.display_name,
                    order=self.display_name,
                )
            )
        session = config.current_session_id
        if not session or session.state not in ("opening_control", "opened"):
            raise UserError(
                _(
                    "No session of %s is open: open it, so that the refund is paid out "
                    "of its till.",
                    config.display_name,
                )
            )
        return session

    # ------------------------------------------------------------------
    # Doing it
    # ------------------------------------------------------------------

    def _client_refund_execute(self, refund):
        """A refund order in an open session, linked line by line to this order
        (core refunded_orderline_id), paid out with the order's own tenders."""
        self.ensure_one()
        session = self._client_refund_get_session(refund.pos_config_id)
        # the points are counted before the refund order joins the order's refunds
        plan = self._client_refund_get_points_due(refund.amount)
        deduction = (
            # what was sent to Stripe is what the card gets: the deduction of then
            refund.amount - refund.amount_fee - refund.amount_to_card - refund.amount_ewallet
            if refund.payout_method == "card"
            else self._client_refund_get_points_deduction(plan)
        )
        refund_order = self._client_refund_create_refund_order(refund, session)
        if deduction:
            refund_order._client_refund_add_points_deduction(deduction)
        # what the sale is credited: the lines that name what it sold, not those
        # that keep part of it back (the fee, the points, store credit)
        credited_lines = refund_order.lines.filtered("refunded_orderline_id")
        credited = self._client_refund_get_credited_total(
            {line.refunded_orderline_id: -line.qty for line in credited_lines},
            {line.refunded_orderline_id: line.price_unit for line in credited_lines},
            refund_order.config_id,
        )
        ewallet = self.env["loyalty.card"]
        onto_ewallet = (
            -refund_order.amount_total if refund.payout_method == "ewallet" else refund.amount_ewallet
        )
        if onto_ewallet:
            ewallet = refund_order._client_refund_top_up_ewallet(refund, onto_ewallet)
        if refund.payout_method == "card":
            refund_order._client_refund_pay_out_to_card(self, refund)
        elif refund.payout_method != "ewallet":
            # a full refund that names its lines (a card's sale) pays back those lines only
            refund_order._client_refund_pay_out(
                self,
                full=refund.scope == "full" and not refund.line_ids,
                kept=deduction + onto_ewallet + refund.amount_fee,
            )
        # core's _process_saved_order only logs an order that does not add up
        refund_order.action_pos_order_paid()
        refund_order._process_saved_order(False)
        if refund_order.state not in PAID_STATES:
            raise UserError(
                _("The refund of order %s could not be completed.", self.display_name)
            )
        self._client_refund_take_back_points(refund, refund_order, plan, deduction)
        if self.account_move and refund_order.account_move:
            # the credit note settles the invoice it credits; core reconciles POS
            # invoices in sudo too (_apply_invoice_payments), cashiers having no
            # accounting rights
            self.account_move.sudo()._client_refund_rematch(
                payout_moves=refund_order.sudo().payment_ids.account_move_id
            )
        # sudo: the register's lines are the addon's record
        for refund_line, order_line in zip(
            refund.line_ids.sudo().sorted("id"), credited_lines.sorted("id")
        ):
            refund_line.amount = -order_line.price_subtotal_incl
        return {
            "pos_order_ids": [Command.link(refund_order.id)],
            "credit_note_ids": [Command.link(move.id) for move in refund_order.account_move],
            "picking_ids": [Command.link(picking.id) for picking in refund_order.picking_ids],
            "amount": credited,
            # what goes on the client's account is no money paid back
            "amount_paid_back": -sum(
                refund_order.payment_ids.filtered(
                    lambda payment: payment.payment_method_id.type != "pay_later"
                ).mapped("amount")
            ),
            "payout_method": refund.payout_method,
            "points_shortfall": sum(step["shortfall"] for step in plan),
            **(
                {"ewallet_card_id": ewallet.id, "amount_ewallet": onto_ewallet}
                if ewallet
                else {}
            ),
        }

    def _client_refund_get_paid_back_amount(self, amount):
        """What a refund of `amount` pays back: less the points it cannot take
        back, when the company deducts them."""
        self.ensure_one()
        plan = self._client_refund_get_points_due(amount)
        return self.currency_id.round(amount - self._client_refund_get_points_deduction(plan))

    def _client_refund_create_refund_order(self, refund, session):
        refund_order = self.copy(
            {
                **self._prepare_refund_values(session),
                "to_invoice": bool(self.account_move),
                "user_id": self.env.user.id,
            }
        )
        line_vals_list = self._prepare_client_refund_lines(refund, refund_order)
        line_vals_list += self._prepare_client_refund_fee_lines(refund, refund_order)
        # the register applied the policies the till's refunds are held to
        # (see pos.order.line._client_refund_check_till_refunds)
        refund_own_path(self.env["pos.order.line"]).create(line_vals_list)
        refund_order._compute_prices()
        return refund_order

    def _prepare_client_refund_fee_lines(self, refund, refund_order):
        """Values of the refund order's fee lines, one per fee kept, on its
        policy's fee product with that product's taxes, priced so that the
        line totals the fee tax included (see account.move's fee invoice): the
        refund credits what was sold in full, the fee is income on its own
        product when the session closes, and the till pays back the rest."""
        AccountMove = self.env["account.move"]
        currency = self.currency_id
        vals_list = []
        for fee in refund.fee_ids.filtered("amount"):
            product = fee.policy_id.fee_product_id
            if not product:
                raise UserError(
                    _("Refund policy %s keeps a fee but has no fee product: a refund manager "
                      "sets one.", fee.policy_id.name)
                )
            price, _total = AccountMove._client_refund_get_fee_price(product, fee.amount, refund)
            values = {
                "order_id": refund_order.id,
                "product_id": product.id,
                "full_product_name": _(
                    "%(fee)s (%(terms)s)",
                    fee=product.display_name,
                    terms=fee.policy_id._get_fee_words(fee.fault),
                ),
                "qty": 1.0,
                "price_unit": price,
                "tax_ids": [Command.set(AccountMove._client_refund_get_fee_taxes(product, refund).ids)],
            }
            totals = self.env["pos.order.line"].new(values)._compute_amount_line_all()
            if currency.compare_amounts(totals["price_subtotal_incl"], fee.amount):
                raise UserError(
                    _(
                        "The fee line of %(refund)s totals %(total)s, not the %(fee)s "
                        "confirmed: nothing was refunded. Check the taxes of %(product)s and "
                        "the fiscal position of order %(order)s.",
                        refund=refund.name,
                        total=currency.format(totals["price_subtotal_incl"]),
                        fee=currency.format(fee.amount),
                        product=product.display_name,
                        order=self.display_name,
                    )
                )
            values.update({fname: currency.round(value) for fname, value in totals.items()})
            vals_list.append(values)
        return vals_list

    def _client_refund_get_quantities_and_prices(self, refund):
        """({order line: quantity}, {order line: unit price}) of the refund order.
        By lines: the quantities asked, the last ones taking exactly the amount
        left. By amount: each service gives back its share of the amount, as the
        part of its quantity that the share pays for."""
        balances = self._client_refund_get_line_balances()
        if refund.scope == "partial" and not refund.line_ids:
            return self._client_refund_split_amount(refund.amount, balances)
        if refund.line_ids:
            quantities = self._client_refund_get_asked_quantities(refund, balances)
        else:
            quantities = {
                line: balance["quantity"]
                for line, balance in balances.items()
                if balance["quantity"]
            }
        prices = {}
        for line, quantity in quantities.items():
            price = line.price_unit
            if not float_compare(
                quantity, balances[line]["quantity"], precision_rounding=line.product_uom_id.rounding
            ):
                unit_total = line._client_refund_compute_totals(1.0, price)["price_subtotal_incl"]
                if unit_total:
                    price *= balances[line]["amount"] / (quantity * unit_total)
            prices[line] = price
        return quantities, prices

    def _prepare_client_refund_lines(self, refund, refund_order):
        """Values of the refund order lines, from core _prepare_refund_data, and
        their totals from core _compute_amount_line_all."""
        quantities, prices = self._client_refund_get_quantities_and_prices(refund)
        lines = self.env["pos.order.line"].concat(*quantities)
        vals_list = lines.copy_data()
        for line, values in zip(lines, vals_list):
            refund_data = line._prepare_refund_data(
                refund_order, line.pack_lot_ids and line.pack_lot_ids.copy()
            )
            refund_data["pack_lot_ids"] = [Command.set(refund_data["pack_lot_ids"].ids)]
            totals = line._client_refund_compute_totals(-quantities[line], prices[line])
            values.update(
                refund_data, qty=-quantities[line], price_unit=prices[line], **totals
            )
        return vals_list

    def _client_refund_split_amount(self, amount, balances):
        open_lines = self._client_refund_get_amount_lines(balances)
        total_open = sum(balance["amount"] for balance in open_lines.values())
        quantities, prices = {}, {}
        left = amount
        for index, (line, balance) in enumerate(open_lines.items()):
            share = (
                left
                if index == len(open_lines) - 1
                else self.currency_id.round(amount * balance["amount"] / total_open)
            )
            left -= share
            if not self.currency_id.compare_amounts(share, 0.0) > 0:
                continue
            rounding = line.product_uom_id.rounding
            unit_total = balance["amount"] / balance["quantity"]
            quantity = min(
                balance["quantity"],
                max(rounding, float_round(share / unit_total, precision_rounding=rounding)),
            )
            quantities[line] = quantity
            prices[line] = line.price_unit * share / (quantity * unit_total)
        return quantities, self._client_refund_adjust_refund_order_prices(quantities, prices, amount)

    def _client_refund_adjust_refund_order_prices(self, quantities, prices, amount):
        """Scaled prices are rounded with the taxes: put the last cents on the
        largest line so that the refund totals exactly the amount asked."""
        currency = self.currency_id

        def total(prices):
            return sum(
                currency.round(
                    line._client_refund_compute_totals(quantities[line], prices[line])[
                        "price_subtotal_incl"
                    ]
                )
                for line in quantities
            )

        if not quantities:
            # no service left to refund by amount: the refund's checks say so
            return prices
        largest = max(quantities, key=lambda line: quantities[line] * prices[line])
        for _attempt in range(3):
            difference = currency.round(amount - total(prices))
            if currency.is_zero(difference):
                return prices
            per_price = largest._client_refund_compute_totals(
                quantities[largest], prices[largest]
            )["price_subtotal_incl"] / (quantities[largest] * prices[largest])
            prices[largest] += difference / (quantities[largest] * per_price)
        raise UserError(
            _(
                "The taxes of this order round the refund to %(total)s, not %(asked)s.",
                total=currency.format(total(prices)),
                asked=currency.format(amount),
            )
        )


class PosOrderLine(models.Model):
    _inherit = "pos.order.line"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            self.env["pos.order"].browse(
                [vals["order_id"] for vals in vals_list if vals.get("order_id")]
            )._client_refund_check_not_paid()
            self._client_refund_check_till_refunds(vals_list)
            for vals in vals_list:
                self._client_refund_check_refund_line(vals)
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and any(fname in vals for fname in PAID_LINE_FIELDS):
            self.order_id._client_refund_check_not_paid()
            if vals.get("order_id"):
                self.order_id.browse(vals["order_id"])._client_refund_check_not_paid()
            if vals.get("refunded_orderline_id"):
                self._client_refund_check_till_refunds([vals])
            for line in self:
                self._client_refund_check_refund_line(
                    {"qty": line.qty, "refunded_orderline_id": line.refunded_orderline_id.id, **vals}
                )
        return super().write(vals)

    @api.model
    def _client_refund_check_till_refunds(self, vals_list):
        """Core's till refunds a sold line with a line naming it
        (refunded_orderline_id): its Refund button, and the orders its screen
        sends (sync_from_ui). Such a refund knows no reason, so it keeps no fee
        (see the README) and is held to what the policies refuse:
        - a refund order a client refund made is not refunded again: that would
          give back what the register says was kept;
        - a line a refund policy declares final sale, or sold before the
          policy's window, is refunded at the till by a refund manager or an
          accountant only (as core's Credit Note, see account.move): others use
          the order's Refund Client button, where the policy applies.
        The register's own refund orders are made on the refund's own path,
        once it applied the policies."""
        if get_refund_own_path(self.env):
            return
        refunded_lines = self.browse(
            {vals["refunded_orderline_id"] for vals in vals_list if vals.get("refunded_orderline_id")}
        ).exists()
        if not refunded_lines:
            return
        # sudo: the register is read for cashiers without refund rights
        client_refund = self.env["client.refund"].sudo().search(
            [("pos_order_ids", "in", refunded_lines.order_id.ids)], limit=1
        )
        if client_refund:
            raise UserError(
                _(
                    "Order %(order)s was made by client refund %(refund)s: it is not "
                    "refunded at the till, which would give back what the refund kept.",
                    order=(client_refund.pos_order_ids & refunded_lines.order_id)[0].display_name,
                    refund=client_refund.name,
                )
            )
        user = self.env.user
        if user.has_group("client_refund.group_client_refund_manager") or user.has_group(
            "account.group_account_manager"
        ):
            return
        # sudo: the policies hold for cashiers who may not read them
        Policy = self.env["client.refund.policy"].sudo()
        for company, lines in refunded_lines.grouped(lambda line: line.order_id.company_id).items():
            policies = Policy._get_policies(lines.product_id, company)
            today = company._client_refund_today()
            days_since_sale = {
                order: (today - order._client_refund_get_policy_date()).days
                for order in lines.order_id
            }
            for line in lines:
                policy = policies[line.product_id]
                past_window = policy.window_days and (
                    days_since_sale[line.order_id] > policy.window_days
                )
                if policy.final_sale or past_window:
                    raise UserError(
                        _(
                            "%(product)s of order %(order)s falls under the refund policy "
                            "%(policy)s (%(rule)s): refund it with the order's Refund Client "
                            "button, where the policy applies, or ask a refund manager.",
                            product=line.full_product_name or line.product_id.display_name,
                            order=line.order_id.display_name,
                            policy=policy.name,
                            rule=_("final sale") if policy.final_sale else _(
                                "refunds within %s days", policy.window_days
                            ),
                        )
                    )

    @api.model
    def _client_refund_check_refund_line(self, vals):
        """A line that refunds a sold line gives back: its quantity is negative."""
        if vals.get("refunded_orderline_id") and (vals.get("qty") or 0.0) > 0:
            raise UserError(_("A refund line takes back what was sold: its quantity is negative."))

    def _client_refund_compute_totals(self, quantity, price_unit):
        """Core _compute_amount_line_all for another quantity and price, rounded
        as the order rounds its lines."""
        self.ensure_one()
        totals = self.new({"qty": quantity, "price_unit": price_unit}, origin=self)._compute_amount_line_all()
        currency = self.order_id.currency_id
        return {key: currency.round(value) for key, value in totals.items()}
