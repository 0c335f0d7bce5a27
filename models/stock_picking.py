from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _client_refund_return_products(self, quantities):
        """Receive back `quantities` ({product: quantity in its unit}) through
        returns of these deliveries, validated at once: the client hands them
        back at the desk. Returns the returns made."""
        returns = self.browse()
        left = dict(quantities)
        # sudo: taking back what the client returns is part of the refund the
        # user may make; front-desk staff need no Inventory rights for it
        for delivery in self.sudo():
            wizard = (
                self.env["stock.return.picking"]
                .sudo()
                .with_context(active_id=delivery.id, active_model="stock.picking")
                .create({"picking_id": delivery.id})
            )
            to_return = False
            for line in wizard.product_return_moves:
                returned = line.move_id.returned_move_ids.filtered(
                    lambda m: m.state != "cancel"
                )
                returnable = line.move_id.quantity - sum(returned.mapped("quantity"))
                quantity = min(left.get(line.product_id, 0.0), returnable)
                line.quantity = quantity
                if quantity > 0:
                    left[line.product_id] -= quantity
                    to_return = True
            if not to_return:
                continue
            picking = wizard._create_return()
            for move in picking.move_ids:
                move.quantity = move.product_uom_qty
            picking.move_ids.picked = True
            picking.button_validate()
            returns |= picking
        return returns.with_env(self.env)
