from odoo import _, models
from odoo.exceptions import UserError

# What a history line proves: which card got or gave points, how many, for which order
EVIDENCE_FIELDS = ("card_id", "issued", "used", "order_model", "order_id")


class LoyaltyHistory(models.Model):
    _inherit = "loyalty.history"

    def write(self, vals):
        """A card's history is its ledger: core writes its lines once (Point of
        Sale users may write them through their access rights), and refunds
        read from it what a card earned, was sold and has spent."""
        if not self.env.su and any(fname in vals for fname in EVIDENCE_FIELDS):
            raise UserError(
                _("A card's history is written once: add a line (Update Balance) instead.")
            )
        return super().write(vals)
