from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestDemoTour(HttpCase):
    """The front desk refunds, in the browser, on the salon's demo data
    (demo/): an invoice paid in cash, a Point of Sale order, a gift card.

    The main suite runs on a database without demo data: there it skips."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.frontdesk = cls.env.ref("client_refund.demo_user_frontdesk", raise_if_not_found=False)

    def setUp(self):
        super().setUp()
        if not self.frontdesk:
            self.skipTest("the demo data of client_refund is not installed")
        self.cash_journal = self.env.company.client_refund_journal_id

    def _ref(self, name):
        return self.env.ref(f"client_refund.{name}")

    def _refunds(self, **domain):
        return self.env["client.refund"].search(
            [(field, "=", value.id) for field, value in domain.items()]
        )

    def _start(self, record, tour):
        self.start_tour(
            f"/odoo/{record._name}/{record.id}", tour, login=self.frontdesk.login, timeout=180
        )
        self.env.invalidate_all()

    def _assert_done(self, refund, amount, reason):
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount, amount)
        self.assertEqual(refund.user_id, self.frontdesk)
        self.assertEqual(refund.reason_id, self.env.ref(f"client_refund.{reason}"))

    def test_demo_invoice_refund_tour(self):
        """Anna's invoice paid in cash: all of it back in cash."""
        invoice = self._ref("demo_invoice_anna_cash")
        self.assertEqual(invoice.payment_state, "paid")
        self.assertFalse(self._refunds(source_move_id=invoice))
        self._start(invoice, "client_refund_demo_invoice_tour")

        refund = self._refunds(source_move_id=invoice)
        self._assert_done(refund, 155.25, "reason_appointment_cancelled")
        self.assertEqual((refund.source_type, refund.scope), ("invoice", "full"))
        self.assertEqual(refund.partner_id, self._ref("demo_client_anna"))
        credit_note = refund.credit_note_ids
        self.assertEqual(len(credit_note), 1)
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertAlmostEqual(credit_note.amount_total, 155.25)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(refund.payout_method, "journal")
        self.assertAlmostEqual(refund.amount_paid_back, 155.25)
        payout = refund.payment_ids
        self.assertEqual(payout.journal_id, self.cash_journal)
        self.assertEqual(payout.payment_type, "outbound")
        self.assertAlmostEqual(payout.amount, 155.25)
        self.assertTrue(payout.is_reconciled)

    def test_demo_pos_order_refund_tour(self):
        """Chloé's two bottles of shampoo: refunded at the till, back in stock."""
        order = self._ref("demo_pos_order_chloe_shampoo")
        shampoo = self._ref("demo_product_shampoo")
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.session_id.state, "opened")
        warehouse = order.config_id.picking_type_id.warehouse_id
        on_hand = shampoo.with_context(warehouse_id=warehouse.id).qty_available
        self._start(order, "client_refund_demo_pos_order_tour")

        refund = self._refunds(source_pos_order_id=order)
        self._assert_done(refund, 41.40, "reason_product_returned")
        self.assertEqual((refund.source_type, refund.scope), ("pos_order", "full"))
        self.assertEqual(refund.payout_method, "pos")
        refund_order = refund.pos_order_ids
        self.assertEqual(len(refund_order), 1)
        self.assertEqual(refund_order.refunded_order_id, order)
        self.assertEqual(refund_order.session_id, order.session_id)
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(refund_order.amount_total, -41.40)
        self.assertEqual(refund_order.lines.refunded_orderline_id, order.lines)
        self.assertEqual(
            refund_order.payment_ids.payment_method_id, self._ref("demo_pos_payment_method_cash")
        )
        self.assertAlmostEqual(refund_order.amount_paid, -41.40)
        self.assertFalse(order.has_refundable_lines)
        self.assertEqual(refund.picking_ids.state, "done")
        self.assertEqual(refund.picking_ids.move_ids.product_id, shampoo)
        self.assertEqual(
            shampoo.with_context(warehouse_id=warehouse.id).qty_available, on_hand + 2
        )

    def test_demo_gift_card_refund_tour(self):
        """Emma's gift card, 40.00 of 100.00 spent: the 60.00 left paid out in
        cash on the Refund account, the card closed."""
        card = self._ref("demo_card_gift_emma")
        self.assertAlmostEqual(card.points, 60.0)
        self._start(card, "client_refund_demo_gift_card_tour")

        refund = self._refunds(source_card_id=card)
        self._assert_done(refund, 60.0, "reason_client_request")
        self.assertEqual((refund.source_type, refund.scope), ("gift_card", "full"))
        self.assertEqual(refund.payout_method, "refund_account")
        self.assertAlmostEqual(refund.amount_paid_back, 60.0)
        self.assertFalse(refund.credit_note_ids, "the sale stands")
        payout = refund.payment_ids
        self.assertEqual(len(payout), 1)
        self.assertEqual(payout.journal_id, self.cash_journal)
        self.assertEqual(payout.payment_type, "outbound")
        self.assertAlmostEqual(payout.amount, 60.0)
        debit = payout.move_id.line_ids.filtered("debit")
        self.assertEqual(debit.account_id, self.env.company.client_refund_account_id)
        self.assertAlmostEqual(debit.debit, 60.0)
        self.assertAlmostEqual(card.points, 0.0)
        self.assertFalse(card.active, "closed")

    def _counts(self):
        return (
            self.env["client.refund"].search_count([]),
            self.env["account.move"].search_count([]),
            self.env["account.payment"].search_count([]),
        )

    def test_demo_approval_tour(self):
        """Farah's bridal package, above the company's 500.00: the wizard says it
        will wait for a manager, and asks for approval."""
        invoice = self._ref("demo_invoice_farah_bridal")
        self.assertEqual(invoice.payment_state, "paid")
        payments = self.env["account.payment"].search_count([])
        self._start(invoice, "client_refund_demo_approval_tour")

        refund = self._refunds(source_move_id=invoice)
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 632.50)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertFalse(refund.credit_note_ids)
        self.assertEqual(self.env["account.payment"].search_count([]), payments)
        self.assertEqual(invoice.payment_state, "paid")

    def test_demo_second_request_tour(self):
        """Chloé's bridal package waits for a manager: a second request is refused."""
        invoice = self._ref("demo_invoice_chloe_bridal")
        waiting = self._refunds(source_move_id=invoice)
        self.assertEqual(waiting.mapped("state"), ["to_approve"])
        counts = self._counts()
        self._start(invoice, "client_refund_demo_second_request_tour")
        self.assertEqual(self._counts(), counts)

    def test_demo_card_tour(self):
        """Chloé paid online, but the demo's Stripe provider is disabled: the card
        is not proposed."""
        invoice = self._ref("demo_invoice_chloe_card")
        self.assertEqual(self.env.ref("payment.payment_provider_stripe").state, "disabled")
        counts = self._counts()
        self._start(invoice, "client_refund_demo_card_tour")
        self.assertEqual(self._counts(), counts)

    def test_demo_ewallet_tour(self):
        """David's eWallet, topped up twice to 150.00: the cash-out is proposed."""
        card = self._ref("demo_card_ewallet_david")
        self.assertAlmostEqual(card.points, 150.0)
        counts = self._counts()
        self._start(card, "client_refund_demo_ewallet_tour")
        self.assertEqual(self._counts(), counts)
        self.assertAlmostEqual(card.points, 150.0)
