from datetime import timedelta

from odoo import Command, fields
from odoo.tests import Form, tagged

from .common import ClientRefundCommon, LoyaltyRefundMixin


@tagged("post_install", "-at_install")
class TestMembershipRefund(LoyaltyRefundMixin, ClientRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = fields.Date.today()
        cls.cash_journal = cls.company_data["default_journal_cash"]
        cls.company.client_refund_journal_id = cls.cash_journal
        cls.receivable = cls.company_data["default_account_receivable"]
        cls.revenue = cls.company_data["default_account_revenue"]
        cls.refund_account = cls.company.client_refund_account_id
        cls.client.property_account_receivable_id = cls.receivable
        # 30 days, today the 10th: 20 days left; 300 + 15% tax
        cls.gold = cls._create_product(
            name="Gold Membership",
            type="service",
            lst_price=300.0,
            membership=True,
            membership_date_from=cls.today - timedelta(days=9),
            membership_date_to=cls.today + timedelta(days=20),
        )
        cls.haircut = cls._create_product(name="Haircut", type="service", lst_price=100.0)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _membership(self, pay=True, post=True, extra_product=None):
        """The client buys the membership with core's membership invoice."""
        invoice = self.client.create_membership_invoice(self.gold, 300.0)
        if extra_product:
            invoice.invoice_line_ids = [Command.create({"product_id": extra_product.id})]
        if post:
            invoice.action_post()
        if pay:
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"journal_id": self.cash_journal.id})._create_payments()
        return self.env["membership.membership_line"].search(
            [("account_invoice_line", "in", invoice.invoice_line_ids.ids)]
        )

    def _sum(self, account):
        lines = self.env["account.move.line"].search(
            [("account_id", "=", account.id), ("parent_state", "=", "posted")]
        )
        return self.company.currency_id.round(sum(lines.mapped("balance")))

    def _written(self):
        return (
            self.env["account.move"].search_count([]),
            self.env["account.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
        )

    def _assert_refused(self, pattern, line, **values):
        written = self._written()
        dates = (line.date_from, line.date_to, line.date_cancel)
        with self.assertRefused(pattern):
            self._refund(membership_line=line, user=self.refund_user, **values)
        self.assertEqual(self._written(), written)
        self.assertEqual((line.date_from, line.date_to, line.date_cancel), dates)

    def _assert_logged(self, refund, line):
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.source_type, "membership")
        self.assertEqual(refund.source_membership_line_id, line)
        self.assertEqual(refund.partner_id, self.client)
        for document in (refund, line, self.client):
            self.assertTrue(
                any(refund.name in (m.body or "") for m in document.message_ids),
                f"no refund message on {document}",
            )

    # ------------------------------------------------------------------
    # full refund
    # ------------------------------------------------------------------

    def test_full_refund_cancels_the_membership(self):
        line = self._membership()
        invoice = line.account_invoice_id
        self.assertEqual(line.state, "paid")
        self.assertEqual(self.client.membership_state, "paid")
        wizard = self._wizard(membership_line=line, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "credit_note", "started: prorated by default")
        wizard.refund_option = "cancel_sale"
        self.assertAlmostEqual(wizard.amount, 345.0)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_logged(refund, line)
        self.assertEqual(refund.scope, "full")
        self.assertAlmostEqual(refund.amount, 345.0)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertTrue(
            invoice.line_ids.filtered(lambda l: l.account_id == self.receivable).reconciled
        )
        payout = refund.payment_ids
        self.assertAlmostEqual(payout.amount, 345.0)
        self.assertTrue(payout.is_reconciled)
        self.assertAlmostEqual(refund.amount_paid_back, 345.0)
        self.assertEqual(self._sum(self.receivable), 0.0)
        self.assertEqual(self._sum(self.revenue), 0.0)
        self.assertEqual(line.date_cancel, self.today)
        self.assertEqual(line.state, "canceled")
        self.assertEqual(self.client.membership_state, "canceled", "no longer a member")
        self.assertEqual(self.client.membership_cancel, self.today)

    def test_full_refund_of_an_unpaid_membership(self):
        line = self._membership(pay=False)
        self.assertEqual(self.client.membership_state, "invoiced")
        refund = self._refund(
            membership_line=line, user=self.refund_user, refund_option="cancel_sale"
        )
        self._assert_logged(refund, line)
        self.assertEqual(line.account_invoice_id.payment_state, "reversed")
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.payout_method, "none")
        self.assertEqual(self._sum(self.receivable), 0.0)
        self.assertEqual(line.state, "canceled")
        self.assertEqual(self.client.membership_state, "canceled")

    def test_full_refund_credits_only_the_membership(self):
        line = self._membership(extra_product=self.haircut)
        invoice = line.account_invoice_id
        refund = self._refund(
            membership_line=line, user=self.refund_user, refund_option="cancel_sale"
        )
        self.assertEqual(refund.credit_note_ids.invoice_line_ids.product_id, self.gold)
        self.assertAlmostEqual(refund.amount, 345.0)
        self.assertEqual(refund.line_ids.move_line_id, line.account_invoice_line)
        self.assertEqual(invoice.payment_state, "paid", "the haircut stays paid")
        self.assertEqual(line.state, "canceled")
        self.assertEqual(self.client.membership_state, "canceled")

    # ------------------------------------------------------------------
    # partial refund
    # ------------------------------------------------------------------

    def test_partial_refund_by_credit_note(self):
        line = self._membership()
        invoice = line.account_invoice_id
        wizard = self._wizard(membership_line=line, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "credit_note")
        # 345 × 20 days left / 30 days
        self.assertAlmostEqual(wizard.amount_suggested, 230.0)
        self.assertAlmostEqual(wizard.amount, 230.0)
        wizard.amount = 115.0
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_logged(refund, line)
        self.assertEqual(refund.scope, "partial")
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertAlmostEqual(credit_note.amount_total, 115.0)
        self.assertAlmostEqual(credit_note.amount_untaxed, 100.0)
        self.assertEqual(invoice.payment_state, "paid", "the rest stays paid")
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertAlmostEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(self._sum(self.receivable), 0.0)
        self.assertEqual(self._sum(self.revenue), -200.0)
        # ends today: still a member today, no longer once the day is over
        self.assertEqual(line.date_to, self.today)
        self.assertFalse(line.date_cancel)
        self.assertEqual(line.state, "paid", "core would call a partly credited membership cancelled")
        self.assertEqual(self.client.membership_state, "paid")
        self.assertEqual(self.client.membership_stop, self.today)

    def test_partial_refund_paid_out_on_the_refund_account(self):
        line = self._membership()
        invoice = line.account_invoice_id
        refund = self._refund(membership_line=line, user=self.refund_user, refund_option="expense")

        self._assert_logged(refund, line)
        self.assertFalse(refund.credit_note_ids)
        payout = refund.payment_ids
        self.assertAlmostEqual(payout.amount, 230.0)
        self.assertEqual(payout.partner_id, self.client)
        self.assertEqual(payout.date, self.today)
        self.assertIn(self.reason.name, payout.memo)
        debit = payout.move_id.line_ids.filtered("debit")
        self.assertEqual(debit.account_id, self.refund_account)
        self.assertEqual(payout.move_id.line_ids.filtered("credit").account_id, payout.outstanding_account_id)
        self.assertEqual(self._sum(self.refund_account), 230.0)
        self.assertEqual(self._sum(self.revenue), -300.0, "the sale stands")
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(line.date_to, self.today)
        self.assertEqual(line.state, "paid")

    # ------------------------------------------------------------------
    # core credit notes, the client's page
    # ------------------------------------------------------------------

    def test_core_credit_notes_of_a_membership_the_register_never_touched(self):
        """Core's membership semantics hold for memberships the register never
        refunded: core cancels a paid membership at its first credit note, and
        the register then refuses to refund it."""
        line = self._membership()
        invoice = line.account_invoice_id
        credit_note = invoice._reverse_moves([{"invoice_date": self.today}])
        credit_note.invoice_line_ids.price_unit = 100.0
        credit_note.action_post()
        self.assertEqual(line.state, "canceled")
        with self.assertRefused("cancelled already"):
            line.with_user(self.refund_user).action_client_refund()

    def test_register_partial_refund_keeps_the_membership_paid(self):
        """Where the register refunded part of a membership's invoice (another
        line), the membership stays paid, where core would cancel it."""
        line = self._membership(extra_product=self.haircut)
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=line.account_invoice_id.id)
        ) as wizard:
            wizard.reason_id = self.reason
            wizard.refund_mode = "lines"
            for index in range(len(wizard.line_ids)):
                with wizard.line_ids.edit(index) as row:
                    if row.product_id == self.haircut:
                        row.quantity = 1.0
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertEqual(line.state, "paid")
        self.assertEqual(self.client.membership_state, "paid")

    def test_core_credit_note_of_the_membership_line_of_a_larger_invoice(self):
        def credit(line, product):
            credit_note = line.account_invoice_id._reverse_moves([{"invoice_date": self.today}])
            credit_note.invoice_line_ids.filtered(lambda l: l.product_id != product).unlink()
            credit_note.action_post()
            self.assertAlmostEqual(credit_note.amount_total, 345.0 if product == self.gold else 115.0)

        # the whole membership line: cancelled, though the haircut stays billed
        line = self._membership(extra_product=self.haircut)
        self.assertEqual(line.state, "paid")
        credit(line, self.gold)
        self.assertEqual(line.state, "canceled")
        self.assertEqual(self.client.membership_state, "canceled")
        with self.assertRefused("cancelled already"):
            line.with_user(self.refund_user).action_client_refund()
        # the haircut only: core cancels the membership all the same (the
        # register leaves memberships it never refunded to core)
        other = self._membership(extra_product=self.haircut)
        credit(other, self.haircut)
        self.assertEqual(other.state, "canceled")

    def test_refund_from_the_client(self):
        line = self._membership()
        client = self.client.with_user(self.refund_user)
        self.assertEqual(client.client_refund_membership_line_ids, line)
        action = line.with_user(self.refund_user).action_client_refund()
        self.assertEqual(action["res_model"], "client.refund.balance.wizard")
        self.assertEqual(action["context"]["default_membership_line_id"], line.id)
        self._refund(membership_line=line, user=self.refund_user, refund_option="cancel_sale")
        self.assertFalse(client.client_refund_membership_line_ids)
        self.assertIn("Gold Membership", line.display_name)

    # ------------------------------------------------------------------
    # bad input: a clear error, nothing written
    # ------------------------------------------------------------------

    def test_bad_input_membership_already_cancelled(self):
        line = self._membership()
        self._refund(membership_line=line, user=self.refund_user, refund_option="cancel_sale")
        with self.assertRefused("cancelled already"):
            line.with_user(self.refund_user).action_client_refund()
        self._assert_refused("cancelled already", line, refund_option="expense", amount=10.0)

    def test_bad_input_membership_refunded_twice(self):
        line = self._membership()
        refund = self._refund(membership_line=line, user=self.refund_user, refund_option="expense")
        self.assertAlmostEqual(refund.amount_paid_back, 230.0)
        self.assertEqual(line.date_to, self.today)
        with self.assertRefused("ended or cancelled by refund"):
            line.with_user(self.refund_user).action_client_refund()
        pattern = f"ended or cancelled by refund {refund.name} already"
        self._assert_refused(pattern, line, refund_option="expense", amount=100.0)
        self._assert_refused(pattern, line, refund_option="credit_note", amount=100.0)
        self._assert_refused(pattern, line, refund_option="cancel_sale")
        payouts = self.env["account.payment"].search([("payment_type", "=", "outbound")])
        self.assertEqual(payouts, refund.payment_ids, "paid out once")
        self.assertAlmostEqual(sum(payouts.mapped("amount")), 230.0)
        self.assertEqual(line.account_invoice_id.payment_state, "paid", "no credit note")

    def test_bad_input_unpaid_membership_is_not_paid_out(self):
        line = self._membership(pay=False)
        self._assert_refused("is not paid in full", line, refund_option="expense", amount=100.0)
        self.assertEqual(line.state, "invoiced")

    def test_bad_input_cancel_an_ended_membership(self):
        line = self._membership()
        line.write(
            {"date_from": self.today - timedelta(days=30), "date_to": self.today - timedelta(days=1)}
        )
        self._assert_refused("ended on", line, refund_option="cancel_sale")

    def test_bad_input_amount_above_what_was_paid(self):
        line = self._membership()
        self._assert_refused(
            "Only .*345.00.* left to refund, not .*345.01", line, amount=345.01
        )
        self._assert_refused("must be positive", line, amount=0.0)
        self._assert_refused("must be positive", line, refund_option="expense", amount=-1.0)

    def test_bad_input_partial_refund_before_the_start_or_after_the_end(self):
        self.gold.write(
            {
                "membership_date_from": self.today + timedelta(days=1),
                "membership_date_to": self.today + timedelta(days=30),
            }
        )
        line = self._membership()
        self.assertEqual(
            self._wizard(membership_line=line, user=self.refund_user).refund_option,
            "cancel_sale",
            "nothing used: cancelled by default",
        )
        self._assert_refused("starts on", line, refund_option="credit_note", amount=10.0)
        line.date_from = self.today - timedelta(days=30)
        line.date_to = self.today - timedelta(days=1)
        self._assert_refused("ended on", line, refund_option="expense", amount=10.0)

    def test_bad_input_unposted_invoice_or_other_lines(self):
        draft = self._membership(pay=False, post=False)
        with self.assertRefused("is not posted"):
            draft.with_user(self.refund_user).action_client_refund()
        self._assert_refused("is not posted", draft, refund_option="expense", amount=10.0)
        line = self._membership(extra_product=self.haircut)
        self._assert_refused("also bills other things", line, refund_option="credit_note")

    def test_bad_input_membership_of_another_company(self):
        line = self._membership()
        written = self._written()
        with self.assertRefused("Incompatible companies"):
            self.env["client.refund.balance.wizard"].create(
                {
                    "membership_line_id": line.id,
                    "refund_option": "expense",
                    "payout_journal_id": self.company_data_2["default_journal_cash"].id,
                    "reason_id": self.reason.id,
                }
            ).action_confirm()
        refund = self.env["client.refund"].new(
            {
                "company_id": self.company_2.id,
                "source_type": "membership",
                "source_membership_line_id": line.id,
                "amount": 10.0,
                "payout_method": "refund_account",
                "reason_id": self.reason.id,
            }
        )
        with self.assertRefused("belongs to .*, not to"):
            line._client_refund_check_request(refund)
        self.assertEqual(self._written(), written)
