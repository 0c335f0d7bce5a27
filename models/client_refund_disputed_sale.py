from odoo import fields, models


class ClientRefundDisputedSale(models.AbstractModel):
    """What the register says of a sale the client charged back through their
    bank (client.refund): a card dispute they won."""

    _name = "client.refund.disputed.sale"
    _description = "Refund of a Sale Charged Back"

    sale_charged_back = fields.Char(
        compute="_compute_sale_charged_back",
        help="The client took the money of the sale this refund gives back through "
        "their bank (a card dispute they won).",
    )

    def _compute_sale_charged_back(self):
        for refund in self:
            sales = [refund._get_source(raise_if_none=False), *refund.sale_move_ids, *refund.sale_pos_order_ids]
            refund.sale_charged_back = "; ".join(
                dict.fromkeys(
                    sale.client_refund_charged_back
                    for sale in sales
                    if sale is not None and "client_refund_charged_back" in sale._fields
                    and sale.client_refund_charged_back
                )
            ) or False
