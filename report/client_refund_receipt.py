from odoo import _, api, models


class ReportClientRefundReceipt(models.AbstractModel):
    """The receipt: what was refunded and how the money went back, in the words
    a client reads. It says a refund was made: it is printed for refunds made
    only, whichever way it is asked for (the button, /report/pdf or
    /report/html)."""

    _name = "report.client_refund.report_client_refund_receipt"
    _description = "Refund Receipt"

    @api.model
    def _get_report_values(self, docids, data=None):
        refunds = self.env["client.refund"].browse(docids)
        refunds._check_receipt_printable()
        return {
            "doc_ids": refunds.ids,
            "doc_model": refunds._name,
            "docs": refunds,
            "receipt_items": self._get_receipt_items,
            "receipt_ways": self._get_receipt_ways,
        }

    @api.model
    def _get_receipt_items(self, refund):
        """[{name, quantity, amount}]: what was refunded, line by line, or the
        amount and what it was for."""
        refund.ensure_one()
        if refund.line_ids:
            return [
                {
                    "name": line.product_id.display_name or line.name,
                    "detail": line.name if line.product_id and line.name != line.product_id.display_name else "",
                    "quantity": line.quantity,
                    "amount": line.amount,
                }
                for line in refund.line_ids
            ]
        source = refund._get_source(raise_if_none=False)
        # sudo: the receipt names what was refunded, whatever the reader's rights
        what = source.sudo()._client_refund_get_receipt_description() if source else ""
        return [
            {
                "name": what or refund.source_reference or "",
                "detail": refund.source_reference if what else "",
                "quantity": None,
                "amount": refund.amount,
            }
        ]

    @api.model
    def _get_receipt_ways(self, refund):
        """[(words, amount)]: how the refund went back to the client."""
        refund.ensure_one()
        currency = refund.currency_id
        ways = []
        if refund.scope == "void" or (
            refund.payout_method == "none" and currency.is_zero(refund.amount_fee)
        ):
            return [(_("Payment cancelled: no money moved"), 0.0)]
        if refund.payout_method == "pos":
            # what the till paid out, tender by tender; sudo: the receipt says it
            # whatever the reader's Point of Sale rights
            by_way = {}
            for payment in refund.sudo().pos_order_ids.payment_ids:
                method = payment.payment_method_id
                if method.is_cash_count:
                    label = _("Cash")
                elif method.use_payment_terminal or payment.card_type:
                    label = _("Card ending %s", refund.card_last4) if refund.card_last4 else _("Card")
                else:
                    label = method.name
                by_way[label] = by_way.get(label, 0.0) - payment.amount
            ways += [(label, amount) for label, amount in by_way.items() if not currency.is_zero(amount)]
        elif refund.payout_method == "card" and refund.amount_paid_back:
            ways.append(
                (
                    self.env["account.journal"]._client_refund_get_way_label(
                        card_transaction=refund.card_transaction_id, last4=refund.card_last4
                    ),
                    refund.amount_paid_back,
                )
            )
        elif refund.payout_method in ("journal", "refund_account") and refund.amount_paid_back:
            # sudo: the journal that paid is named whatever the reader's accounting rights
            journal = refund.sudo().payout_journal_id or refund.sudo().payment_ids.journal_id[:1]
            ways.append((journal._client_refund_get_way_label(), refund.amount_paid_back))
        if refund.amount_ewallet:
            ways.append((_("eWallet"), refund.amount_ewallet))
        # the fee the policy kept is its own line of the receipt
        rest = currency.round(
            refund.amount - refund.amount_fee - refund.amount_paid_back - refund.amount_ewallet
        )
        if refund.payout_method == "pos":
            rest = currency.round(
                refund.amount - refund.amount_fee - sum(amount for __, amount in ways)
            )
        if currency.compare_amounts(rest, 0.0) > 0:
            if refund.payout_method == "credit":
                ways.append((_("Client credit"), rest))
            elif refund.payout_method == "ewallet" and not refund.amount_ewallet:
                ways.append((_("eWallet"), rest))
            elif refund.payout_method == "pos" and refund.points_shortfall:
                ways.append((_("Kept for loyalty points not returned"), rest))
            elif refund.state == "done":
                ways.append((_("Taken off what was still owed"), rest))
        return ways
