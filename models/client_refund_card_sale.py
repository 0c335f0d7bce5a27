from collections import Counter, defaultdict

from odoo import models
from odoo.tools import float_round


class ClientRefundCardSale(models.AbstractModel):
    """What sold a gift card, eWallet or visit pack (loyalty.card): the lines
    of the Point of Sale orders it is tied to, first tied first, or the
    invoice lines of its client that match what it was issued."""

    _name = "client.refund.card.sale"
    _description = "What Sold a Card"

    def _client_refund_get_pos_sale_lines(self, order, products, one_unit):
        """The lines of the Point of Sale `order` that sold this card, in sudo.

        Any card can be tied to any order (a Point of Sale user writes a
        card's order, and its history names orders): the cards tied to an order
        are ranked by when they were tied, which nobody can write, and the
        order's lines of each product sold the first of them, a gift card a
        unit each, an eWallet or visit pack all its lines. A card tied to a
        sale after the cards it sold gets nothing of it."""
        self.ensure_one()
        # sudo: every card tied to the order counts, closed ones too
        Card = self.env["loyalty.card"].sudo().with_context(active_test=False)
        tied_on = {
            card: card.client_refund_tied_on or card.create_date
            for card in Card.search([("source_pos_order_id", "=", order.id)])
        }
        issues = self.env["loyalty.history"].sudo().search(
            [("order_model", "=", "pos.order"), ("order_id", "=", order.id), ("issued", ">", 0)]
        )
        for issue in issues:
            if issue.card_id not in tied_on or issue.create_date < tied_on[issue.card_id]:
                tied_on[issue.card_id] = issue.create_date
        sold = self.env["pos.order.line"].sudo()
        for product in products:
            lines = order.lines.filtered(lambda line, product=product: line.product_id == product)
            rivals = sorted(
                (card for card in tied_on if product in card.program_id.trigger_product_ids),
                key=lambda card: (tied_on[card], card.id),
            )
            if not lines or self not in rivals:
                continue
            rank = rivals.index(self)
            if not one_unit:
                if rank == 0:
                    sold |= lines
                continue
            units = [line for line in lines.sorted("id") for __ in range(max(int(line.qty), 1))]
            if rank < len(units):
                sold |= units[rank]
        return sold

    def _client_refund_get_issued_values(self):
        """What each issue of points on the card (its first issue, top-ups) was
        worth: money for a gift card or eWallet, visits for a visit pack."""
        self.ensure_one()
        # store credit a refund put on an eWallet was sold by nobody
        history = self.history_ids.filtered(
            lambda line: line.issued > 0 and line.order_model not in ("pos.order", "client.refund")
        )
        issued = history.mapped("issued") if history or self.history_ids else [self.points]
        if self._client_refund_get_source_type() == "visit_pack":
            return [float_round(points, precision_digits=2) for points in issued if points > 0]
        point_value = self.program_id._client_refund_get_point_value()
        return [self.currency_id.round(points * point_value) for points in issued if points > 0]

    def _client_refund_get_line_value(self, line):
        """What an invoice line sold, to compare with ``_client_refund_get_issued_values``:
        the price of one card for a gift card, of the top-up for an eWallet, the
        visits the program's rules give for a visit pack."""
        self.ensure_one()
        currency = line.currency_id
        source_type = self._client_refund_get_source_type()
        if source_type == "gift_card":
            return currency.round(line.price_total / line.quantity) if line.quantity else 0.0
        if source_type == "ewallet":
            return currency.round(line.price_total)
        points = 0.0
        for rule in self.program_id.rule_ids:
            if rule.product_ids and line.product_id not in rule.product_ids:
                continue
            if rule.reward_point_mode == "unit":
                points += rule.reward_point_amount * line.quantity
            elif rule.reward_point_mode == "money":
                points += rule.reward_point_amount * line.price_total
            else:
                points += rule.reward_point_amount
        return float_round(points, precision_digits=2)

    def _client_refund_match_invoice_lines(self, products, company):
        """The invoice lines that sold the card, in sudo: [(invoice, line, balance)].

        Invoices do not say which card they sold, so a line of the client's posted
        invoices of `company` sold the card when the card's refunds tied it to
        the card, or when the lines left to refund of the program's products
        worth what an issue of points on the card was worth (not tied to another
        card) are exactly as many as the issues of that value on the client's
        cards of the program not tied to a sale: then they are paired in order,
        the oldest line with the oldest card. Otherwise (a card given for free
        beside a sold one, ...) no line is known to have sold the card. Invoices
        of Point of Sale orders are refunded as the orders."""
        self.ensure_one()
        if not self.partner_id:
            return []
        lines = self.env["account.move.line"].search(
            [
                ("move_id.move_type", "=", "out_invoice"),
                ("parent_state", "=", "posted"),
                ("display_type", "=", "product"),
                ("company_id", "=", company.id),
                ("move_id.commercial_partner_id", "=", self.partner_id.commercial_partner_id.id),
                ("product_id", "in", products.ids),
                ("move_id.pos_order_ids", "=", False),
            ]
        )
        if not lines:
            return []
        credited = dict(
            self.env["account.move.line"]._read_group(
                [("origin_line_id", "in", lines.ids), ("parent_state", "=", "posted")],
                ["origin_line_id"],
                ["price_total:sum"],
            )
        )
        balances = {}
        for line in lines:
            total = line.currency_id.round(line.price_total)
            left = line.currency_id.round(total - credited.get(line, 0.0))
            if total and line.currency_id.compare_amounts(left, 0.0) > 0:
                balances[line] = {"quantity": line.quantity * left / total, "amount": left}
        # the client's other cards of the program sold by invoice, closed ones too
        # (a refund closes most cards): they claim lines of the same value
        siblings = self.with_context(active_test=False).search(
            [
                ("id", "!=", self.id),
                ("program_id", "=", self.program_id.id),
                ("partner_id", "child_of", self.partner_id.commercial_partner_id.id),
                ("source_pos_order_id", "=", False),
            ],
            order="id",
        )
        taken = Counter()
        for sibling in siblings:
            taken.update(sibling.client_refund_sale_line_ids & lines)
        one_unit = self._client_refund_get_source_type() == "gift_card"
        # lines left for cards not tied to a sale yet, one entry per card they
        # may have sold, oldest first
        free = defaultdict(list)
        for line in sorted(balances, key=lambda line: (line.move_id.invoice_date, line.id)):
            units = max(int(line.quantity), 1) if one_unit else 1
            free[self._client_refund_get_line_value(line)] += [line] * max(
                units - taken[line] - (line in self.client_refund_sale_line_ids), 0
            )
        # what each card was issued and no sale tied to it yet
        wanted = {}
        for card in (self | siblings).sorted("id"):
            values = Counter(card._client_refund_get_issued_values())
            values.subtract(
                card._client_refund_get_line_value(line)
                for line in card.client_refund_sale_line_ids
            )
            wanted[card] = values
        matched = [line for line in self.client_refund_sale_line_ids if line in balances]
        for value, count in wanted[self].items():
            if count <= 0:
                continue
            # as many lines as the cards ask for: the n-th card issued that value
            # was sold by the n-th line; otherwise no line can be told to be its
            asked = [(card, wanted[card][value]) for card in wanted if wanted[card][value] > 0]
            if sum(number for __, number in asked) != len(free[value]):
                continue
            position = 0
            for card, number in asked:
                if card == self:
                    matched += free[value][position : position + number]
                    break
                position += number
        matched = list(dict.fromkeys(matched))
        return [(line.move_id, line, balances[line]) for line in matched]
