from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

SOURCE_FIELDS = (
    "source_move_id",
    "source_payment_id",
    "source_pos_order_id",
    "source_card_id",
    "source_membership_line_id",
)


class ClientRefund(models.Model):
    _name = "client.refund"
    _description = "Client Refund"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True
    _rec_names_search = ["name", "partner_id", "source_reference"]

    name = fields.Char(
        string="Number", required=True, readonly=True, copy=False, default="/"
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        required=True,
        index=True,
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
        index=True,
        tracking=True,
    )
    scope = fields.Selection(
        selection=[
            ("full", "Full"),
            ("partial", "Partial"),
            ("void", "Void"),
        ],
        required=True,
        default="full",
        tracking=True,
    )
    source_move_id = fields.Many2one(
        comodel_name="account.move", string="Source Invoice", index="btree_not_null"
    )
    source_payment_id = fields.Many2one(
        comodel_name="account.payment", string="Source Payment", index="btree_not_null"
    )
    source_pos_order_id = fields.Many2one(
        comodel_name="pos.order", string="Source POS Order", index="btree_not_null"
    )
    source_card_id = fields.Many2one(
        comodel_name="loyalty.card",
        string="Source Card",
        index="btree_not_null",
        help="Gift card, eWallet or visit pack refunded.",
    )
    source_membership_line_id = fields.Many2one(
        comodel_name="membership.membership_line",
        string="Source Membership",
        index="btree_not_null",
    )
    source_reference = fields.Char(
        compute="_compute_source_reference",
        store=True,
        help="Name of the document refunded.",
    )
    amount = fields.Monetary(currency_field="currency_id", tracking=True)
    amount_company_currency = fields.Monetary(
        string="Amount in Company Currency",
        currency_field="company_currency_id",
        compute="_compute_amount_company_currency",
        store=True,
    )
    payout_method = fields.Selection(
        selection=[
            ("journal", "Cash / Bank"),
            ("card", "Card (Stripe)"),
            ("pos", "Point of Sale"),
            ("credit", "Client Credit"),
            ("none", "No Money Moved"),
        ],
        string="Paid Back By",
        tracking=True,
        help="Client Credit: the credit note stays open on the client's account. "
        "No Money Moved: a payment was voided before any money was paid.",
    )
    payout_journal_id = fields.Many2one(
        comodel_name="account.journal",
        string="Payout Journal",
        check_company=True,
        domain="[('type', 'in', ('cash', 'bank'))]",
    )
    reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        string="Reason",
        required=True,
        index=True,
        tracking=True,
        check_company=True,
    )
    note = fields.Text()
    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("to_approve", "To Approve"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("cancel", "Cancelled"),
        ],
        required=True,
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
    )
    user_id = fields.Many2one(
        comodel_name="res.users",
        string="Requested By",
        required=True,
        default=lambda self: self.env.user,
        index=True,
        tracking=True,
    )
    approver_id = fields.Many2one(
        comodel_name="res.users", string="Approved By", readonly=True, copy=False
    )
    date_approved = fields.Datetime(string="Approved On", readonly=True, copy=False)
    date_done = fields.Datetime(string="Done On", readonly=True, copy=False)
    credit_note_ids = fields.Many2many(
        comodel_name="account.move",
        relation="client_refund_account_move_rel",
        string="Credit Notes",
        copy=False,
    )
    payment_ids = fields.Many2many(
        comodel_name="account.payment",
        relation="client_refund_account_payment_rel",
        string="Payments",
        copy=False,
    )
    pos_order_ids = fields.Many2many(
        comodel_name="pos.order",
        relation="client_refund_pos_order_rel",
        string="POS Refund Orders",
        copy=False,
    )
    payment_transaction_id = fields.Many2one(
        comodel_name="payment.transaction",
        string="Stripe Refund",
        copy=False,
        index="btree_not_null",
    )

    @api.depends(*(f"{fname}.display_name" for fname in SOURCE_FIELDS))
    def _compute_source_reference(self):
        for refund in self:
            source = refund._get_source()
            refund.source_reference = source.display_name if source else False

    @api.depends("amount", "currency_id", "company_id", "date")
    def _compute_amount_company_currency(self):
        for refund in self:
            refund.amount_company_currency = refund.currency_id._convert(
                refund.amount,
                refund.company_currency_id,
                refund.company_id,
                refund.date or fields.Date.context_today(refund),
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                company = self.env["res.company"].browse(
                    vals.get("company_id", self.env.company.id)
                )
                # the numbering is read-only for refund users, the register still
                # needs the next number
                vals["name"] = (
                    self.env["ir.sequence"]
                    .sudo()
                    .with_company(company)
                    .next_by_code("client.refund")
                    or "/"
                )
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(refund.state != "draft" for refund in self):
            raise UserError(
                _(
                    "Only draft refunds can be deleted. Cancel the refund instead: "
                    "it stays in the register as cancelled."
                )
            )

    def action_cancel(self):
        is_manager = self.env.user.has_group("client_refund.group_client_refund_manager")
        for refund in self:
            if refund.state == "cancel":
                continue
            if refund.state in ("done", "failed") and not is_manager:
                raise AccessError(
                    _("Only a refund manager can cancel refund %s.", refund.name)
                )
            if refund.state == "done" and refund._has_live_effects():
                raise UserError(
                    _(
                        "Refund %s has paid money back or posted credit notes. "
                        "Reverse its credit notes and cancel its payments first.",
                        refund.name,
                    )
                )
        self.filtered(lambda r: r.state != "cancel").write({"state": "cancel"})
        return True

    def action_view_credit_notes(self):
        return self._action_view_records(self.credit_note_ids)

    def action_view_payments(self):
        return self._action_view_records(self.payment_ids)

    def action_view_pos_orders(self):
        return self._action_view_records(self.pos_order_ids)

    def action_view_source(self):
        return self._action_view_records(self._get_source())

    def _action_view_records(self, records):
        self.ensure_one()
        action = {
            "type": "ir.actions.act_window",
            "res_model": records._name,
            "name": records._description,
        }
        if len(records) == 1:
            action.update(view_mode="form", res_id=records.id)
        else:
            action.update(view_mode="list,form", domain=[("id", "in", records.ids)])
        return action

    def _get_source(self):
        self.ensure_one()
        for fname in SOURCE_FIELDS:
            if self[fname]:
                return self[fname]
        return None

    def _has_live_effects(self):
        self.ensure_one()
        live_moves = self.credit_note_ids.filtered(
            lambda m: m.state == "posted" and m.payment_state != "reversed"
        )
        live_payments = self.payment_ids.filtered(lambda p: p.state != "canceled")
        live_orders = self.pos_order_ids.filtered(lambda o: o.state != "cancel")
        return bool(live_moves or live_payments or live_orders)
