from odoo import _, models
from odoo.tools import float_round


class ClientRefundPosPoints(models.AbstractModel):
    """The loyalty points a refunded Point of Sale order earned: taken back in
    proportion to what its refunds give back, never twice, a shortfall said on
    the refund and the card, and its value kept from the money when the
    company deducts it (pos.order)."""

    _name = "client.refund.pos.points"
    _description = "Loyalty Points of a Refunded Order"

    def _client_refund_get_points_due(self, amount):
        """What a refund of `amount` takes back of the loyalty points this order
        earned: [{card, due, taken, shortfall}]. In proportion to what its
        refunds gave back, this one included, never more than once in total:
        what its earlier refunds (the till's included) took back counts. A card
        with fewer points left gives what it has; the rest is the shortfall.
        Gift cards, eWallets and visit packs have their own refunds."""
        self.ensure_one()
        # sudo: front-desk staff need no Loyalty rights
        History = self.env["loyalty.history"].sudo()
        earned = History.search(
            [("order_model", "=", self._name), ("order_id", "=", self.id), ("issued", ">", 0)]
        ).filtered(
            lambda line: line.card_id.program_id.program_type == "loyalty"
            and not line.card_id.program_id.client_refund_is_visit_pack
        )
        if not earned or self.currency_id.is_zero(self.amount_total):
            return []
        refund_orders = self.lines.refund_orderline_ids.order_id.filtered(
            lambda order: order.state != "cancel"
        )
        # what the refunds credited of the order's lines: not the lines they
        # added (points not returned, store credit)
        refunded_lines = refund_orders.lines.filtered("refunded_orderline_id")
        refunded = -sum(refunded_lines.mapped("price_subtotal_incl")) + amount
        share = min(refunded / self.amount_total, 1.0)
        # sudo: every refund of the order counts, whoever made it
        short_before = sum(
            self.sudo().client_refund_ids.filtered(lambda refund: refund.state == "done").mapped(
                "points_shortfall"
            )
        )
        taken_before = History.search(
            [
                ("order_model", "=", self._name),
                ("order_id", "in", refund_orders.ids),
                ("card_id", "in", earned.card_id.ids),
            ]
        )
        plan = []
        for card, lines in earned.grouped("card_id").items():
            before = taken_before.filtered(lambda line, card=card: line.card_id == card)
            # what earlier refunds took back or could not take back is accounted for
            due = float_round(
                sum(lines.mapped("issued")) * share
                - sum(before.mapped("used"))
                + sum(before.mapped("issued"))
                - (short_before if len(earned.card_id) == 1 else 0.0),
                precision_digits=2,
            )
            if due > 0:
                held = card._client_refund_get_points_held()
                taken = float_round(min(due, max(held, 0.0)), precision_digits=2)
                plan.append(
                    {"card": card, "due": due, "taken": taken, "shortfall": float_round(due - taken, precision_digits=2)}
                )
        return plan

    def _client_refund_get_points_deduction(self, plan):
        """The money value of the points `plan` cannot take back, when the
        company deducts it from the money paid back."""
        if not self.company_id.client_refund_deduct_points:
            return 0.0
        return self.currency_id.round(
            sum(
                step["shortfall"] * step["card"].program_id._client_refund_get_point_value()
                for step in plan
            )
        )

    def _client_refund_add_points_deduction(self, deduction):
        """A line of the refund order that keeps the value of the points not
        returned: the till pays back that much less."""
        self.ensure_one()
        product = self.env.ref("client_refund.product_points_not_returned")
        self._client_refund_add_kept_line(product, deduction)

    def _client_refund_take_back_points(self, refund, refund_order, plan, deduction):
        """Take back the points of `plan` (see _client_refund_get_points_due),
        naming the refund in the cards' history; a shortfall is said on the
        refund and the card, in points and in money."""
        self.ensure_one()
        description = _(
            "%(refund)s: points of %(order)s taken back", refund=refund.name, order=self.display_name
        )
        for step in plan:
            card = step["card"]
            if step["taken"] > 0:
                card._client_refund_change_points(refund_order, description, -step["taken"])
            if step["shortfall"] <= 0:
                continue
            message = _(
                "%(refund)s: %(shortfall)s of the %(due)s points %(order)s earned could "
                "not be taken back from %(card)s, which had %(left)s left (worth "
                "%(value)s).",
                refund=refund.name,
                shortfall=step["shortfall"],
                due=step["due"],
                order=self.display_name,
                card=card.code,
                left=step["taken"],
                value=self.currency_id.format(
                    step["shortfall"] * card.program_id._client_refund_get_point_value()
                ),
            )
            if deduction:
                message += " " + _(
                    "%s is deducted from the money paid back.", self.currency_id.format(deduction)
                )
            card._message_log(body=message)
            refund._message_log(body=message)
