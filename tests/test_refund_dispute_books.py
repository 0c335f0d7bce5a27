from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import LocalStripeMixin
from .test_invoice_refund import InvoiceRefundCommon
from .test_refund_dispute import DisputeEventMixin


@tagged("post_install", "-at_install")
class TestRefundDisputeBooks(DisputeEventMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    """What a card dispute books, from what Stripe says of it: signed events
    over HTTP; the read-back of the dispute is mocked (see DisputeEventMixin:
    it stands for Stripe's GET /v1/disputes/{id}, which localstripe lacks)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.bank_journal)
        cls.company.client_refund_tz = "UTC"
        cls.fee_account = cls.env["account.account"].create(
            {"name": "Card Dispute Fees", "code": "629900", "account_type": "expense",
             "company_ids": [cls.company.id]}
        )
        cls.company.client_refund_dispute_fee_account_id = cls.fee_account

    # Stripe's balance transactions of a dispute: the withdrawal of the
    # $115.00 with its $15.00 fee, the reinstatement (fee returned or not)
    WITHDRAWAL = {"id": "txn_withdrawal", "amount": -11500, "fee": 1500}
    REINSTATEMENT_FEE_RETURNED = {"id": "txn_reinstated", "amount": 11500, "fee": -1500}
    REINSTATEMENT_FEE_KEPT = {"id": "txn_reinstated", "amount": 11500, "fee": 0}

    def _disputed(self):
        invoice, transaction = self._paid_by_card()
        created = self._stripe_dispute(transaction)
        self.assertEqual(self._post_dispute_event("charge.dispute.created", created).status_code, 200)
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", created["id"])])
        self.stripe_account = dispute._get_stripe_account()
        self.assertTrue(self.stripe_account)
        self.stripe_before = self._balance(self.stripe_account)
        return invoice, created, dispute

    def _event(self, event_type, created, **values):
        self.assertEqual(self._post_dispute_event(event_type, {**created, **values}).status_code, 200)

    def _balance(self, account, partner=None):
        domain = [("account_id", "=", account.id), ("parent_state", "=", "posted"),
                  ("company_id", "=", self.company.id)]
        if partner:
            domain.append(("partner_id", "=", partner.id))
        self.env.invalidate_all()
        return sum(self.env["account.move.line"].search(domain).mapped("balance"))

    def _client_due(self):
        """The client's open receivable."""
        self.env.invalidate_all()
        lines = self.env["account.move.line"].search(
            [("partner_id", "=", self.client.id), ("account_id", "=", self.receivable.id),
             ("parent_state", "=", "posted")]
        )
        return sum(lines.mapped("amount_residual"))

    def _assert_withdrawn(self, invoice, dispute):
        move = dispute.withdrawal_move_id
        self.assertEqual(move.state, "posted")
        self.assertRecordValues(
            move.line_ids.sorted("balance"),
            [
                {"account_id": self.stripe_account.id, "balance": -130.0, "partner_id": False},
                {"account_id": self.fee_account.id, "balance": 15.0, "partner_id": False},
                {"account_id": self.receivable.id, "balance": 115.0, "partner_id": self.client.id},
            ],
        )
        # the withdrawal takes the card payment back: matched with it, the invoice due again
        withdrawal_line = move.line_ids.filtered(lambda line: line.account_id == self.receivable)
        self.assertTrue(withdrawal_line.reconciled)
        self.assertEqual(withdrawal_line.matched_credit_ids.credit_move_id.move_id, dispute.payment_id.move_id)
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(invoice.amount_residual, 115.0)
        self.assertAlmostEqual(self._client_due(), 115.0)
        self.assertAlmostEqual(self._balance(self.stripe_account), self.stripe_before - 130.0)
        self.assertAlmostEqual(self._balance(self.fee_account), 15.0)

    def test_dispute_entries_are_kept_from_core_buttons(self):
        invoice, created, dispute = self._disputed()
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        withdrawal = dispute.withdrawal_move_id
        self.assertEqual(withdrawal.state, "posted")
        for action in ("button_draft", "button_cancel"):
            with self.subTest(action=action), self.assertRaisesRegex(UserError, "belongs to card dispute"):
                getattr(withdrawal.with_user(self.refund_manager), action)()
        with self.assertRaisesRegex(UserError, "belongs to card dispute"):
            withdrawal.line_ids.with_user(self.refund_manager).remove_move_reconcile()
        self.assertEqual(withdrawal.state, "posted")
        self.assertEqual(invoice.payment_state, "not_paid")

    def test_withdrawn_then_replayed_books_once(self):
        invoice, created, dispute = self._disputed()
        self.assertFalse(dispute.withdrawal_move_id)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        self._assert_withdrawn(invoice, dispute)
        moves = self.env["account.move"].search_count([])
        # replayed, and Stripe's later `updated` saying the same: nothing more booked
        for event_type in ("charge.dispute.funds_withdrawn", "charge.dispute.updated"):
            self._event(event_type, created, balance_transactions=[self.WITHDRAWAL])
        self.assertEqual(self.env["account.move"].search_count([]), moves)
        self._assert_withdrawn(invoice, dispute)

    def test_fee_on_refund_account_when_none_chosen(self):
        self.company.client_refund_dispute_fee_account_id = False
        _invoice, created, dispute = self._disputed()
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        fee_line = dispute.withdrawal_move_id.line_ids.filtered(lambda line: line.balance == 15.0)
        self.assertEqual(fee_line.account_id, self.company.client_refund_account_id)

    def test_won_fee_returned_pays_the_sale_again(self):
        invoice, created, dispute = self._disputed()
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        self._event(
            "charge.dispute.funds_reinstated", created, status="won",
            balance_transactions=[self.WITHDRAWAL, self.REINSTATEMENT_FEE_RETURNED],
        )
        move = dispute.reinstatement_move_id
        self.assertRecordValues(
            move.line_ids.sorted("balance"),
            [
                {"account_id": self.receivable.id, "balance": -115.0},
                {"account_id": self.fee_account.id, "balance": -15.0},
                {"account_id": self.stripe_account.id, "balance": 130.0},
            ],
        )
        self.assertEqual(dispute.outcome, "won")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertAlmostEqual(self._client_due(), 0.0)
        self.assertAlmostEqual(self._balance(self.stripe_account), self.stripe_before)
        self.assertAlmostEqual(self._balance(self.fee_account), 0.0)
        # every receivable line of the dispute settled: withdrawal with reinstatement
        receivable_lines = (dispute.withdrawal_move_id | move).line_ids.filtered(
            lambda line: line.account_id == self.receivable
        )
        self.assertTrue(all(receivable_lines.mapped("reconciled")))
        # the invoice is paid by the card payment again
        self.assertEqual(invoice._get_reconciled_payments(), dispute.payment_id)
        # a late funds_withdrawn and a replayed reinstatement book nothing
        moves = self.env["account.move"].search_count([])
        self._event("charge.dispute.funds_withdrawn", created, status="won",
                    balance_transactions=[self.WITHDRAWAL, self.REINSTATEMENT_FEE_RETURNED])
        self._event("charge.dispute.funds_reinstated", created, status="won",
                    balance_transactions=[self.WITHDRAWAL, self.REINSTATEMENT_FEE_RETURNED])
        self.assertEqual(self.env["account.move"].search_count([]), moves)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_won_fee_kept_by_stripe(self):
        invoice, created, dispute = self._disputed()
        # Stripe's read-back already shows both: the events came late, at once
        self._event(
            "charge.dispute.closed", created, status="won",
            balance_transactions=[self.WITHDRAWAL, self.REINSTATEMENT_FEE_KEPT],
        )
        self.assertRecordValues(
            dispute.reinstatement_move_id.line_ids.sorted("balance"),
            [
                {"account_id": self.receivable.id, "balance": -115.0},
                {"account_id": self.stripe_account.id, "balance": 115.0},
            ],
        )
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertAlmostEqual(self._client_due(), 0.0)
        self.assertAlmostEqual(self._balance(self.stripe_account), self.stripe_before - 15.0)
        self.assertAlmostEqual(self._balance(self.fee_account), 15.0)

    def test_lost_stays_withdrawn(self):
        invoice, created, dispute = self._disputed()
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        moves = self.env["account.move"].search_count([])
        self._event("charge.dispute.closed", created, status="lost", balance_transactions=[self.WITHDRAWAL])
        self.assertRecordValues(dispute, [{"outcome": "lost", "reinstatement_move_id": False}])
        self.assertEqual(self.env["account.move"].search_count([]), moves)
        self._assert_withdrawn(invoice, dispute)

    def test_partial_dispute_partially_paid_then_won(self):
        invoice, created, dispute = self._disputed()
        self._event(
            "charge.dispute.funds_withdrawn", created, amount=4000,
            balance_transactions=[{"id": "txn_withdrawal", "amount": -4000, "fee": 1500}],
        )
        self.assertEqual(dispute.amount, 40.0)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_residual, 40.0)
        self.assertAlmostEqual(self._client_due(), 40.0)
        self.assertAlmostEqual(self._balance(self.stripe_account), self.stripe_before - 55.0)
        # won: the card payment pays it all again
        self._event(
            "charge.dispute.funds_reinstated", created, amount=4000, status="won",
            balance_transactions=[{"id": "txn_withdrawal", "amount": -4000, "fee": 1500},
                                  {"id": "txn_reinstated", "amount": 4000, "fee": 0}],
        )
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertAlmostEqual(self._client_due(), 0.0)
        self.assertAlmostEqual(self._balance(self.stripe_account), self.stripe_before - 15.0)
        self.assertEqual(invoice._get_reconciled_payments(), dispute.payment_id)

    def test_first_event_late_books_on_creation(self):
        """Stripe's `created` lost: the first event Odoo gets already says withdrawn."""
        invoice, transaction = self._paid_by_card()
        created = self._stripe_dispute(transaction)
        # the card payment's liquidity line: where the money went
        self.stripe_account = transaction.payment_id._seek_for_lines()[0].account_id
        self.stripe_before = self._balance(self.stripe_account)
        self._event("charge.dispute.funds_withdrawn", created, balance_transactions=[self.WITHDRAWAL])
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", created["id"])])
        self._assert_withdrawn(invoice, dispute)
        # `created` arriving after: nothing more
        moves = self.env["account.move"].search_count([])
        self._event("charge.dispute.created", created, balance_transactions=[self.WITHDRAWAL])
        self.assertEqual(self.env["account.move"].search_count([]), moves)
