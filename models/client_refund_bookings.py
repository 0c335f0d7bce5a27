from odoo import _, fields, models
from odoo.exceptions import UserError


class ClientRefundBookings(models.AbstractModel):
    """What a refund booked (client.refund): its credit notes, payouts, till
    orders and returns, the eWallet and breakage entries, the loyalty points it
    could not take back; how they are shown, and how a manager's Cancel undoes
    them (see account.move._client_refund_undo)."""

    _name = "client.refund.bookings"
    _description = "What a Refund Booked"

    credit_note_ids = fields.Many2many(
        comodel_name="account.move",
        relation="client_refund_account_move_rel",
        column1="client_refund_id",
        column2="account_move_id",
        string="Credit Notes",
        readonly=True,
        copy=False,
    )
    payment_ids = fields.Many2many(
        comodel_name="account.payment",
        relation="client_refund_account_payment_rel",
        column1="client_refund_id",
        column2="account_payment_id",
        string="Payments",
        readonly=True,
        copy=False,
    )
    pos_order_ids = fields.Many2many(
        comodel_name="pos.order",
        relation="client_refund_pos_order_rel",
        column1="client_refund_id",
        column2="pos_order_id",
        string="POS Refund Orders",
        readonly=True,
        copy=False,
    )
    picking_ids = fields.Many2many(
        comodel_name="stock.picking",
        relation="client_refund_stock_picking_rel",
        column1="client_refund_id",
        column2="stock_picking_id",
        string="Returns",
        readonly=True,
        copy=False,
    )
    fee_move_ids = fields.Many2many(
        comodel_name="account.move",
        relation="client_refund_fee_move_rel",
        column1="client_refund_id",
        column2="account_move_id",
        string="Fee Invoices",
        readonly=True,
        copy=False,
        help="The invoices of the fees kept under the refund policy, settled from what "
        "the client paid.",
    )
    points_shortfall = fields.Float(
        string="Loyalty Points Not Returned",
        readonly=True,
        copy=False,
        digits=(16, 2),
        help="Points the refunded order earned that the client had spent and could "
        "not give back.",
    )
    ewallet_card_id = fields.Many2one(
        comodel_name="loyalty.card",
        string="eWallet",
        readonly=True,
        copy=False,
        help="The client's eWallet the refund was paid back onto, as store credit.",
    )
    ewallet_move_id = fields.Many2one(
        comodel_name="account.move",
        string="eWallet Entry",
        readonly=True,
        copy=False,
        help="The entry that moved what the refund owes the client onto the eWallet's "
        "liability.",
    )
    breakage_move_id = fields.Many2one(
        comodel_name="account.move",
        string="Breakage Entry",
        readonly=True,
        copy=False,
        help="The entry that released to income what was left of a balance sold on a "
        "liability account and closed by the refund.",
    )

    def action_view_credit_notes(self):
        return self.credit_note_ids._get_records_action(name=self.credit_note_ids._description)

    def action_view_fee_invoices(self):
        return self.fee_move_ids._get_records_action(name=self.fee_move_ids._description)

    def action_view_payments(self):
        return self.payment_ids._get_records_action(name=self.payment_ids._description)

    def action_view_pos_orders(self):
        return self.pos_order_ids._get_records_action(name=self.pos_order_ids._description)

    def _get_booked_moves(self):
        """The entries the refunds booked: credit notes, fee invoices, payouts,
        eWallet and breakage entries (Point of Sale refund orders are booked by
        their session)."""
        return (
            self.credit_note_ids
            | self.fee_move_ids
            | self.payment_ids.move_id
            | self.ewallet_move_id
            | self.breakage_move_id
        )

    def _undo_bookings(self):
        """Undo what the refund booked (see account.move._client_refund_undo);
        a till's refund order is not undone."""
        self.ensure_one()
        if self.pos_order_ids.filtered(lambda order: order.state != "cancel"):
            raise UserError(
                _(
                    "Refund %(refund)s paid %(orders)s out at the till: a paid Point of "
                    "Sale order cannot be undone. Sell again at the till instead.",
                    refund=self.name,
                    orders=", ".join(self.pos_order_ids.mapped("name")),
                )
            )
        booked = self.env["account.move"]._client_refund_undo(self)
        if booked:
            self._message_log(body=_("Undone: %s cancelled.", ", ".join(booked)))

    def _get_points_description(self):
        """What a card's history says of the points this refund changed."""
        self.ensure_one()
        return _(
            "%(refund)s by %(user)s: %(reason)s",
            refund=self.name,
            user=self.user_id.name,
            reason=self.reason_id.name,
        )

