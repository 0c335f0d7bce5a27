from odoo.tests import HttpCase, tagged

from .common import ClientRefundHttpFixtures


@tagged("post_install", "-at_install")
class TestClientRefundTour(ClientRefundHttpFixtures, HttpCase):
    """The four refunds of the front desk, in Chromium, as a receptionist who
    invoices and works the till without accounting rights. Each tour reads the
    money line before Confirm and checks that no choice that would be refused is
    on screen; here, what was booked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_refund_fixtures()

    def _tour(self, url, tour):
        self.start_tour(url, tour, login=self.refund_user.login, timeout=180)
        self.env.invalidate_all()
        refund = self.env["client.refund"].search([("partner_id", "=", self.client.id)])
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.user_id, self.refund_user)
        self.assertEqual(refund.reason_id, self.reason, "the proposed reason")
        return refund

    def test_full_cash_refund_from_the_clients_refund_page(self):
        refund = self._tour(f"/odoo/res.partner/{self.client.id}", "client_refund_full_cash_tour")
        self.assertEqual((refund.scope, refund.source_move_id), ("full", self.invoice))
        self.assertAlmostEqual(refund.amount_paid_back, 100.0)
        self.assertEqual(refund.payment_ids.journal_id, self.cash_journal)
        self.assertEqual(self.invoice.payment_state, "reversed")
        self.assertEqual(refund.credit_note_ids.payment_state, "paid")
        self.assertTrue(
            any("refunded" in str(message.body) for message in refund.message_ids),
            "the chatter tells the refund",
        )

    def test_partial_refund_by_the_amount_that_stays_paid(self):
        refund = self._tour(f"/odoo/account.move/{self.invoice.id}", "client_refund_amount_kept_tour")
        self.assertEqual(refund.scope, "partial")
        self.assertAlmostEqual(refund.amount, 40.0)
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 40.0)
        self.assertAlmostEqual(refund.amount_paid_back, 40.0)
        self.assertEqual(refund.payment_ids.journal_id, self.cash_journal)
        self.assertEqual(self.invoice.payment_state, "paid", "60.00 stays paid")

    def test_pos_line_refund(self):
        self._setup_pos_order()
        refund = self._tour(f"/odoo/pos.order/{self.pos_order.id}", "client_refund_pos_line_tour")
        self.assertEqual(refund.payout_method, "pos")
        self.assertAlmostEqual(refund.amount, 12.0)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.refunded_order_id, self.pos_order)
        self.assertEqual(refund_order.lines.product_id, self.shampoo)
        self.assertAlmostEqual(refund_order.lines.qty, -1.0)
        self.assertAlmostEqual(refund_order.payment_ids.amount, -12.0)
        self.assertEqual(refund_order.session_id, self.pos_order.session_id)

    def test_gift_card_refund(self):
        self._setup_gift_card()
        refund = self._tour(f"/odoo/loyalty.card/{self.gift_card.id}", "client_refund_gift_card_tour")
        self.assertEqual((refund.source_type, refund.scope), ("gift_card", "full"))
        self.assertAlmostEqual(refund.amount, 50.0)
        self.assertEqual(refund.credit_note_ids.reversed_entry_id, self.gift_card_invoice)
        self.assertAlmostEqual(self.gift_card.points, 0.0)
        self.assertFalse(self.gift_card.active, "the card is emptied and closed")
