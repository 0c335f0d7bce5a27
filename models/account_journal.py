from odoo import _, models


class AccountJournal(models.Model):
    _inherit = "account.journal"

    def _client_refund_get_way_label(self, card_transaction=None, last4=None):
        """How money moved through this journal, or to the card, in the words a
        client reads: Cash, Bank transfer, Card ending 4242."""
        # sudo: transactions and tokens are kept for payment administrators
        card_transaction = (card_transaction or self.env["payment.transaction"]).sudo()
        if card_transaction or last4:
            last4 = last4 or card_transaction.token_id.payment_details
            return _("Card ending %s", last4) if last4 else _("Card")
        if self.type == "cash":
            return _("Cash")
        if self.type == "bank":
            return _("Bank transfer")
        return self.name or _("Cash")
