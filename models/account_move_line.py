from odoo import fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    # Named as in OCA's account_invoice_refund_link, so that both agree
    origin_line_id = fields.Many2one(
        comodel_name="account.move.line",
        string="Refunded Invoice Line",
        copy=False,
        index="btree_not_null",
        help="Invoice line that this credit note line refunds.",
    )
    refund_line_ids = fields.One2many(
        comodel_name="account.move.line",
        inverse_name="origin_line_id",
        string="Credit Note Lines",
    )

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        if self.env.context.get("client_refund_link_origin"):
            for line, values in zip(self, vals_list):
                if line.display_type == "product":
                    values.setdefault("origin_line_id", line.id)
        return vals_list
