from odoo import _, fields, models
from odoo.exceptions import UserError

# Computed from the matches, never written: what is left open decides what a
# payment or a credit note still has to refund
RECONCILIATION_FIELDS = ("amount_residual", "amount_residual_currency", "reconciled")
# What a posted entry booked: on a refund's entries it is what the register says
BOOKED_FIELDS = (
    "account_id", "partner_id", "balance", "debit", "credit", "amount_currency", "currency_id",
    "tax_ids", "product_id", "quantity", "price_unit",
)


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

    def write(self, vals):
        if not self.env.su:
            if any(fname in vals for fname in RECONCILIATION_FIELDS):
                raise UserError(_("What is left open of a journal item follows its matches only."))
            if "origin_line_id" in vals and any(line.parent_state == "posted" for line in self):
                raise UserError(
                    _("A posted credit note line refunds the invoice line it was made for.")
                )
            posted = self.filtered(lambda line: line.parent_state == "posted")
            if posted and any(fname in vals for fname in BOOKED_FIELDS):
                # the fee income, the payout and the credit note stay as the refund booked them
                self.env["account.move"]._client_refund_check_bookings_kept(
                    _("changed"), moves=posted.move_id, refunded=False
                )
        return super().write(vals)
