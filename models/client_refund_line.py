from odoo import fields, models


class ClientRefundLine(models.Model):
    _name = "client.refund.line"
    _description = "Client Refund Line"
    _order = "refund_id, id"

    refund_id = fields.Many2one(
        comodel_name="client.refund", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="refund_id.company_id", store=True)
    currency_id = fields.Many2one(related="refund_id.currency_id")
    move_line_id = fields.Many2one(
        comodel_name="account.move.line",
        string="Invoice Line",
        index="btree_not_null",
        help="Invoice line refunded.",
    )
    pos_order_line_id = fields.Many2one(
        comodel_name="pos.order.line",
        string="POS Order Line",
        index="btree_not_null",
        help="Point of Sale order line refunded.",
    )
    product_id = fields.Many2one(comodel_name="product.product")
    name = fields.Char(string="Description")
    quantity = fields.Float(digits="Product Unit of Measure", required=True)
    amount = fields.Monetary(
        string="Amount Refunded",
        currency_field="currency_id",
        help="Tax included, as on the credit note.",
    )

    def _get_sold_line(self):
        """The invoice or order line refunded."""
        self.ensure_one()
        return self.move_line_id or self.pos_order_line_id
