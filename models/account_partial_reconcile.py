from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.ondelete(at_uninstall=False)
    def _unlink_except_client_refund_booking(self):
        """A match a refund's entry takes part in (its credit note with the
        invoice, its payout with the client's payment) is undone by the refund
        only: otherwise what it settled reopens and is refunded again."""
        self.env["client.refund"]._check_bookings_kept(
            self.env._("unmatched"), moves=self.debit_move_id.move_id | self.credit_move_id.move_id
        )
