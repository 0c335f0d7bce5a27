from odoo import _, api, models
from odoo.exceptions import UserError

from .client_refund_source import get_refund_own_path

# What a history line proves: which card got or gave points, how many, for which order
EVIDENCE_FIELDS = ("card_id", "issued", "used", "order_model", "order_id")
# The documents whose history lines the refunds read as what a card earned or was sold
COUNTED_ORDER_MODELS = ("pos.order", "client.refund")


class LoyaltyHistory(models.Model):
    """A card's history is its ledger: refunds read from it what a card earned,
    was sold and spent. Point of Sale users may create and write its lines
    through their access rights; core writes a line once, positive, and the
    till names an order only through its own call (see pos.order)."""

    _inherit = "loyalty.history"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                if (vals.get("issued") or 0.0) < 0 or (vals.get("used") or 0.0) < 0:
                    raise UserError(_("Points are issued or used, never less than none."))
                if vals.get("order_model") in COUNTED_ORDER_MODELS and not get_refund_own_path(self.env):
                    raise UserError(
                        _("A card's history names an order when the till records what it earned.")
                    )
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and any(fname in vals for fname in EVIDENCE_FIELDS):
            raise UserError(
                _("A card's history is written once: add a line (Update Balance) instead.")
            )
        return super().write(vals)
