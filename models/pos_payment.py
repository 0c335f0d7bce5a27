from odoo import api, models

from .pos_order import PAID_PAYMENT_FIELDS


class PosPayment(models.Model):
    _inherit = "pos.payment"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            self.env["pos.order"].browse(
                [vals["pos_order_id"] for vals in vals_list if vals.get("pos_order_id")]
            )._client_refund_check_not_paid()
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and any(fname in vals for fname in PAID_PAYMENT_FIELDS):
            self.pos_order_id._client_refund_check_not_paid()
            if vals.get("pos_order_id"):
                self.pos_order_id.browse(vals["pos_order_id"])._client_refund_check_not_paid()
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_client_refund_paid_order(self):
        if not self.env.su:
            self.pos_order_id._client_refund_check_not_paid()
