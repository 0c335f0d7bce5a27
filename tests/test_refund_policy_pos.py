from datetime import datetime, time, timedelta

import pytz

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from . import test_pos_refund
from .common import RefundPolicyMixin

FRONT_DESK = "pos_policy_front_desk"
MANAGER = "pos_policy_manager"


class PosPolicyCommon(RefundPolicyMixin, test_pos_refund.PosRefundCommon):
    """The salon's refund policies at the till: the haircut (107.00, tax
    excluded 7 %) and the massage (110.00, tax included 10 %) are services
    under the service policy (50 % late, at least 10.00; 100 % no-show), on a
    fee product taxed 15 % with its own income and tax accounts. Refunds are
    asked through the wizard by a front desk without accounting rights."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_policies()
        cls.fee_tax_account = cls.env["account.account"].with_company(cls.company).create(
            {
                "name": "Fee tax 15 %",
                "code": "FEE02",
                "account_type": "liability_current",
                "company_ids": [Command.set(cls.company.ids)],
            }
        )
        (cls.fee_tax.invoice_repartition_line_ids | cls.fee_tax.refund_repartition_line_ids).filtered(
            lambda line: line.repartition_type == "tax"
        ).account_id = cls.fee_tax_account
        new_test_user(
            cls.env,
            login=FRONT_DESK,
            groups="base.group_user,point_of_sale.group_pos_user,"
            "client_refund.group_client_refund_user",
            company_id=cls.company.id,
        )
        cls.manager = new_test_user(
            cls.env,
            login=MANAGER,
            groups="base.group_user,point_of_sale.group_pos_user,"
            "client_refund.group_client_refund_manager",
            company_id=cls.company.id,
        )
        cls.approver = new_test_user(
            cls.env,
            login="pos_policy_approver",
            groups="base.group_user,point_of_sale.group_pos_user,"
            "client_refund.group_client_refund_manager",
            company_id=cls.company.id,
        )

    def setUp(self):
        super().setUp()
        self._set_policy(self.haircut, self.service_policy)
        self._set_policy(self.massage, self.service_policy)

    def _policy_refund(self, order, reason, quantities=None, login=FRONT_DESK, **values):
        """The refund `login` asks through the wizard: by lines for
        `quantities` ({product: quantity}), else as `values` say."""
        self.reason = reason
        with self.with_user(login):
            if quantities:
                refund = self._refund_lines(order, quantities)
            else:
                refund = self._refund(order, **values)
        return refund.with_env(self.env)

    def _close_session(self, counted):
        """Close the till counting `counted` in cash; returns the session."""
        session = self.pos_session
        self.assertAlmostEqual(session.cash_register_balance_end, counted)
        session.post_closing_cash_details(counted)
        # the web client closes in a new request, which computes the difference afresh
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        session.invalidate_recordset()
        self.assertAlmostEqual(session.cash_register_difference, 0.0)
        self.assertFalse(
            session.statement_line_ids.filtered(lambda line: line.amount < 0),
            "no cash difference was booked",
        )
        return session

    def _balance(self, move, account):
        return sum(move.line_ids.filtered(lambda line: line.account_id == account).mapped("balance"))

    def _messages(self, record):
        return " ".join(record.message_ids.mapped("body"))

    def _fee_lines(self, refund_order):
        return refund_order.lines.filtered(lambda line: line.product_id == self.fee_product)


@tagged("post_install", "-at_install")
class TestPosRefundPolicy(PosPolicyCommon):
    # ------------------------------------------------------------------
    # who is at fault
    # ------------------------------------------------------------------

    def test_business_at_fault_refunds_in_full(self):
        order = self._order([(self.haircut, 1)])
        refund = self._policy_refund(order, self.reason_business)

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, self.service_policy)
        self.assertFalse(refund.fee_ids)
        self.assertEqual(refund.amount_fee, 0.0)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.lines.product_id, self.haircut, "no fee line")
        self.assertAlmostEqual(refund_order.amount_total, -107.0)
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(refund_order.amount_paid, -107.0)
        self.assertAlmostEqual(refund.amount, 107.0)
        self.assertAlmostEqual(refund.amount_paid_back, 107.0)

    def test_late_cancellation_keeps_the_fee_and_the_till_closes_balanced(self):
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.haircut, 1)])
        currency = self.company.currency_id
        self.reason = self.reason_late
        with self.with_user(FRONT_DESK):
            form = self._wizard(order)
            # said before Confirm
            self.assertEqual(
                form.money_line,
                f"The client gets back {currency.format(53.5)} in cash at {self.config.name}; "
                f"{currency.format(53.5)} late-cancellation fee kept (Salon services: 50 %, "
                f"at least {currency.format(10.0)}).",
            )
            refund = self.env["client.refund"].browse(form.save().action_confirm()["res_id"])
        refund = refund.with_env(self.env)

        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount, 107.0, msg="the haircut is credited in full")
        self.assertAlmostEqual(refund.amount_fee, 53.5)
        self.assertEqual(refund.fee_ids.policy_id, self.service_policy)
        self.assertEqual(refund.fee_ids.fault, "late_cancel")
        self.assertAlmostEqual(refund.fee_ids.base, 107.0)
        self.assertAlmostEqual(refund.fee_ids.amount, 53.5)
        self.assertAlmostEqual(refund.amount_paid_back, 53.5)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        haircut_line = refund_order.lines.filtered("refunded_orderline_id")
        self.assertEqual(haircut_line.refunded_orderline_id, order.lines)
        self.assertAlmostEqual(haircut_line.price_subtotal_incl, -107.0)
        fee_line = self._fee_lines(refund_order)
        self.assertEqual(fee_line.qty, 1.0)
        self.assertEqual(fee_line.tax_ids, self.fee_tax)
        self.assertAlmostEqual(fee_line.price_subtotal, 46.52)
        self.assertAlmostEqual(fee_line.price_subtotal_incl, 53.5)
        self.assertAlmostEqual(refund_order.amount_total, -53.5)
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(refund_order.amount_paid, -53.5)

        # 107.00 taken, 53.50 paid out
        session = self._close_session(53.5)
        move = session.move_id
        self.assertEqual(move.state, "posted")
        self.assertAlmostEqual(sum(move.line_ids.mapped("debit")), sum(move.line_ids.mapped("credit")))
        self.assertAlmostEqual(self._balance(move, self.fee_income), -46.52)
        self.assertAlmostEqual(self._balance(move, self.fee_tax_account), -6.98)
        # the haircut's sale and refund cancel out, its tax too
        self.assertAlmostEqual(self._balance(move, self.sales_account), 0.0)
        self.assertAlmostEqual(self._balance(move, self.tax_received_account), 0.0)

    def test_fee_waived_by_a_manager(self):
        order = self._order([(self.haircut, 1)])
        refund = self._policy_refund(
            order, self.reason_late, login=MANAGER,
            waive_policy=True, waiver_reason="The stylist was ill",
        )
        self.assertEqual(refund.state, "done")
        self.assertTrue(refund.policy_waived)
        self.assertEqual(refund.waived_by_id, self.manager)
        self.assertEqual(refund.waiver_reason, "The stylist was ill")
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertAlmostEqual(refund.fee_ids.amount_waived, 53.5)
        self.assertEqual(refund.fee_ids.amount, 0.0)
        refund_order = refund.pos_order_ids
        self.assertFalse(self._fee_lines(refund_order))
        self.assertAlmostEqual(refund_order.amount_paid, -107.0)

    def test_no_show_keeps_the_price(self):
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.massage, 1)])
        refund = self._policy_refund(order, self.reason_no_show)

        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount, 110.0)
        self.assertAlmostEqual(refund.amount_fee, 110.0)
        self.assertEqual(refund.fee_ids.fault, "no_show")
        self.assertAlmostEqual(refund.fee_ids.amount, 110.0)
        self.assertAlmostEqual(refund.amount_paid_back, 0.0)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        self.assertFalse(refund_order.payment_ids, "nothing is paid out")
        self.assertAlmostEqual(refund_order.amount_total, 0.0)
        self.assertAlmostEqual(self._fee_lines(refund_order).price_subtotal_incl, 110.0)
        self.assertAlmostEqual(self._fee_lines(refund_order).price_subtotal, 95.65)
        self.assertFalse(order.has_refundable_lines)

        session = self._close_session(110.0)
        move = session.move_id
        self.assertAlmostEqual(self._balance(move, self.fee_income), -95.65)
        self.assertAlmostEqual(self._balance(move, self.fee_tax_account), -14.35)
        self.assertAlmostEqual(self._balance(move, self.sales_account), 0.0)

    # ------------------------------------------------------------------
    # several lines, several refunds
    # ------------------------------------------------------------------

    def test_lines_under_two_policies_keep_the_fee_on_the_service_only(self):
        self._set_policy(self.shampoo, self.retail_policy)
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.haircut, 1), (self.shampoo, 2)])
        self.assertAlmostEqual(order.amount_total, 128.4)
        refund = self._policy_refund(order, self.reason_late)

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, self.service_policy | self.retail_policy)
        self.assertEqual(refund.fee_ids.policy_id, self.service_policy, "retail keeps no fee")
        self.assertAlmostEqual(refund.fee_ids.base, 107.0, msg="the service's part only")
        self.assertAlmostEqual(refund.amount_fee, 53.5)
        refund_order = refund.pos_order_ids
        self.assertEqual(
            refund_order.lines.product_id, self.haircut | self.shampoo | self.fee_product
        )
        self.assertAlmostEqual(refund_order.amount_total, -74.9)
        self.assertAlmostEqual(refund_order.amount_paid, -74.9)
        self.assertEqual(refund_order.picking_ids.move_ids.product_id, self.shampoo)

        session = self._close_session(128.4 - 74.9)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_income), -46.52)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_tax_account), -6.98)

    def test_line_by_line_keeps_what_one_refund_keeps(self):
        lines = [(self.haircut, 1), (self.massage, 1)]
        at_once = self._policy_refund(self._order(lines), self.reason_late)
        self.assertAlmostEqual(at_once.amount_fee, 108.5)
        self.assertAlmostEqual(at_once.amount_paid_back, 108.5)

        order = self._order(lines)
        first = self._policy_refund(order, self.reason_late, quantities={self.haircut: 1.0})
        second = self._policy_refund(order, self.reason_late, quantities={self.massage: 1.0})
        self.assertEqual((first.state, second.state), ("done", "done"))
        # the second fee counts what the first kept: 50 % of 217.00 less 53.50
        self.assertAlmostEqual(first.fee_ids.base, 107.0)
        self.assertAlmostEqual(first.amount_fee, 53.5)
        self.assertAlmostEqual(second.fee_ids.base, 110.0)
        self.assertAlmostEqual(second.amount_fee, 55.0)
        self.assertAlmostEqual(first.amount_fee + second.amount_fee, at_once.amount_fee)
        self.assertAlmostEqual(
            first.amount_paid_back + second.amount_paid_back, at_once.amount_paid_back
        )
        self.assertAlmostEqual(first.pos_order_ids.amount_total, -53.5)
        self.assertAlmostEqual(second.pos_order_ids.amount_total, -55.0)
        self.assertAlmostEqual(self._fee_lines(second.pos_order_ids).price_subtotal_incl, 55.0)
        self.assertFalse(order.has_refundable_lines)

    def test_partial_refunds_never_keep_the_fee_twice(self):
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.haircut, 1)])
        first = self._policy_refund(order, self.reason_late, refund_mode="amount", amount=40.0)
        second = self._policy_refund(order, self.reason_late, refund_mode="amount", amount=30.0)
        last = self._policy_refund(order, self.reason_late)

        # 50 % of 40.00, then of 70.00 less 20.00, then of 107.00 less 35.00
        self.assertEqual([r.amount for r in (first, second, last)], [40.0, 30.0, 37.0])
        self.assertEqual([r.amount_fee for r in (first, second, last)], [20.0, 15.0, 18.5])
        self.assertEqual([r.amount_paid_back for r in (first, second, last)], [20.0, 15.0, 18.5])
        self.assertAlmostEqual(
            sum((first | second | last).mapped("amount_fee")), 53.5,
            msg="what a late cancellation of the whole haircut keeps",
        )
        refund_orders = (first | second | last).pos_order_ids
        self.assertEqual(len(self._fee_lines(refund_orders)), 3)
        self.assertAlmostEqual(sum(refund_orders.mapped("amount_total")), -53.5)
        self.assertFalse(order.has_refundable_lines)

        session = self._close_session(53.5)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_income), -46.52)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_tax_account), -6.98)

    def test_invoiced_order_late_cancellation(self):
        """The refund order's credit note credits the haircut and charges the
        fee on its own line: the fee's income and tax are booked by it."""
        order = self._order([(self.haircut, 1)], is_invoiced=True)
        invoice = order.account_move
        refund = self._policy_refund(order, self.reason_late)

        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount_fee, 53.5)
        self.assertAlmostEqual(refund.amount_paid_back, 53.5)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertAlmostEqual(credit_note.amount_total, 53.5)
        self.assertAlmostEqual(self._balance(credit_note, self.fee_income), -46.52)
        self.assertAlmostEqual(self._balance(credit_note, self.fee_tax_account), -6.98)
        self.assertAlmostEqual(self._balance(credit_note, self.sales_account), 100.0)
        # the invoice, its credit note and the money paid back are settled together
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertTrue(credit_note.currency_id.is_zero(credit_note.amount_residual))

    def test_fee_at_a_till_that_rounds_cash(self):
        """The till rounds what it pays back, not what the fee keeps: 40.05
        credited, 20.03 kept, 20.02 paid back in cash as 20.00."""
        self._round_cash(only_cash=False)
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.haircut, 1)], payments=[(self.cash_pm1, 107.0)])
        refund = self._policy_refund(order, self.reason_late, refund_mode="amount", amount=40.05)

        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount, 40.05)
        self.assertAlmostEqual(refund.amount_fee, 20.03)
        refund_order = refund.pos_order_ids
        self.assertAlmostEqual(
            refund_order.lines.filtered("refunded_orderline_id").price_subtotal_incl, -40.05
        )
        self.assertAlmostEqual(self._fee_lines(refund_order).price_subtotal_incl, 20.03)
        self.assertAlmostEqual(refund_order.amount_paid, -20.0)
        self.assertAlmostEqual(refund.amount_paid_back, 20.0)
        session = self._close_session(87.0)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_income), -17.42)
        self.assertAlmostEqual(self._balance(session.move_id, self.fee_tax_account), -2.61)

    def test_query_count_of_a_fee_against_core_refund(self):
        self.open_new_session()
        self.reason = self.reason_late
        extra = {}
        for size in (1, 30):
            lines = [(self.haircut, 1)] * size
            core_order, addon_order = self._order(lines), self._order(lines)
            core = self._count_queries(lambda order=core_order: self._core_refund(order))
            addon = self._count_queries(lambda order=addon_order: self._addon_refund(order))
            extra[size] = addon - core
        self.assertEqual(len(self._fee_lines(addon_order.client_refund_ids.pos_order_ids)), 1)
        self.assertLessEqual(
            extra[30], extra[1] + 5, f"the addon's extra queries grow with the lines: {extra}"
        )

    _core_refund = test_pos_refund.TestPosRefund._core_refund
    _addon_refund = test_pos_refund.TestPosRefund._addon_refund

    # ------------------------------------------------------------------
    # the window
    # ------------------------------------------------------------------

    def _sold_days_ago(self, order, days):
        # sudo: stands for an order made at the till that many days ago
        order.sudo().date_order = fields.Datetime.now() - timedelta(days=days)

    def test_past_the_window_refused(self):
        self._set_policy(self.shampoo, self.retail_policy)
        order = self._order([(self.shampoo, 2)])
        self._sold_days_ago(order, 31)
        counts = self._counts()
        with self.assertRaisesRegex(UserError, "past the refund window of Retail"):
            self._policy_refund(order, self.reason_returned)
        self.assertEqual(self._counts(), counts)
        self.assertFalse(order.lines.refund_orderline_ids)
        # the business at fault refunds whenever: a refund manager's decision
        refund = self._policy_refund(order, self.reason_business)
        self.assertEqual(refund.state, "to_approve")
        self.assertIn(
            "lifts the refund policy: %s was sold more than 30 days ago, past the refund "
            "window of Retail" % order.name,
            self._messages(refund),
        )
        self.assertFalse(order.lines.refund_orderline_ids, "nothing refunded before approval")
        refund.with_user(self.manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.pos_order_ids.amount_total, -21.4)

    def test_past_the_window_with_approval(self):
        self._set_policy(self.shampoo, self.retail_approval_policy)
        order = self._order([(self.shampoo, 2)])
        self._sold_days_ago(order, 31)
        stock_before = self._on_hand(self.shampoo)
        refund = self._policy_refund(order, self.reason_returned)

        self.assertEqual(refund.state, "to_approve")
        self.assertIn(
            "past the 30-day refund window of Retail, late with approval", self._messages(refund)
        )
        self.assertFalse(refund.pos_order_ids)
        self.assertFalse(order.lines.refund_orderline_ids, "nothing refunded before approval")
        refund.with_user(self.manager).action_approve()
        self.assertEqual(refund.state, "done")
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(refund_order.amount_total, -21.4)
        self.assertAlmostEqual(refund_order.amount_paid, -21.4)
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertEqual(self._on_hand(self.shampoo), stock_before + 2)

    def test_window_counts_in_the_company_day(self):
        """Sold at 00:30 of the company's day 30 days ago: inside the window,
        though in a front desk's time zone 19 hours behind it was 31 days ago."""
        self._set_policy(self.shampoo, self.retail_policy)
        self.company.client_refund_tz = "Pacific/Auckland"
        self.env["res.users"].search([("login", "=", FRONT_DESK)]).tz = "America/Los_Angeles"
        order = self._order([(self.shampoo, 1)])
        auckland = pytz.timezone("Pacific/Auckland")
        sold_on = self.company._client_refund_today() - timedelta(days=30)
        sold_at = auckland.localize(datetime.combine(sold_on, time(0, 30)))
        # sudo: stands for an order made at the till then
        order.sudo().date_order = sold_at.astimezone(pytz.utc).replace(tzinfo=None)
        self.assertEqual(
            order.with_context(tz="America/Los_Angeles")._client_refund_get_policy_date(), sold_on
        )
        refund = self._policy_refund(order, self.reason_returned)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.pos_order_ids.amount_total, -10.7)

    # ------------------------------------------------------------------
    # final sale
    # ------------------------------------------------------------------

    def test_final_sale_is_refunded_only_with_a_managers_waiver(self):
        self._set_policy(self.shampoo, self.final_sale_policy)
        order = self._order([(self.shampoo, 3)])
        counts = self._counts()
        # the wizard does not offer its line; the register refuses it however asked
        with self.assertRaisesRegex(AssertionError, "can't write on readonly field 'quantity'"):
            self._policy_refund(order, self.reason_returned, quantities={self.shampoo: 1.0})
        with self.assertRaisesRegex(UserError, "is a final sale \\(Opened cosmetics\\)"):
            self._policy_refund(order, self.reason_returned)
        self.assertEqual(self._counts(), counts)

        waived = self._policy_refund(
            order, self.reason_returned, login=MANAGER,
            waive_policy=True, waiver_reason="Sealed, returned the same day",
        )
        self.assertEqual(waived.state, "done")
        self.assertTrue(waived.policy_waived)
        self.assertEqual(waived.waived_by_id, self.manager)
        self.assertEqual(waived.waiver_reason, "Sealed, returned the same day")
        self.assertAlmostEqual(waived.pos_order_ids.amount_total, -32.1)
        self.assertAlmostEqual(waived.amount_paid_back, 32.1)
        self.assertFalse(order.has_refundable_lines)

    def test_final_sale_waiver_asked_by_a_refund_user_waits_for_a_manager(self):
        self._set_policy(self.shampoo, self.final_sale_policy)
        order = self._order([(self.shampoo, 1)])
        refund = self._policy_refund(
            order, self.reason_returned, waive_policy=True, waiver_reason="Allergic reaction",
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertIn(
            "the refund policy is asked to be waived: Allergic reaction", self._messages(refund)
        )
        self.assertFalse(refund.waived_by_id)
        self.assertFalse(order.lines.refund_orderline_ids, "nothing refunded before approval")
        refund.with_user(self.approver).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.waived_by_id, self.approver)
        self.assertAlmostEqual(refund.pos_order_ids.amount_total, -10.7)
        self.assertAlmostEqual(refund.pos_order_ids.amount_paid, -10.7)


