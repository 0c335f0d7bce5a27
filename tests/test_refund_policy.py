from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import RefundPolicyMixin
from .test_invoice_refund import InvoiceRefundCommon


class RefundPolicyInvoiceCommon(RefundPolicyMixin, InvoiceRefundCommon):
    """A haircut (100.00 + 15 % tax = 115.00) under the salon's services policy,
    a shampoo under the 30-day retail policy, an opened serum as final sale."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_policies()
        cls._set_policy(cls.haircut, cls.service_policy)
        cls._set_policy(cls.shampoo, cls.retail_policy)
        cls.serum = cls._create_product(name="Opened serum", type="consu", lst_price=40.0)
        cls._set_policy(cls.serum, cls.final_sale_policy)

    def _paid_invoice(self, lines, days_ago=0):
        invoice = self._invoice(
            lines, invoice_date=fields.Date.today() - timedelta(days=days_ago)
        )
        self._pay(invoice)
        return invoice

    def _fee_invoice_lines(self, refund, account):
        return refund.fee_move_ids.line_ids.filtered(lambda line: line.account_id == account)

    def _assert_fee_booked(self, refund, fee_untaxed, fee_tax):
        """The fee is invoiced on the fee product: its income account and tax
        book it, and what the client paid settled it."""
        fee_invoice = refund.fee_move_ids
        self.assertEqual(len(fee_invoice), 1)
        self.assertEqual(fee_invoice.state, "posted")
        self.assertEqual(fee_invoice.move_type, "out_invoice")
        self.assertEqual(fee_invoice.partner_id, self.client)
        self.assertAlmostEqual(fee_invoice.amount_total, fee_untaxed + fee_tax)
        self.assertEqual(fee_invoice.invoice_line_ids.product_id, self.fee_product)
        self.assertAlmostEqual(self._balance(self.fee_income), -fee_untaxed)
        self.assertAlmostEqual(self._balance(self.fee_tax_account), -fee_tax)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))


@tagged("post_install", "-at_install")
class TestRefundPolicyInvoice(RefundPolicyInvoiceCommon):

    # ------------------------------------------------------------------
    # who is at fault
    # ------------------------------------------------------------------

    def test_business_at_fault_refunds_in_full(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_business)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, self.service_policy)
        self.assertFalse(refund.fee_ids)
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertFalse(refund.fee_move_ids)
        self.assertEqual(self._balance(self.fee_income), 0.0)
        self.assertEqual(invoice.payment_state, "reversed")

    def test_late_cancellation_keeps_the_fee_as_income(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        wizard = self._wizard_form(invoice)
        wizard.reason_id = self.reason_late
        self.assertEqual(
            wizard.money_line,
            f"The client gets back {self._fmt(57.5)} in cash; {self._fmt(57.5)} "
            f"late-cancellation fee kept (Salon services: 50 %, at least {self._fmt(10.0)}).",
        )
        wizard.save()
        refund = self._confirm(wizard)

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount, 115.0)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.amount_paid_back, 57.5)
        self.assertRecordValues(
            refund.fee_ids,
            [{"policy_id": self.service_policy.id, "fault": "late_cancel", "base": 115.0,
              "amount": 57.5, "amount_waived": 0.0}],
        )
        # the credit note credits the service in full; the fee is income apart
        self.assertEqual(refund.credit_note_ids.amount_total, 115.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self._assert_fee_booked(refund, 50.0, 7.5)
        self.assertAlmostEqual(self._balance(self.revenue), 0.0)
        # the fee was settled from the client's payment, the rest paid back
        client_payment = invoice.reversal_move_ids and self.env["account.payment"].search(
            [("partner_id", "=", self.client.id), ("payment_type", "=", "inbound")]
        )
        fee_receivable = self._fee_invoice_lines(refund, self.receivable)
        self.assertEqual(
            fee_receivable.matched_credit_ids.credit_move_id.payment_id, client_payment
        )
        self.assertEqual(refund.payment_ids.amount, 57.5)
        self.assertEqual(refund.payment_ids.payment_type, "outbound")
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        story = " ".join(refund.message_ids.mapped("body"))
        self.assertIn("late-cancellation fee kept", story)
        self.assertIn(refund.name, " ".join(invoice.message_ids.mapped("body")))

    def test_no_show_keeps_the_whole_price(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_no_show)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_fee, 115.0)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.payout_method, "none")
        self._assert_fee_booked(refund, 100.0, 15.0)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_late_cancellation_of_an_unpaid_invoice_leaves_the_fee_due(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(refund.fee_move_ids.payment_state, "not_paid")
        self.assertEqual(self._balance(self.receivable, self.client), 57.5)

    def test_minimum_fee(self):
        # 50 % of 11.50 is 5.75: the policy keeps at least 10.00
        self.service_policy.late_fee_min = 11.5
        invoice = self._paid_invoice([(self.haircut, 1, 10.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.amount_fee, 11.5)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self._assert_fee_booked(refund, 10.0, 1.5)

    # ------------------------------------------------------------------
    # several policies, several refunds
    # ------------------------------------------------------------------

    def test_lines_under_two_policies_each_keep_their_own(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0), (self.shampoo, 1, 20.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.policy_ids, self.service_policy | self.retail_policy)
        self.assertRecordValues(
            refund.fee_ids, [{"policy_id": self.service_policy.id, "base": 115.0, "amount": 57.5}]
        )
        self.assertEqual(refund.amount, 138.0)
        self.assertEqual(refund.amount_paid_back, 80.5)
        self._assert_fee_booked(refund, 50.0, 7.5)

    def test_refund_in_parts_keeps_the_fee_once(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        first = self._refund(invoice, mode="amount", amount=57.5, reason_id=self.reason_late)
        self.assertEqual(first.amount_fee, 28.75)
        second = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(second.amount, 57.5)
        self.assertEqual(second.amount_fee, 28.75)
        # as much as one refund of it all, and not a second minimum
        self.assertEqual(first.amount_fee + second.amount_fee, 57.5)
        self.assertEqual(first.amount_paid_back + second.amount_paid_back, 57.5)
        self.assertAlmostEqual(self._balance(self.fee_income), -50.0)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_refund_line_by_line_keeps_the_fee_once(self):
        invoice = self._paid_invoice([(self.haircut, 2, 50.0)])
        line = invoice.invoice_line_ids
        fees = []
        for _quantity in range(2):
            with self._wizard_form(invoice) as wizard:
                wizard.refund_mode = "lines"
                wizard.reason_id = self.reason_late
                with wizard.line_ids.edit(0) as wizard_line:
                    wizard_line.quantity = 1
            refund = self._confirm(wizard)
            self.assertEqual(refund.line_ids.move_line_id, line)
            fees.append(refund.amount_fee)
        self.assertEqual(fees, [28.75, 28.75])
        self.assertAlmostEqual(self._balance(self.fee_income), -50.0)

    # ------------------------------------------------------------------
    # the window and final sale
    # ------------------------------------------------------------------

    def test_past_the_window_is_refused(self):
        invoice = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=31)
        counts = self._counts()
        with self.assertRefused("past the refund window of Retail"):
            self._refund(invoice, reason_id=self.reason_returned)
        self.assertEqual(self._counts(), counts)
        # within it, the product goes back with no fee
        recent = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=30)
        refund = self._refund(recent, reason_id=self.reason_returned)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 23.0)

    def test_past_the_window_waits_for_approval(self):
        self._set_policy(self.shampoo, self.retail_approval_policy)
        invoice = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=45)
        wizard = self._wizard_form(invoice)
        wizard.reason_id = self.reason_returned
        self.assertIn("past the 30-day refund window of Retail, late with approval", wizard.approval_line)
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.credit_note_ids)
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(invoice.payment_state, "reversed")

    def test_final_sale_is_refused_to_a_refund_user(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        counts = self._counts()
        with self.assertRefused("final sale"):
            self._refund(invoice, reason_id=self.reason_returned)
        self.assertEqual(self._counts(), counts)

    def test_final_sale_lines_are_not_offered(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0), (self.shampoo, 1, 20.0)])
        wizard = self._wizard_form(invoice)
        wizard.refund_mode = "lines"
        wizard.reason_id = self.reason_returned
        self.assertEqual(
            [(line["product_id"], line["final_sale"]) for line in (
                wizard.line_ids._records[index] for index in range(len(wizard.line_ids))
            )],
            [(self.serum.id, True), (self.shampoo.id, False)],
        )
        with wizard.line_ids.edit(0) as serum_line:
            with self.assertRaises(AssertionError):  # read-only in the form
                serum_line.quantity = 1
        with wizard.line_ids.edit(1) as shampoo_line:
            shampoo_line.quantity = 1
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.line_ids.product_id, self.shampoo)
        self.assertEqual(refund.policy_ids, self.retail_policy)

    def test_final_sale_waived_by_a_manager(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        refund = self._refund(
            invoice, user=self.refund_manager, reason_id=self.reason_returned,
            waive_policy=True, waiver_reason="Allergic reaction, seen by the manager",
        )
        self.assertEqual(refund.state, "done")
        self.assertTrue(refund.policy_waived)
        self.assertEqual(refund.waived_by_id, self.refund_manager)
        self.assertEqual(refund.waiver_reason, "Allergic reaction, seen by the manager")
        self.assertIn(
            f"Policy waived by {self.refund_manager.name}: Allergic reaction, seen by the manager.",
            " ".join(refund.message_ids.mapped("body")),
        )

    def test_waiver_asked_by_a_refund_user_waits_for_approval(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        refund = self._refund(
            invoice, reason_id=self.reason_returned, waive_policy=True,
            waiver_reason="Sealed, never opened",
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.waived_by_id)
        self.assertIn(
            "the refund policy is asked to be waived: Sealed, never opened",
            " ".join(refund.message_ids.mapped("body")),
        )
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.waived_by_id, self.refund_manager)

    def test_business_reason_lifts_final_sale_only_with_a_manager(self):
        """A reason where the business is at fault lifts final sale and the
        window: a refund manager's decision, which a refund user asks for."""
        goodwill = self.env.ref("client_refund.reason_goodwill")
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        refund = self._refund(invoice, reason_id=goodwill)
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.credit_note_ids)
        self.assertIn(
            f"the reason Goodwill gesture lifts the refund policy: {invoice.name} is a final "
            "sale (Opened cosmetics)",
            " ".join(refund.message_ids.mapped("body")),
        )
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        old = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=200)
        by_manager = self._refund(old, user=self.refund_manager, reason_id=goodwill)
        self.assertEqual(by_manager.state, "done")
        self.assertEqual(by_manager.amount_paid_back, 23.0)

    def test_approval_refused_when_the_policy_changed_meanwhile(self):
        self._set_policy(self.shampoo, self.retail_approval_policy)
        invoice = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=45)
        refund = self._refund(invoice, reason_id=self.reason_returned)
        self.assertEqual(refund.state, "to_approve")
        self._set_policy(self.shampoo, self.final_sale_policy)
        counts = self._counts()
        with self.assertRefused("would now fall under Opened cosmetics"):
            refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(self._counts(), counts)

    def test_fee_invoice_is_not_refunded_nor_rebooked(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        fee_invoice = refund.fee_move_ids
        wizard = self._wizard_form(fee_invoice)
        self.assertRegex(wizard.refusal, f"is the fee kept by refund {refund.name}")
        self.assertNotIn(
            fee_invoice, self.env["account.move"]._client_refund_search_client_documents(self.client, 50)
        )
        income_line = self._fee_invoice_lines(refund, self.fee_income)
        with self.assertRefused(f"belongs to refund {refund.name}"):
            income_line.with_user(self.refund_manager).write({"account_id": self.revenue.id})
        self.assertEqual(income_line.account_id, self.fee_income)

    def test_manager_cancels_an_earlier_refund_after_later_payments(self):
        """Core deletes a cancelled payment's draft entry, which it refuses once a
        later entry of the journal is numbered: the payout is cancelled as it is."""
        first = self._refund(self._paid_invoice([(self.haircut, 1, 100.0)]), reason_id=self.reason_late)
        self._refund(self._paid_invoice([(self.haircut, 1, 100.0)]), reason_id=self.reason_business)
        payout = first.payment_ids
        number = payout.move_id.name
        first.with_user(self.refund_manager).action_cancel()
        self.assertEqual(first.state, "cancel")
        self.assertEqual(payout.state, "canceled")
        self.assertEqual(payout.move_id.state, "cancel")
        self.assertEqual(payout.move_id.name, number)
        self.assertEqual(first.fee_move_ids.state, "cancel")

    def test_core_credit_note_of_a_final_sale_cannot_drop_its_product(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        credit_note = self._core_credit_note(invoice, self.refund_user)
        credit_note.invoice_line_ids.with_user(self.refund_user).write({"product_id": False})
        with self.assertRefused("falls under the refund policy Opened cosmetics"):
            credit_note.with_user(self.refund_user).action_post()

    def test_waiver_needs_a_reason(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        wizard = self._wizard_form(invoice, user=self.refund_manager)
        wizard.reason_id = self.reason_returned
        wizard.waive_policy = True
        self.assertEqual(wizard.refusal, "Say why the refund policy is waived.")

    def test_fee_waived_by_a_manager(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(
            invoice, user=self.refund_manager, reason_id=self.reason_late,
            waive_policy=True, waiver_reason="Family emergency",
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertRecordValues(refund.fee_ids, [{"amount": 0.0, "amount_waived": 57.5}])
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertFalse(refund.fee_move_ids)
        self.assertEqual(self._balance(self.fee_income), 0.0)

    def test_fee_waiver_asked_by_a_refund_user_is_approved_then_made(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(
            invoice, reason_id=self.reason_late, waive_policy=True, waiver_reason="Snowstorm"
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.credit_note_ids)
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertRecordValues(refund.fee_ids, [{"amount": 0.0, "amount_waived": 57.5}])

    def test_manager_cancel_undoes_the_fee_invoice(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        fee_invoice = refund.fee_move_ids
        refund.with_user(self.refund_manager).action_cancel()
        self.assertEqual(refund.state, "cancel")
        self.assertEqual(fee_invoice.state, "cancel")
        self.assertEqual(self._balance(self.fee_income), 0.0)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_core_cannot_reset_the_fee_invoice(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        with self.assertRefused("belongs to refund"):
            refund.fee_move_ids.with_user(self.refund_manager).button_draft()

    def _core_credit_note(self, invoice, user):
        reversal = (
            self.env["account.move.reversal"]
            .with_user(user)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id, "reason": "core button"})
        )
        return self.env["account.move"].browse(reversal.refund_moves()["res_id"])

    def test_core_credit_note_of_a_final_sale_is_for_a_manager(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        credit_note = self._core_credit_note(invoice, self.refund_user)
        with self.assertRefused("falls under the refund policy Opened cosmetics"):
            credit_note.with_user(self.refund_user).action_post()
        self.assertEqual(credit_note.state, "draft")
        credit_note.with_user(self.refund_manager).action_post()
        self.assertEqual(credit_note.state, "posted")

    def test_core_credit_note_past_the_window_is_for_a_manager(self):
        invoice = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=31)
        credit_note = self._core_credit_note(invoice, self.refund_user)
        with self.assertRefused("refunds within 30 days"):
            credit_note.with_user(self.refund_user).action_post()
        self.assertEqual(credit_note.state, "draft")

    # ------------------------------------------------------------------
    # companies and bad input
    # ------------------------------------------------------------------

    def test_another_companys_policy_is_never_applied(self):
        other_policy = self.env["client.refund.policy"].sudo().create(
            {"name": "Other company", "company_id": self.company_2.id, "final_sale": True}
        )
        # sudo: set up as company 2's own administrator would
        self._set_policy(self.haircut.sudo(), other_policy.sudo())
        self.company_2.sudo().client_refund_policy_id = other_policy
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_returned)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, self.service_policy)
        with self.assertRefused("That refund policy is not one of company_1_data", ValidationError):
            self.haircut.product_tmpl_id.with_company(self.company).client_refund_policy_id = other_policy
        with self.assertRefused("That refund policy is not one of company_1_data", ValidationError):
            self.company.client_refund_policy_id = other_policy
        with self.assertRefused("That refund policy is not one of company_1_data", ValidationError):
            self.haircut.categ_id.with_company(self.company).client_refund_policy_id = other_policy

    def test_bad_input_policy_fees(self):
        Policy = self.env["client.refund.policy"].with_user(self.refund_manager)
        base = {"name": "Bad", "fee_product_id": self.fee_product.id}
        count = Policy.search_count([])
        for values, pattern in (
            ({"late_fee_percent": -5.0}, "between 0 and 100"),
            ({"no_show_fee_percent": 150.0}, "between 0 and 100"),
            ({"late_fee_fixed": -1.0}, "cannot be negative"),
            ({"late_fee_min": 20.0, "late_fee_max": 10.0}, "below its minimum"),
            ({"window_days": -1}, "0 or more days"),
            ({"late_fee_percent": 10.0, "fee_product_id": False}, "choose the fee product"),
            ({"late_fee_percent": float("nan")}, "not a valid number"),
        ):
            with self.subTest(values=values), self.assertRefused(pattern, ValidationError):
                Policy.create({**base, **values})
        self.assertEqual(Policy.search_count([]), count)

    def test_bad_input_fee_product_without_income_account(self):
        category = self.env["product.category"].create({"name": "No accounts"})
        category.with_company(self.company).property_account_income_categ_id = False
        product = self.env["product.product"].create(
            {"name": "Fee without account", "type": "service", "categ_id": category.id}
        )
        with self.assertRefused("has no income account", ValidationError):
            self.env["client.refund.policy"].with_user(self.refund_manager).create(
                {"name": "No account", "late_fee_percent": 10.0, "fee_product_id": product.id}
            )

    def test_refund_users_cannot_edit_policies(self):
        with self.assertRefused("not allowed", Exception):
            self.service_policy.with_user(self.refund_user).write({"late_fee_percent": 0.0})
        self.assertEqual(self.service_policy.late_fee_percent, 50.0)

    def test_company_without_policies_refunds_as_before(self):
        self.env["client.refund.policy"].search([]).write({"active": False})
        self.company.client_refund_policy_id = False
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertFalse(refund.policy_ids)
        self.assertEqual(refund.amount_paid_back, 115.0)

    def test_default_policy_governs_what_has_none(self):
        self.company.client_refund_policy_id = self.service_policy
        product = self._create_product(name="Beard trim", type="service", lst_price=20.0)
        invoice = self._paid_invoice([(product, 1, 20.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.policy_ids, self.service_policy)
        # 50 % of 23.00 is 11.50, above the minimum
        self.assertEqual(refund.amount_fee, 11.5)
        self.assertEqual(refund.amount_paid_back, 11.5)
