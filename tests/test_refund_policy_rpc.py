"""Refund policies against crafted requests and at Stripe.

Each JSON-RPC test stands for a front desk trying to dodge the policy by hand
over /web/dataset/call_kw: another amount, reason or fault, the lines one by
one, the register written, the waiver granted to oneself. Each asserts the
refusal (or the wait for a manager) and what was booked."""

from odoo import Command
from odoo.tests import HttpCase, tagged

from .common import LocalStripeMixin, RefundPolicyMixin
from .test_invoice_refund import InvoiceRefundCommon
from .test_trust_boundary import TrustBoundaryMixin


class PolicyRpcCommon(RefundPolicyMixin, InvoiceRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_policies()
        cls._set_policy(cls.haircut, cls.service_policy)
        cls.serum = cls._create_product(name="Opened serum", type="consu", lst_price=40.0)
        cls._set_policy(cls.serum, cls.final_sale_policy)

    def _paid_invoice(self, lines):
        invoice = self._invoice(lines)
        self._pay(invoice)
        return invoice


@tagged("post_install", "-at_install")
class TestRefundPolicyRpc(TrustBoundaryMixin, PolicyRpcCommon, HttpCase):
    BOOKED_MODELS = (*TrustBoundaryMixin.BOOKED_MODELS, "client.refund.fee")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()

    def _vals(self, invoice, reason, **values):
        return {"source_type": "invoice", "move_id": invoice.id, "reason_id": reason.id, **values}

    def test_crafted_amounts_keep_the_fee(self):
        """Attack: refund an amount by hand, hoping the fee follows the amount
        asked rather than what the policy says; and the fields of the register
        sent as context defaults."""
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        context = {
            "default_amount_fee": 0.0,
            "default_policy_waived": True,
            "default_waived_by_id": self.refund_user.id,
            "default_fee_ids": [],
            "default_policy_ids": [],
        }
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(invoice, self.reason_late, refund_mode="amount", amount=115.0),
            context=context,
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertFalse(refund.policy_waived)
        self.assertFalse(refund.waived_by_id)
        self.assertEqual(refund.policy_ids, self.service_policy)
        self.assertEqual(refund.amount_paid_back, 57.5)
        self.assertAlmostEqual(self._balance(self.fee_income), -50.0)

    def test_reason_and_fault_cannot_be_rewritten(self):
        """Attack: a refund user makes the late-cancellation reason one where the
        business is at fault, or sends the fault with the wizard."""
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        booked = self._booked()
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund.reason", "write", [self.reason_late.id],
                      {"fault": "business", "apply_policy": False})
        with self.assertRpcRefused("ValidationError", pattern="has no field fault"):
            self._wizard_over_rpc(self.refund_user, self._vals(invoice, self.reason_late, fault="business"))
        self.assertNothingBooked(booked)
        self.assertEqual(self.reason_late.fault, "late_cancel")
        refund = self._wizard_over_rpc(self.refund_user, self._vals(invoice, self.reason_late))
        self.assertEqual(refund.amount_fee, 57.5)

    def test_another_companys_reason_is_refused(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        other_reason = self.env["client.refund.reason"].create(
            {"name": "Their goodwill", "company_id": self.company_2.id, "fault": "business",
             "apply_policy": False}
        )
        booked = self._booked()
        with self.assertRpcRefused("UserError", "AccessError", "ValidationError"):
            self._wizard_over_rpc(self.refund_user, self._vals(invoice, other_reason))
        self.assertNothingBooked(booked)

    def test_lines_one_by_one_keep_the_fee_once(self):
        invoice = self._paid_invoice([(self.haircut, 2, 50.0)])
        line = invoice.invoice_line_ids
        refunds = self.env["client.refund"]
        for _quantity in range(2):
            refunds |= self._wizard_over_rpc(
                self.refund_user,
                self._vals(invoice, self.reason_late, refund_mode="lines",
                           line_ids=[Command.create({"move_line_id": line.id, "quantity": 1.0})]),
            )
        self.assertEqual(refunds.mapped("amount_fee"), [28.75, 28.75])
        self.assertEqual(sum(refunds.mapped("amount_paid_back")), 57.5)
        self.assertAlmostEqual(self._balance(self.fee_income), -50.0)

    def test_register_fees_and_waiver_cannot_be_written(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._wizard_over_rpc(self.refund_user, self._vals(invoice, self.reason_late))
        booked = self._booked()
        for user in (self.refund_user, self.refund_manager):
            for vals in (
                {"amount_fee": 0.0},
                {"policy_waived": True, "waiver_reason": "me", "waived_by_id": user.id},
                {"fee_ids": [Command.clear()]},
                {"policy_ids": [Command.clear()]},
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRpcRefused(
                    "UserError", pattern="cannot be changed"
                ):
                    self._rpc(user, "client.refund", "write", [refund.id], vals)
            with self.subTest(user=user.login), self.assertRpcRefused("AccessError"):
                self._rpc(user, "client.refund.fee", "write", refund.fee_ids.ids, {"amount": 0.0})
            with self.subTest(user=user.login), self.assertRpcRefused("AccessError"):
                self._rpc(user, "client.refund.fee", "create",
                          {"refund_id": refund.id, "policy_id": self.service_policy.id,
                           "fault": "late_cancel", "amount": -57.5})
        self.assertNothingBooked(booked)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertFalse(refund.policy_waived)

    def test_waiver_asked_by_a_refund_user_books_nothing_until_approved(self):
        invoice = self._paid_invoice([(self.serum, 1, 40.0)])
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern="final sale"):
            self._wizard_over_rpc(self.refund_user, self._vals(invoice, self.reason_returned))
        with self.assertRpcRefused("UserError", pattern="Say why"):
            self._wizard_over_rpc(
                self.refund_user, self._vals(invoice, self.reason_returned, waive_policy=True)
            )
        self.assertNothingBooked(booked)
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(invoice, self.reason_returned, waive_policy=True, waiver_reason="please"),
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertNothingBooked(booked, client_refund=1)
        # nobody approves their own waiver, and a refund user approves nothing
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund", "action_approve", [refund.id])
        self.assertNothingBooked(booked, client_refund=1)
        self.assertEqual(refund.state, "to_approve")

    def test_reasons_are_edited_by_their_companys_managers(self):
        """Attack: another company's manager makes the shared late-cancellation
        reason one where the business is at fault."""
        for user in (self.company_2_manager, self.refund_manager):
            with self.subTest(user=user.login), self.assertRpcRefused("AccessError"):
                self._rpc(user, "client.refund.reason", "write", self.reason_late.ids,
                          {"fault": "business", "apply_policy": False})
        self.assertEqual(self.reason_late.fault, "late_cancel")
        own = self.env["client.refund.reason"].create(
            {"name": "Our late cancellations", "company_id": self.company.id, "fault": "late_cancel"}
        )
        self._rpc(self.refund_manager, "client.refund.reason", "write", own.ids, {"sequence": 5})
        self.assertEqual(own.sequence, 5)

    def test_policy_fields_are_for_refund_managers(self):
        for user in (self.refund_user, self.billing_user):
            with self.subTest(user=user.login), self.assertRpcRefused("AccessError"):
                self._rpc(user, "product.template", "write", self.serum.product_tmpl_id.ids,
                          {"client_refund_policy_id": False})
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.billing_user, "res.company", "read", self.company.ids,
                      ["client_refund_policy_id"])
        self.assertEqual(
            self.serum.product_tmpl_id.with_company(self.company).client_refund_policy_id,
            self.final_sale_policy,
        )

    def test_bad_types_are_validation_errors(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        booked = self._booked()
        for vals in (
            {"window_days": 2**31},
            {"late_fee_percent": "abc"},
            {"late_fee_percent": [1]},
            {"late_fee_min": {"a": 1}},
        ):
            with self.subTest(vals=vals), self.assertRpcRefused("ValidationError"):
                self._rpc(self.refund_manager, "client.refund.policy", "write",
                          self.service_policy.ids, vals)
        for vals in ({"amount": "abc", "refund_mode": "amount"}, {"reason_id": "abc"}):
            with self.subTest(vals=vals), self.assertRpcRefused("ValidationError"):
                self._wizard_over_rpc(self.refund_user, self._vals(invoice, self.reason_late, **vals))
        self.assertNothingBooked(booked)
        self.assertEqual(self.service_policy.late_fee_percent, 50.0)

    def test_outsiders_cannot_read_or_edit_policies(self):
        for user in (self.billing_user, self.portal_user, self.internal_user):
            with self.subTest(user=user.login), self.assertRpcRefused("AccessError"):
                self._rpc(user, "client.refund.policy", "write", self.service_policy.ids,
                          {"late_fee_percent": 0.0})
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.company_2_manager, "client.refund.policy", "write",
                      self.service_policy.ids, {"late_fee_percent": 0.0})
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund.policy", "write", self.service_policy.ids,
                      {"late_fee_percent": 0.0})
        self.assertEqual(self.service_policy.late_fee_percent, 50.0)