@tagged("post_install", "-at_install")
class TestPosRefundPolicyTerminal(test_pos_refund.StripeTerminalMixin, PosPolicyCommon):
    """A late cancellation paid on the Stripe terminal: the card gets the price
    less the fee."""


    def test_card_gets_the_price_less_the_fee(self):
        self.open_new_session(opening_cash=0.0)
        order, intent = self._paid_on_terminal([(self.haircut, 1)], 107.0)
        refund = self._policy_refund(order, self.reason_late)
        self.assertEqual(refund.payout_method, "card")
        self.assertEqual(refund.state, "pending")
        self.assertAlmostEqual(refund.amount_to_card, 53.5)
        self.env.invalidate_all()
        with self.with_user(FRONT_DESK):
            self.env["client.refund"].browse(refund.id).action_send_card_refund()
        self.assertEqual(refund.state, "done")

        self.assertEqual([r.amount for r in self._stripe_refunds(intent.id)], [5350])
        self.assertAlmostEqual(refund.amount_fee, 53.5)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(self._fee_lines(refund_order).price_subtotal_incl, 53.5)
        self.assertAlmostEqual(refund_order.amount_total, -53.5)
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.stripe_pm)
        self.assertAlmostEqual(refund_order.payment_ids.amount, -53.5)
        self.assertFalse(
            refund_order.lines.product_id
            & self.env.ref("client_refund.product_points_not_returned"),
            "the fee is no points deduction",
        )

        session = self._close_session(0.0)
        move = session.move_id
        self.assertAlmostEqual(self._balance(move, self.fee_income), -46.52)
        self.assertAlmostEqual(self._balance(move, self.fee_tax_account), -6.98)
        self.assertAlmostEqual(self._balance(move, self.sales_account), 0.0)


