from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError


class ClientRefundBalanceWizard(models.TransientModel):
    """Collects what to refund of a gift card, eWallet, visit pack or membership
    and how; the card or membership line does the refund (see
    client.refund.balance.source)."""

    _name = "client.refund.balance.wizard"
    _inherit = "client.refund.wizard.mixin"
    _description = "Refund a Card or Membership"

    card_id = fields.Many2one(
        comodel_name="loyalty.card",
        check_company=True,
        help="Gift card, eWallet or visit pack refunded.",
    )
    membership_line_id = fields.Many2one(
        comodel_name="membership.membership_line",
        string="Membership",
        check_company=True,
    )
    source_type = fields.Selection(
        selection=[
            ("gift_card", "Gift Card"),
            ("ewallet", "eWallet Deposit"),
            ("visit_pack", "Visit Pack"),
            ("membership", "Membership"),
        ],
        string="Refund",
        compute="_compute_source",
    )
    currency_id = fields.Many2one(comodel_name="res.currency", compute="_compute_source")
    balance = fields.Char(related="card_id.client_refund_balance_display", string="Balance")
    amount_refundable = fields.Monetary(
        string="Left to Refund",
        compute="_compute_source",
        help="The balance of a gift card or eWallet, up to what its sale paid and was "
        "not paid back yet; what was paid for a visit pack or a membership and not "
        "refunded yet. A card with no known sale (given for free, or whose invoice "
        "cannot be told apart from another card's) has nothing to refund.",
    )
    amount_suggested = fields.Monetary(
        string="Unused Part Worth",
        compute="_compute_source",
        help="What the visits or days not used are worth: price paid × visits left / "
        "visits bought, or price × days left after today / days.",
    )
    sale_description = fields.Char(string="Sold By", compute="_compute_source")
    sale_date = fields.Date(string="Sold On", compute="_compute_source")
    cancel_blocker = fields.Char(
        compute="_compute_source", help="Why the sale cannot be cancelled."
    )
    refund_option = fields.Selection(
        selection=[
            ("cancel_sale", "Cancel the sale"),
            ("credit_note", "Refund part of the sale"),
            ("expense", "Pay out of cash or bank"),
        ],
        string="How",
        required=True,
        compute="_compute_refund_option",
        store=True,
        precompute=True,
        readonly=False,
        help="Cancel the sale: the line that sold it is refunded in full. Refund part of "
        "the sale: that amount is credited against it (visit packs and "
        "memberships). Pay out of cash or bank: the amount is paid out, booked on "
        "the Refund expense account (or on the account the balance was sold on).",
    )
    option_choices = fields.Json(
        compute="_compute_option_choices",
        help="The ways of refunding that this card or membership takes.",
    )
    amount = fields.Monetary(
        string="Amount to Refund",
        compute="_compute_amount",
        store=True,
        precompute=True,
        readonly=False,
    )
    amount_typed = fields.Monetary(
        currency_field="currency_id",
        help="The amount staff typed: it survives switching between the partial options.",
    )
    amount_is_typed = fields.Boolean()
    sale_warning = fields.Char(compute="_compute_sale_warning")
    amount_ewallet = fields.Monetary(
        string="Of Which onto the eWallet",
        currency_field="currency_id",
        help="Split the money: this part goes onto the client's eWallet as store "
        "credit, the rest the way chosen above.",
    )
    payout_method = fields.Selection(
        selection_add=[("ewallet", "To the client's eWallet")],
        ondelete={"ewallet": "cascade"},
    )
    @api.depends("card_id", "membership_line_id")
    def _compute_company_id(self):
        for wizard in self:
            source = wizard._get_source()
            wizard.company_id = source.company_id or wizard.company_id or self.env.company

    @api.depends("card_id", "membership_line_id")
    def _compute_partner_id(self):
        for wizard in self:
            source = wizard._get_source()
            wizard.partner_id = source._client_refund_get_client() if source else False

    # the reason decides the policy's fee, which may keep a deposit's sale from
    # being cancelled (see _get_cancel_blocker)
    @api.depends(
        "card_id", "membership_line_id", "company_id", "pos_config_id", "reason_id", "waive_policy"
    )
    def _compute_source(self):
        for wizard in self:
            source = wizard._get_source()
            if not source:
                wizard.update(
                    {
                        "source_type": False,
                        "currency_id": wizard.company_id.currency_id,
                        "amount_refundable": 0.0,
                        "amount_suggested": 0.0,
                        "sale_description": False,
                        "sale_date": False,
                        "cancel_blocker": False,
                    }
                )
                continue
            sale = wizard._get_sale()
            wizard.update(
                {
                    "source_type": source._client_refund_get_source_type(),
                    "currency_id": source._client_refund_get_currency(),
                    "amount_refundable": source._client_refund_get_refundable_amount(),
                    "amount_suggested": source._client_refund_get_suggested_amount(),
                    "sale_description": sale
                    and _(
                        "%(document)s: %(quantity)s × %(line)s",
                        document=sale["document"],
                        quantity=sale["quantity"],
                        line=sale["name"],
                    ),
                    "sale_date": sale and sale["date"],
                    "cancel_blocker": wizard._get_cancel_blocker(),
                }
            )

    @api.depends("card_id", "membership_line_id")
    def _compute_waiting_note(self):
        return super()._compute_waiting_note()

    @api.depends("card_id", "membership_line_id")
    def _compute_refund_option(self):
        """Cancelling the sale when the client has not begun to use what it sold
        and it gives back all that is left (an eWallet topped up several times
        is cashed out, not its last top-up cancelled); else part of it."""
        for wizard in self:
            source = wizard._get_source()
            partial_option = wizard._get_partial_option()
            sale = source and wizard._get_sale()
            gives_all_back = sale and wizard.currency_id.compare_amounts(
                sale["amount"], wizard.amount_refundable
            ) >= 0
            wizard.refund_option = (
                "cancel_sale"
                if gives_all_back
                and not source._client_refund_has_started()
                and not wizard.cancel_blocker
                else partial_option
            )

    def _get_partial_option(self):
        """How part of the source is refunded: a credit note against the sale of
        a visit pack or a membership, a payout otherwise."""
        self.ensure_one()
        return "credit_note" if self.source_type in ("membership", "visit_pack") else "expense"

    @api.onchange("reason_id", "waive_policy")
    def _onchange_reason_cancel_blocked(self):
        """A reason whose policy keeps part of a deposit on the wallet blocks
        cancelling its top-up: the partial option is proposed instead."""
        if self.refund_option == "cancel_sale" and self.cancel_blocker:
            self.refund_option = self._get_partial_option()

    @api.depends("card_id", "membership_line_id", "cancel_blocker")
    def _compute_option_choices(self):
        """Cancelling the sale when nothing stops it; a credit note for part of
        what a visit pack or membership sold; a refund expense always."""
        for wizard in self:
            choices = [] if wizard.cancel_blocker or not wizard._get_sale() else ["cancel_sale"]
            if wizard.source_type in ("membership", "visit_pack"):
                choices.append("credit_note")
            wizard.option_choices = [*choices, "expense"]

    @api.depends("refund_option", "card_id", "membership_line_id")
    def _compute_amount(self):
        for wizard in self:
            sale = wizard._get_sale()
            if wizard.refund_option == "cancel_sale":
                wizard.amount = sale["amount"] if sale else 0.0
            elif wizard.amount_is_typed:
                wizard.amount = wizard.amount_typed
            else:
                wizard.amount = wizard.amount_suggested

    @api.depends(
        "card_id", "membership_line_id", "refund_option", "amount", "payout_method",
        "payout_journal_id", "pos_config_id", "amount_ewallet", "reason_id", "waive_policy",
        "waiver_reason",
    )
    def _compute_money_line(self):
        return super()._compute_money_line()

    @api.depends("card_id", "membership_line_id", "refund_option", "pos_config_id")
    def _compute_payout_choices(self):
        return super()._compute_payout_choices()

    @api.onchange("amount")
    def _onchange_amount(self):
        if self.refund_option != "cancel_sale":
            self.amount_typed = self.amount
            self.amount_is_typed = True

    @api.depends("refund_option", "amount", "card_id", "membership_line_id")
    def _compute_sale_warning(self):
        today = fields.Date.context_today(self)
        for wizard in self:
            sold_on = wizard.sale_date
            wizard.sale_warning = (
                wizard.refund_option == "cancel_sale"
                and sold_on
                and sold_on != today
                and _(
                    "Sold on %(date)s: cancelling the sale today leaves the till of "
                    "%(date)s over by %(amount)s and today's short by as much. A "
                    "refund expense keeps both tills right.",
                    date=sold_on,
                    amount=wizard.currency_id.format(wizard.amount),
                )
            )

    @api.depends("card_id", "membership_line_id")
    def _compute_payout_method(self):
        """A sale made at the Point of Sale is reversed through a till."""
        for wizard in self:
            wizard.payout_method = "pos" if wizard._get_sale_order() else "journal"

    @api.depends("card_id", "membership_line_id")
    def _compute_pos_config_id(self):
        for wizard in self:
            wizard.pos_config_id = wizard._get_sale_order().config_id.with_env(self.env)

    def _get_source(self):
        self.ensure_one()
        return self.card_id or self.membership_line_id

    def _get_payout_choices(self):
        # paid out as a refund expense: from the journal chosen, no other way
        return [] if self.refund_option == "expense" else super()._get_payout_choices()

    def _prepare_trial_vals(self, method):
        vals = self._prepare_refund_vals()
        vals.update(payout_method=method, amount_ewallet=0.0,
                    payout_journal_id=self.payout_journal_id.id if method == "journal" else False,
                    pos_config_id=self.pos_config_id.id if method == "pos" else False)
        return vals

    def _get_sale(self):
        """The sale a refund of the source reverses: its newest sale left to refund."""
        source = self._get_source()
        sales = source._client_refund_get_sales() if source else []
        return sales[0] if sales else None

    def _get_sale_order(self):
        """The Point of Sale order of the sale, if it was made at the till; read
        for staff who may have no Point of Sale rights (the sale's lines are read
        in sudo)."""
        sale = self._get_sale()
        if sale and sale["sold_on"]._client_refund_sold_at_till:
            return sale["sold_on"]
        return self.env["pos.order"]

    def _get_cancel_blocker(self):
        """Why the source's sale cannot be cancelled, said by the source's own
        checks, or False."""
        refund = self.env["client.refund"].new(self._prepare_refund_vals("cancel_sale"))
        try:
            # the fee the policy keeps, as the register derives it
            refund.update(refund._prepare_policy_values())
            self._get_source()._client_refund_check_request(refund)
        except UserError as error:
            return error.args[0]
        return False

    def action_confirm(self):
        self.ensure_one()
        source = self._get_source()
        if not source:
            raise UserError(_("Choose the card or membership to refund."))
        return self._confirm_refund(self._prepare_refund_vals())

    def _prepare_refund_vals(self, option=None):
        self.ensure_one()
        option = option or self.refund_option
        source = self._get_source()
        sale = self._get_sale() if option == "cancel_sale" else None
        refundable = source._client_refund_get_refundable_amount()
        currency = source._client_refund_get_currency()
        expense = option == "expense"
        full = option == "cancel_sale" or (
            expense
            and self.card_id
            and self.card_id._client_refund_get_source_type() in ("gift_card", "ewallet")
            and not currency.compare_amounts(self.amount, refundable)
        )
        payout_method = "refund_account" if expense else self.payout_method
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": currency.id,
            "source_type": source._client_refund_get_source_type(),
            "scope": "full" if full else "partial",
            "source_card_id": self.card_id.id,
            "source_membership_line_id": self.membership_line_id.id,
            "amount": (sale["amount"] if sale else 0.0) if option == "cancel_sale" else self.amount,
            "line_ids": [Command.create(source._client_refund_prepare_sale_line_vals(sale))]
            if sale
            else [],
            "payout_method": payout_method,
            "payout_journal_id": self.payout_journal_id.id
            if payout_method in ("journal", "refund_account")
            else False,
            "pos_config_id": self.pos_config_id.id if payout_method == "pos" else False,
            "amount_ewallet": self.amount_ewallet if payout_method in ("journal", "pos") else 0.0,
            "reason_id": self.reason_id.id,
            "note": self.note,
            "send_receipt": self.send_receipt,
            **self._prepare_policy_vals(),
        }
