from markupsafe import Markup

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError

from ..models.client_refund_source import get_document_fields, get_source_fields


def depends_on_document(*fnames):
    """@api.depends on the wizard's fields to a refundable document (one per
    kind of document, see client.refund.source) and on `fnames`."""
    return api.depends(lambda wizard: [*get_source_fields(wizard).values(), *fnames])


class ClientRefundWizard(models.TransientModel):
    _name = "client.refund.wizard"
    _inherit = "client.refund.wizard.mixin"
    _description = "Refund a Client"

    source_type = fields.Selection(
        selection=[
            ("invoice", "Invoice"),
            ("payment", "Payment"),
            ("pos_order", "POS Order"),
        ],
        string="Refund",
        required=True,
        default="invoice",
    )
    move_id = fields.Many2one(
        comodel_name="account.move",
        string="Invoice",
        check_company=True,
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), "
        "('payment_state', 'in', ('paid', 'in_payment', 'partial')), "
        "('commercial_partner_id', '=', commercial_partner_id)]",
    )
    payment_id = fields.Many2one(
        comodel_name="account.payment",
        check_company=True,
    )
    pos_order_id = fields.Many2one(
        comodel_name="pos.order",
        string="POS Order",
        check_company=True,
    )
    commercial_partner_id = fields.Many2one(related="partner_id.commercial_partner_id")
    currency_id = fields.Many2one(
        comodel_name="res.currency", compute="_compute_refundable"
    )
    amount_refundable = fields.Monetary(
        string="Left to Refund",
        compute="_compute_refundable",
        help="Paid or invoiced and not refunded yet, counting every earlier refund.",
    )
    tender_summary = fields.Html(
        string="Paid By",
        compute="_compute_tender_summary",
        help="How the client paid, and what each tender has left to give back.",
    )
    amount_card_refundable = fields.Monetary(
        string="Left on the Card",
        compute="_compute_refundable",
        help="Captured by Stripe and not refunded yet, the Stripe Dashboard's refunds included.",
    )
    refund_mode = fields.Selection(
        selection=[
            ("full", "Everything left"),
            ("amount", "Part of the amount"),
            ("lines", "Some items"),
        ],
        required=True,
        default="full",
    )
    failed_refund_id = fields.Many2one(
        comodel_name="client.refund",
        string="Instead Of",
        readonly=True,
        check_company=True,
        help="The failed card refund this refund pays back another way.",
    )
    void_payment = fields.Boolean(
        readonly=True,
        help="The payment is cancelled: no money had moved yet.",
    )
    mode_choices = fields.Json(compute="_compute_mode_choices")
    partial_by = fields.Selection(
        selection=[
            ("amount", "Amount refunded"),
            ("discount", "Discount %"),
            ("kept", "Amount that stays paid"),
        ],
        string="Partial Refund By",
        required=True,
        default="amount",
    )
    amount = fields.Monetary(string="Amount to Refund")
    discount_percent = fields.Float(string="Discount (%)", digits=(16, 2))
    amount_kept = fields.Monetary(string="Amount That Stays Paid")
    line_ids = fields.One2many(
        comodel_name="client.refund.wizard.line",
        inverse_name="wizard_id",
        string="Lines",
        compute="_compute_line_ids",
        store=True,
        readonly=False,
    )
    amount_to_refund = fields.Monetary(
        string="Refund Total", compute="_compute_amount_to_refund"
    )
    amount_paid_back = fields.Monetary(
        string="Money Paid Back",
        compute="_compute_money_line",
        help="The credit note first settles what the client still owes, and the "
        "refund policy's fee is kept; the rest is paid back.",
    )
    amount_ewallet = fields.Monetary(
        string="Of Which onto the eWallet",
        currency_field="currency_id",
        help="Split the money: this part goes onto the client's eWallet as store "
        "credit, the rest the way chosen above.",
    )
    points_note = fields.Char(
        string="Loyalty Points",
        compute="_compute_amount_to_refund",
        help="The loyalty points the order earned that cannot be taken back, said "
        "before confirming.",
    )
    payout_method = fields.Selection(
        selection_add=[
            ("card", "Back to the card"),
            ("credit",),
            ("ewallet", "To the client's eWallet"),
        ],
        ondelete={"card": "cascade", "ewallet": "cascade"},
    )

    @depends_on_document()
    def _compute_company_id(self):
        for wizard in self:
            source = wizard._get_source()
            wizard.company_id = source.company_id or wizard.company_id or self.env.company

    @api.depends("pos_order_id")
    def _compute_pos_config_id(self):
        for wizard in self:
            wizard.pos_config_id = wizard.pos_order_id.config_id

    @depends_on_document("source_type")
    def _compute_payout_method(self):
        """The way the client paid, when the document takes it."""
        for wizard in self:
            source = wizard._get_source()
            if not source:
                wizard.payout_method = "journal"
                continue
            method = source._client_refund_get_default_payout()[0]
            if wizard._get_refusal(wizard._prepare_trial_vals(method)):
                method = next(iter(wizard._get_payout_choices()), method)
            wizard.payout_method = method

    @depends_on_document("source_type")
    def _compute_mode_choices(self):
        """Lines to choose from, for a document refunded by lines."""
        for wizard in self:
            modes = ["full", "amount"]
            by_lines = wizard._get_source()._client_refund_by_lines
            wizard.mode_choices = [*modes, "lines"] if by_lines else modes

    @depends_on_document("source_type", "pos_config_id")
    def _compute_payout_choices(self):
        return super()._compute_payout_choices()

    @depends_on_document(
        "source_type", "refund_mode", "partial_by", "amount", "discount_percent", "amount_kept",
        "line_ids.quantity", "payout_method", "payout_journal_id", "pos_config_id",
        "amount_ewallet", "void_payment", "failed_refund_id", "reason_id", "waive_policy",
        "waiver_reason",
    )
    def _compute_money_line(self):
        return super()._compute_money_line()

    @depends_on_document()
    def _compute_partner_id(self):
        for wizard in self:
            source = wizard._get_source()
            if source:
                wizard.partner_id = source.partner_id.commercial_partner_id

    @depends_on_document("source_type")
    def _compute_refundable(self):
        for wizard in self:
            source = wizard._get_source()
            currency = source.currency_id or wizard.company_id.currency_id
            wizard.currency_id = currency
            wizard.amount_refundable = (
                source._client_refund_get_refundable_amount() if source else 0.0
            )
            wizard.amount_card_refundable = (
                source._client_refund_get_card_refundable_amount() if source else 0.0
            )

    @depends_on_document("source_type")
    def _compute_waiting_note(self):
        return super()._compute_waiting_note()

    @depends_on_document("source_type")
    def _compute_tender_summary(self):
        # apart from the amounts: only the form shows it, confirming needs none of it
        for wizard in self:
            source = wizard._get_source()
            currency = wizard.currency_id
            wizard.tender_summary = (
                Markup("<br/>").join(
                    Markup("%s: <b>%s</b>") % (label, currency.format(amount))
                    for label, amount in source._client_refund_get_tenders()
                )
                if source
                else False
            )

    @depends_on_document("source_type", "refund_mode")
    def _compute_line_ids(self):
        line_fields = get_document_fields(self.env["client.refund.wizard.line"])
        for wizard in self:
            source = wizard._get_source()
            if wizard.refund_mode != "lines" or not source._client_refund_by_lines:
                wizard.line_ids = [Command.clear()]
                continue
            wizard.line_ids = [Command.clear()] + [
                Command.create(
                    {
                        line_fields[line._name]: line.id,
                        "quantity_left": balance["quantity"],
                        "amount_left": balance["amount"],
                    }
                )
                for line, balance in source._client_refund_get_line_balances().items()
                if balance["quantity"] > 0
            ]

    @api.depends(
        "refund_mode",
        "partial_by",
        "amount",
        "discount_percent",
        "amount_kept",
        "amount_refundable",
        "line_ids.amount",
    )
    def _compute_amount_to_refund(self):
        for wizard in self:
            amount = wizard._get_amount_to_refund()
            wizard.amount_to_refund = amount
            wizard.points_note = wizard._get_points_note(amount)

    @api.onchange("amount")
    def _onchange_amount(self):
        if self.partial_by == "amount" and self.amount_refundable:
            self.discount_percent = self.amount / self.amount_refundable * 100
            self.amount_kept = self.amount_refundable - self.amount

    @api.onchange("discount_percent")
    def _onchange_discount_percent(self):
        if self.partial_by == "discount":
            self.amount = self._get_amount_to_refund()
            self.amount_kept = self.amount_refundable - self.amount

    @api.onchange("amount_kept")
    def _onchange_amount_kept(self):
        if self.partial_by == "kept":
            self.amount = self._get_amount_to_refund()
            self.discount_percent = (
                self.amount / self.amount_refundable * 100 if self.amount_refundable else 0.0
            )

    def action_confirm(self):
        self.ensure_one()
        refund_vals = self._prepare_refund_vals()
        source = self._get_source()
        if not source:
            raise UserError(_("Choose what to refund."))
        if (
            not self.void_payment
            and self.refund_mode == "lines"
            and not any(self.line_ids.mapped("quantity"))
        ):
            raise UserError(_("Choose the lines and quantities to refund."))
        return self._confirm_refund(refund_vals)

    def _update_from_trial(self, refund):
        self.amount_paid_back = refund._get_money_back() if refund and not self.void_payment else 0.0

    def _get_points_note(self, amount):
        source = self._get_source()
        if not source or self.currency_id.compare_amounts(amount, 0.0) <= 0:
            return False
        return source._client_refund_get_points_note(amount)

    def _get_source(self):
        """The document refunded, in the wizard's field to its kind of document;
        of several, the one of `source_type`; when none (or several) is found,
        an empty recordset of the first such field's model."""
        self.ensure_one()
        fnames = get_source_fields(self).values()
        named = [self[fname] for fname in fnames if self[fname]]
        if len(named) > 1:
            named = [doc for doc in named if doc._client_refund_get_source_type() == self.source_type]
        return named[0] if len(named) == 1 else self[next(iter(fnames))].browse()

    def _get_payout_choices(self):
        # a voided payment moves no money
        return [] if self.void_payment else super()._get_payout_choices()

    def _prepare_trial_vals(self, method):
        """A refund of all that is left, by `method`; the card is tried on what
        it has left, as the rest may be paid back another way."""
        vals = self._prepare_refund_vals()
        amount = self.amount_refundable
        if method == "card":
            amount = min(amount, self.amount_card_refundable)
        vals.update(
            scope="full" if method != "card" else "partial",
            amount=amount,
            line_ids=[],
            amount_ewallet=0.0,
            payout_method=method,
            payout_journal_id=self.payout_journal_id.id if method == "journal" else False,
        )
        return vals

    def _get_amount_to_refund(self):
        self.ensure_one()
        currency = self.currency_id
        if self.void_payment:
            return self.payment_id.amount
        if self.refund_mode == "full":
            return self.amount_refundable
        if self.refund_mode == "lines":
            return currency.round(sum(self.line_ids.mapped("amount")))
        if self.partial_by == "discount":
            return currency.round(self.amount_refundable * self.discount_percent / 100)
        if self.partial_by == "kept":
            return currency.round(self.amount_refundable - self.amount_kept)
        return currency.round(self.amount)

    def _prepare_refund_vals(self):
        self.ensure_one()
        scope = "void" if self.void_payment else (
            "full" if self.refund_mode == "full" else "partial"
        )
        source = self._get_source()
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": source._client_refund_get_currency().id,
            "source_type": source._client_refund_get_source_type(),
            "scope": scope,
            self.env["client.refund"]._get_source_fields()[source._name]: source.id,
            "pos_config_id": self.pos_config_id.id if source._client_refund_sold_at_till else False,
            "amount": self._get_amount_to_refund(),
            "line_ids": [
                Command.create(line._prepare_refund_line_vals())
                for line in self.line_ids
                if self.refund_mode == "lines" and line.quantity
            ],
            "replaced_refund_id": self.failed_refund_id.id,
            "amount_ewallet": self.amount_ewallet
            if self.payout_method in ("journal", "card", "pos") and scope != "void"
            else 0.0,
            "payout_method": self.payout_method if scope != "void" else "none",
            "payout_journal_id": self.payout_journal_id.id
            if self.payout_method == "journal" and scope != "void"
            else False,
            "reason_id": self.reason_id.id,
            "note": self.note,
            "send_receipt": self.send_receipt,
            **self._prepare_policy_vals(),
        }