@tagged("post_install", "-at_install")
class TestTillRefundPolicy(PosPolicyCommon):
    """Core's own refund at the till (the order's Refund button, and the
    refund orders its screen sends through sync_from_ui) is held to the
    policies: a cashier without refund rights does not refund there what a
    policy refuses, and nobody refunds there a refund order the register made.
    The serum (40.00 + 7 %) is a final sale."""

    def setUp(self):
        super().setUp()
        self.cashier = new_test_user(
            self.env,
            login="pos_policy_cashier",
            groups="base.group_user,point_of_sale.group_pos_user",
            company_id=self.company.id,
        )
        self.serum = self.create_product(
            "Serum", self.categ_basic, 40.0, tax_ids=self.taxes["tax7"].ids
        )
        self._set_policy(self.serum, self.final_sale_policy)
        self.adjust_inventory([self.serum], [5])
        self.open_new_session(opening_cash=0.0)

    _sold_days_ago = TestPosRefundPolicy._sold_days_ago

    def _till_cash(self):
        self.pos_session.invalidate_recordset()
        return self.pos_session.cash_register_balance_end

    def _till_refund(self, order, user):
        """Core's Refund button pressed by `user`, then the refund order paid
        out in cash as the till pays it."""
        refund_order = self.env["pos.order"].browse(order.with_user(user).refund()["res_id"])
        self.make_payment(refund_order, self.cash_pm1, refund_order.amount_total)
        return refund_order

    def _screen_refund_data(self, sold_line):
        """The order the till's screen sends to refund all of `sold_line`."""
        data = self.create_ui_order_data([(sold_line.product_id, -sold_line.qty)], payments=[])
        data["lines"][0][2].update(
            price_unit=sold_line.price_unit,
            price_subtotal=-sold_line.price_subtotal,
            price_subtotal_incl=-sold_line.price_subtotal_incl,
            tax_ids=[Command.set(sold_line.tax_ids.ids)],
            refunded_orderline_id=sold_line.id,
        )
        total = -sold_line.price_subtotal_incl
        data["payment_ids"] = [
            Command.create({"amount": total, "name": fields.Datetime.now(),
                            "payment_method_id": self.cash_pm1.id})
        ]
        data.update(
            amount_total=total,
            amount_paid=total,
            amount_tax=total + sold_line.price_subtotal,
        )
        return data

    def _assert_refused_at_the_till(self, order, user, pattern, lines=None):
        """Core's Refund button of `order` and its screen's refund of each of
        `lines` (by default all its lines), by `user`, refused with `pattern`;
        nothing booked (the request's transaction is rolled back, as
        assertRaises' savepoint stands for), the till's cash unchanged."""
        counts, cash = self._counts(), self._till_cash()
        attempts = {"Refund button": lambda: self._till_refund(order, user)}
        for line in lines or order.lines:
            attempts[f"screen, {line.full_product_name}"] = lambda line=line: self.env[
                "pos.order"
            ].with_user(user).sync_from_ui([self._screen_refund_data(line)])
        for way, attempt in attempts.items():
            with self.subTest(way=way):
                with self.assertRaises(UserError) as refused:
                    attempt()
                self.assertRegex(str(refused.exception), pattern)
        self.assertEqual(self._counts(), counts, "no order, payment or entry")
        self.assertAlmostEqual(self._till_cash(), cash)
        self.assertFalse(order.lines.refund_orderline_ids)

    def test_final_sale_refused_to_a_cashier_at_the_till(self):
        order = self._order([(self.serum, 1), (self.haircut, 1)])
        self.assertAlmostEqual(self._till_cash(), 149.8)
        self._assert_refused_at_the_till(
            order,
            self.cashier,
            "Serum of order .* falls under the refund policy Opened cosmetics \\(final sale\\): "
            "refund it with the order's Refund Client button, where the policy applies, or ask "
            "a refund manager",
            lines=order.lines.filtered(lambda line: line.product_id == self.serum),
        )
        self.assertAlmostEqual(self._till_cash(), 149.8)

    def test_final_sale_refunded_at_the_till_by_a_manager_or_an_accountant(self):
        accountant = new_test_user(
            self.env,
            login="pos_policy_accountant",
            groups="base.group_user,point_of_sale.group_pos_user,account.group_account_manager",
            company_id=self.company.id,
        )
        for user in (self.manager, accountant):
            with self.subTest(user=user.login):
                order = self._order([(self.serum, 1), (self.haircut, 1)])
                cash = self._till_cash()
                refund_order = self._till_refund(order, user)
                self.assertEqual(refund_order.state, "paid")
                self.assertAlmostEqual(refund_order.amount_total, -149.8)
                self.assertEqual(refund_order.lines.refunded_orderline_id, order.lines)
                self.assertAlmostEqual(self._till_cash(), cash - 149.8)
                self.assertFalse(order.has_refundable_lines)

    def test_no_policy_refunded_at_the_till_by_a_cashier(self):
        """The shampoo is under no policy and the haircut's keeps fees only,
        which the till cannot know (its refund has no reason)."""
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        refund_order = self._till_refund(order, self.cashier)
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(refund_order.amount_total, -128.4)
        self.assertAlmostEqual(self._till_cash(), 0.0)
        # the screen's way too
        order = self._order([(self.shampoo, 1)])
        [synced] = self.env["pos.order"].with_user(self.cashier).sync_from_ui(
            [self._screen_refund_data(order.lines)]
        )["pos.order"]
        self.assertEqual(synced["state"], "paid")
        self.assertAlmostEqual(synced["amount_total"], -10.7)
        self.assertAlmostEqual(self._till_cash(), 0.0)

    def test_past_the_window_refused_to_a_cashier_at_the_till(self):
        self._set_policy(self.shampoo, self.retail_policy)
        order = self._order([(self.shampoo, 2)])
        self._sold_days_ago(order, 31)
        self._assert_refused_at_the_till(
            order, self.cashier,
            "Shampoo of order .* falls under the refund policy Retail \\(refunds within 30 "
            "days\\)",
        )
        refund_order = self._till_refund(order, self.manager)
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(refund_order.amount_total, -21.4)

    def test_fee_kept_by_a_client_refund_is_not_refunded_at_the_till(self):
        """A late cancellation keeps 53.50 of the haircut on the register's
        refund order; refunding that order, or its fee line alone, at the till
        would give the fee back: refused to the cashier and to a manager."""
        order = self._order([(self.haircut, 1)])
        refund = self._policy_refund(order, self.reason_late)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount_fee, 53.5)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.lines.refunded_orderline_id, order.lines)
        fee_line = self._fee_lines(refund_order)
        self.assertAlmostEqual(fee_line.price_subtotal_incl, 53.5)
        self.assertAlmostEqual(self._till_cash(), 53.5)
        pattern = (
            f"Order {refund_order.name} was made by client refund {refund.name}: it is not "
            "refunded at the till, which would give back what the refund kept"
        )
        for user in (self.cashier, self.manager):
            with self.subTest(user=user.login):
                self._assert_refused_at_the_till(refund_order, user, pattern)
        self.assertAlmostEqual(self._till_cash(), 53.5)
        self.assertFalse(fee_line.refund_orderline_ids)
