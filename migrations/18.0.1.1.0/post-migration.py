from odoo.tools import SQL


def migrate(cr, version):
    """Card refunds kept what they asked Stripe in amount_paid_back: it moves to
    amount_to_card, and a refund still waiting for Stripe has paid nothing back."""
    cr.execute(
        SQL(
            "UPDATE client_refund SET amount_to_card = amount_paid_back "
            "WHERE payout_method = 'card' AND amount_to_card IS NULL"
        )
    )
    cr.execute(
        SQL(
            "UPDATE client_refund SET amount_paid_back = 0 "
            "WHERE payout_method = 'card' AND state = 'pending'"
        )
    )