class ClientRefundWizardLine(models.TransientModel):
    _name = "client.refund.wizard.line"
    _inherit = ["client.refund.numbers.mixin"]
    _description = "Refund a Client: Line"

    wizard_id = fields.Many2one(
        comodel_name="client.refund.wizard", required=True, ondelete="cascade"
    )
    currency_id = fields.Many2one(related="wizard_id.currency_id")
    move_line_id = fields.Many2one(comodel_name="account.move.line", string="Invoice Line")
    pos_order_line_id = fields.Many2one(comodel_name="pos.order.line", string="POS Order Line")
    product_id = fields.Many2one(comodel_name="product.product", compute="_compute_from_line")
    name = fields.Char(compute="_compute_from_line")
    quantity_invoiced = fields.Float(
        string="Sold", digits="Product Unit of Measure", compute="_compute_from_line"
    )
    quantity_left = fields.Float(
        string="Left to Refund", digits="Product Unit of Measure", readonly=True
    )
    amount_left = fields.Monetary(currency_field="currency_id", readonly=True)
    final_sale = fields.Boolean(
        compute="_compute_final_sale",
        help="The product's refund policy makes it a final sale: it is refunded only "
        "with a manager's waiver.",
    )
    quantity = fields.Float(string="To Refund", digits="Product Unit of Measure")
    amount = fields.Monetary(
        currency_field="currency_id",
        compute="_compute_amount",
        help="Estimate, tax included; the credit note computes the taxes.",
    )

    @api.depends("move_line_id", "pos_order_line_id")
    def _compute_from_line(self):
        for line in self:
            if line.pos_order_line_id:
                sold = line.pos_order_line_id
                line.product_id = sold.product_id
                line.name = sold.full_product_name or sold.product_id.display_name
                line.quantity_invoiced = sold.qty
            else:
                line.product_id = line.move_line_id.product_id
                line.name = line.move_line_id.name
                line.quantity_invoiced = line.move_line_id.quantity

    @api.depends("product_id", "wizard_id.company_id")
    def _compute_final_sale(self):
        Policy = self.env["client.refund.policy"]
        for company, lines in self.grouped(lambda line: line.wizard_id.company_id).items():
            policies = Policy._get_policies(lines.product_id, company)
            for line in lines:
                line.final_sale = bool(policies.get(line.product_id, Policy).final_sale)

    @api.depends("quantity", "quantity_left", "amount_left")
    def _compute_amount(self):
        for line in self:
            line.amount = (
                line.quantity * line.amount_left / line.quantity_left
                if line.quantity_left
                else 0.0
            )

    def _prepare_refund_line_vals(self):
        """The line and quantity asked: what they credit is computed from the
        document refunded, not from the wizard's estimate."""
        self.ensure_one()
        return {
            "move_line_id": self.move_line_id.id,
            "pos_order_line_id": self.pos_order_line_id.id,
            "product_id": self.product_id.id,
            "name": self.name,
            "quantity": self.quantity,
        }