@tagged("post_install", "-at_install")
class TestRefundPolicyCard(LocalStripeMixin, PolicyRpcCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.bank_journal)

    def test_card_refund_paid_by_stripe_is_booked_as_sent(self):
        """The policy changes while the card refund waits for Stripe: Stripe
        paid what was sent, and the fee the card did not get back is booked."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, reason_id=self.reason_late)
        self.service_policy.late_fee_percent = 40.0
        self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual(refund.state, "done")
        self.assertEqual(
            [stripe_refund.amount for stripe_refund in self._stripe_refunds(transaction.provider_reference)],
            [5750],
        )
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.fee_move_ids.amount_total, 57.5)
        self.assertEqual(refund.payment_ids.amount, 57.5)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_card_gets_the_amount_less_the_fee(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.amount_to_card, 57.5)
        self.assertFalse(refund.fee_move_ids)

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        sent = self._stripe_refunds(transaction.provider_reference)
        self.assertEqual([stripe_refund.amount for stripe_refund in sent], [5750])
        self.assertEqual(refund.payment_ids.amount, 57.5)
        self.assertEqual(refund.amount_paid_back, 57.5)
        self.assertEqual(invoice.payment_state, "reversed")
        fee_invoice = refund.fee_move_ids
        self.assertEqual(fee_invoice.amount_total, 57.5)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        fee_receivable = fee_invoice.line_ids.filtered(
            lambda line: line.account_id == self.receivable
        )
        self.assertEqual(
            fee_receivable.matched_credit_ids.credit_move_id.payment_id, transaction.payment_id
        )
        self.assertAlmostEqual(self._balance(self.fee_income), -50.0)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
