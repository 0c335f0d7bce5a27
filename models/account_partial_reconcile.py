from odoo import api, models
from odoo.exceptions import UserError

# What a match says: how much of which lines it settles (core's reconciliation
# writes its exchange entry and full reconcile after creating it, never these)
MATCH_FIELDS = (
    "amount", "debit_amount_currency", "credit_amount_currency", "debit_move_id", "credit_move_id",
)


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            (vals.get(fname) or 0.0) < 0
            for vals in vals_list
            for fname in ("amount", "debit_amount_currency", "credit_amount_currency")
        ):
            self._client_refund_raise_match_written()
        return super().create(vals_list)

    def write(self, vals):
        # core makes matches by reconciling and undoes them by unmatching; a
        # match rewritten would reopen what it settled, to be refunded again
        if not self.env.su and any(fname in vals for fname in MATCH_FIELDS):
            self._client_refund_raise_match_written()
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_client_refund_booking(self):
        """A match a refund's entry takes part in (its credit note with the
        invoice, its payout with the client's payment) is undone by the refund
        only: otherwise what it settled reopens and is refunded again."""
        self.env["account.move"]._client_refund_check_bookings_kept(
            self.env._("unmatched"), moves=self.debit_move_id.move_id | self.credit_move_id.move_id
        )

    def _client_refund_raise_match_written(self):
        raise UserError(self.env._("Matches are made by reconciling and undone by unmatching."))
