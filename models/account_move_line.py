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
