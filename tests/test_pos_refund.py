from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.point_of_sale.tests.common import TestPoSCommon

from .common import LocalStripeMixin, QueryCountMixin


class PosRefundCommon(QueryCountMixin, TestPoSCommon):
    @classmethod
    def default_env_context(cls):
        # the chatter is part of the outcome
        return {}

    def setUp(self):
        super().setUp()
        self.config = self.basic_config
        self.reason = self.env.ref("client_refund.reason_product_returned")
        self.shampoo = self.create_product(
            "Shampoo", self.categ_basic, 10.0, 4.0, tax_ids=self.taxes["tax7"].ids
        )
        self.haircut = self.create_product(
            "Haircut", self.categ_basic, 100.0, tax_ids=self.taxes["tax7"].ids
        )
        self.haircut.write({"is_storable": False, "type": "service"})
        self.massage = self.create_product(
            "Massage (tax included)", self.categ_basic, 110.0, tax_ids=self.taxes["tax10"].ids
        )
        self.massage.write({"is_storable": False, "type": "service"})
        self.adjust_inventory([self.shampoo], [20])

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _order(self, lines, payments=None, customer=None, is_invoiced=False):
        if not self.config.current_session_id:
            self.open_new_session()
        params = {
            "pos_order_lines_ui_args": lines,
            "customer": customer or self.customer,
            "is_invoiced": is_invoiced,
        }
        if payments is not None:
            params["payments"] = payments
        return next(iter(self._create_orders([params]).values()))

    def _wizard(self, order, **values):
        form = Form(
            self.env["client.refund.wizard"].with_context(
                default_source_type="pos_order", default_pos_order_id=order.id
            )
        )
        form.reason_id = self.reason
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def _refund(self, order, **values):
        form = self._wizard(order, **values)
        wizard = form.save()
        action = wizard.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def _refund_lines(self, order, quantities):
        form = self._wizard(order, refund_mode="lines")
        for index in range(len(form.line_ids)):
            with form.line_ids.edit(index) as line:
                line.quantity = quantities.get(line.product_id, 0.0)
        wizard = form.save()
        action = wizard.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def _round_cash(self, only_cash):
        rounding = self.env["account.cash.rounding"].create(
            {
                "name": "0.05",
                "rounding": 0.05,
                "rounding_method": "HALF-UP",
                "strategy": "add_invoice_line",
                "profit_account_id": self.company_data["default_account_revenue"].id,
                "loss_account_id": self.company_data["default_account_expense"].id,
            }
        )
        self.config.write(
            {
                "cash_rounding": True,
                "rounding_method": rounding.id,
                "only_round_cash_method": only_cash,
            }
        )

    def _counts(self):
        return (
            self.env["pos.order"].search_count([]),
            self.env["pos.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
            self.env["account.move"].search_count([]),
        )

    def _on_hand(self, product):
        return product.with_context(
            warehouse_id=self.config.picking_type_id.warehouse_id.id
        ).qty_available



@tagged("post_install", "-at_install")
class TestPosRefund(PosRefundCommon):
    # ------------------------------------------------------------------
    # full, lines, amount
    # ------------------------------------------------------------------

    def test_full_refund(self):
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        self.assertAlmostEqual(order.amount_total, 128.4)
        stock_before = self._on_hand(self.shampoo)
        refund = self._refund(order)

        refund_order = refund.pos_order_ids
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "pos")
        self.assertEqual(refund_order.refunded_order_id, order)
        self.assertEqual(refund_order.session_id, self.pos_session)
        self.assertEqual(refund_order.state, "paid")
        self.assertAlmostEqual(refund_order.amount_total, -128.4)
        self.assertAlmostEqual(refund.amount, 128.4)
        self.assertEqual(
            refund_order.lines.refunded_orderline_id, order.lines, "linked line by line"
        )
        self.assertEqual(order.lines.mapped("refunded_qty"), order.lines.mapped("qty"))
        self.assertFalse(order.has_refundable_lines)
        # paid out of the till with the order's own tender
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(refund_order.amount_paid, -128.4)
        # the shampoo is back in stock, the haircut moved nothing
        self.assertEqual(refund_order.picking_ids.state, "done")
        self.assertEqual(refund_order.picking_ids.move_ids.product_id, self.shampoo)
        self.assertEqual(self._on_hand(self.shampoo), stock_before + 2)
        self.assertEqual(refund.picking_ids, refund_order.picking_ids)
        for document in (refund, order, self.customer):
            self.assertTrue(
                any(refund.name in (m.body or "") for m in document.message_ids),
                f"no refund message on {document}",
            )

    def test_lines_refund_keeps_the_service(self):
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        refund = self._refund_lines(order, {self.shampoo: 1.0})
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.lines.product_id, self.shampoo)
        self.assertEqual(refund_order.lines.qty, -1.0)
        self.assertAlmostEqual(refund_order.amount_total, -10.7)
        shampoo_line = order.lines.filtered(lambda line: line.product_id == self.shampoo)
        haircut_line = order.lines - shampoo_line
        self.assertEqual(shampoo_line.refunded_qty, 1.0)
        self.assertEqual(haircut_line.refunded_qty, 0.0)
        self.assertAlmostEqual(refund.line_ids.amount, 10.7)
        self.assertTrue(order.has_refundable_lines)

    def test_amount_refund_tax_excluded(self):
        order = self._order([(self.haircut, 1)])
        refund = self._refund(order, refund_mode="amount", amount=53.5)
        refund_order = refund.pos_order_ids
        self.assertAlmostEqual(refund_order.amount_total, -53.5)
        self.assertAlmostEqual(refund_order.amount_tax, -3.5)
        self.assertAlmostEqual(refund_order.amount_paid, -53.5)

    def test_amount_refund_tax_included_exact_to_the_cent(self):
        order = self._order([(self.massage, 1), (self.shampoo, 3)])
        refund = self._refund(order, refund_mode="amount", amount=33.33)
        refund_order = refund.pos_order_ids
        self.assertAlmostEqual(refund_order.amount_total, -33.33)
        self.assertAlmostEqual(refund.amount, 33.33)

    # ------------------------------------------------------------------
    # no over-refund
    # ------------------------------------------------------------------

    def test_bad_input_quantity_refunded_at_the_till_is_counted(self):
        order = self._order([(self.shampoo, 2)])
        # core refund, as the till screen makes it
        till_refund = order._refund()
        till_refund.lines.qty = -1.0
        till_refund.lines._onchange_amount_line_all()
        till_refund._compute_prices()
        self.make_payment(till_refund, self.cash_pm1, till_refund.amount_total)
        self.assertEqual(order.lines.refunded_qty, 1.0)

        wizard = self._wizard(order, refund_mode="lines")
        self.assertEqual(wizard.line_ids._records[0]["quantity_left"], 1.0)
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund_lines(order, {self.shampoo: 2.0})
        self.assertIn("Only 1.0 of Shampoo are left to refund, not 2.0", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_amount_beyond_what_is_left(self):
        order = self._order([(self.haircut, 1)])
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund(order, refund_mode="amount", amount=107.01)
        self.assertIn("left to refund", str(caught.exception))
        with self.assertRaises(Exception) as caught:
            self._refund(order, refund_mode="amount", amount=0.0)
        self.assertIn("must be positive", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_zero_quantity(self):
        order = self._order([(self.shampoo, 2)])
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund_lines(order, {})
        self.assertIn("Choose", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_refund_of_a_refund(self):
        order = self._order([(self.shampoo, 1)])
        refund_order = self._refund(order).pos_order_ids
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            refund_order.action_client_refund()
        self.assertIn("is itself a refund", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_draft_or_cancelled_order(self):
        order = self._order([(self.shampoo, 1)])
        draft = order.copy({"state": "draft"})
        with self.assertRaises(Exception) as caught:
            draft.action_client_refund()
        self.assertIn("is not paid", str(caught.exception))
        draft.action_pos_order_cancel()
        self.assertEqual(draft.state, "cancel")
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund(draft)
        self.assertIn("is not paid", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_orders_the_till_must_refund(self):
        rewarded = self._order([(self.shampoo, 2)])
        # sudo: stands for the till, which syncs such lines before the order is paid
        rewarded.lines[0].sudo().is_reward_line = True
        with self.assertRaises(Exception) as caught:
            rewarded.action_client_refund()
        self.assertIn("used loyalty rewards", str(caught.exception))
        combo = self._order([(self.shampoo, 1), (self.haircut, 1)])
        combo.lines[1].sudo().combo_parent_id = combo.lines[0]
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund(combo)
        self.assertIn("holds combo products", str(caught.exception))
        self.assertEqual(self._counts(), counts)

    def test_bad_input_pos_of_another_company(self):
        order = self._order([(self.shampoo, 1)])
        other_company = self.setup_other_company()["company"]
        other_config = self.env["pos.config"].with_company(other_company).create(
            {"name": "Other shop", "company_id": other_company.id}
        )
        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            wizard = self._wizard(order).save()
            wizard.pos_config_id = other_config
            wizard.action_confirm()
        self.assertIn("company", str(caught.exception).lower())
        self.assertEqual(self._counts(), counts)

    # ------------------------------------------------------------------
    # sessions and the till
    # ------------------------------------------------------------------

    def test_bad_input_no_open_session_then_paid_in_a_later_one(self):
        order = self._order([(self.shampoo, 1)])
        first_session = self.pos_session
        first_session.post_closing_cash_details(first_session.cash_register_balance_end)
        first_session.close_session_from_ui()
        self.assertEqual(first_session.state, "closed")

        counts = self._counts()
        with self.assertRaises(Exception) as caught:
            self._refund(order)
        self.assertIn("No session of PoS Shop Test is open", str(caught.exception))
        self.assertEqual(self._counts(), counts)

        self.open_new_session()
        refund = self._refund(order)
        self.assertEqual(refund.pos_order_ids.session_id, self.pos_session)
        self.assertNotEqual(self.pos_session, first_session)

    def test_session_closes_balanced_after_a_cash_refund(self):
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        self._refund_lines(order, {self.shampoo: 1.0})
        session = self.pos_session
        # 128.40 sale - 10.70 refund, counted once
        self.assertAlmostEqual(session.cash_register_balance_end, 117.7)
        session.post_closing_cash_details(117.7)
        # the web client closes in a new request, which computes the difference afresh
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        session.invalidate_recordset()
        self.assertAlmostEqual(session.cash_register_balance_end, 117.7)
        self.assertAlmostEqual(session.cash_register_difference, 0.0)
        # a cash difference would be booked as a statement line of the session
        self.assertFalse(
            session.statement_line_ids.filtered(lambda line: line.amount < 0),
            "no cash difference was booked",
        )
        move = session.move_id
        self.assertEqual(move.state, "posted")
        self.assertAlmostEqual(sum(move.line_ids.mapped("debit")), sum(move.line_ids.mapped("credit")))
        sales = move.line_ids.filtered(lambda line: line.account_id == self.sales_account)
        self.assertAlmostEqual(sum(sales.mapped("balance")), -110.0)

    def test_cash_rounding_is_respected(self):
        self._round_cash(only_cash=False)
        self.open_new_session(opening_cash=0.0)
        order = self._order([(self.shampoo, 1)], payments=[(self.cash_pm1, 10.7)])
        refund = self._refund_lines(order, {self.shampoo: 1.0})
        refund_order = refund.pos_order_ids
        self.assertAlmostEqual(refund_order.amount_paid, -10.7)
        cents = round(refund_order.amount_paid * 100)
        self.assertEqual(cents % 5, 0, "cash is paid out in multiples of 0.05")
        session = self.pos_session
        self.assertAlmostEqual(session.cash_register_balance_end, 0.0)
        session.post_closing_cash_details(0.0)
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        session.invalidate_recordset()
        self.assertAlmostEqual(session.cash_register_difference, 0.0)

    def test_refunds_in_steps_round_cash_like_the_till(self):
        self._round_cash(only_cash=False)
        self.open_new_session(opening_cash=0.0)
        mask = self.create_product(
            "Mask (tax included)", self.categ_basic, 10.63, tax_ids=self.taxes["tax10"].ids
        )
        order = self._order([(mask, 2)], payments=[(self.cash_pm1, 21.25)])
        first = self._refund_lines(order, {mask: 1.0})
        second = self._refund_lines(order, {mask: 1.0})
        # each refund rounds its own cash, as core's till does: 2 x 10.65 for a
        # sale paid 21.25 (a known limit: core's paid check allows no other split)
        self.assertAlmostEqual(first.amount_paid_back, 10.65)
        self.assertAlmostEqual(second.amount_paid_back, 10.65)
        self.assertEqual(second.pos_order_ids.state, "paid")
        self.assertFalse(order.has_refundable_lines)

    def test_some_lines_above_the_threshold_are_approved_then_made(self):
        self.company.client_refund_approval_threshold = 50.0
        manager = new_test_user(
            self.env,
            login="pos_refund_manager",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "point_of_sale.group_pos_user,account.group_account_invoice",
            company_id=self.company.id,
        )
        order = self._order([(self.haircut, 1), (self.shampoo, 2)])
        refund = self._refund_lines(order, {self.haircut: 1.0})
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(order.lines.refund_orderline_ids, "nothing refunded before approval")
        refund.with_user(manager).action_approve()
        self.assertEqual(refund.state, "done")
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        self.assertEqual(refund_order.lines.product_id, self.haircut)
        self.assertAlmostEqual(-refund_order.amount_total, refund.amount)
        self.assertAlmostEqual(refund.line_ids.amount, refund.amount)

    def test_mixed_tenders_are_refunded_in_proportion(self):
        order = self._order(
            [(self.haircut, 1)], payments=[(self.cash_pm1, 57.0), (self.bank_pm1, 50.0)]
        )
        wizard = self._wizard(order)
        # the money line says the tenders that pay back, as the order was paid
        self.assertEqual(
            wizard.money_line,
            f"The client gets back {self.company.currency_id.format(107.0)} in cash and by "
            f"{self.bank_pm1.name} at {self.config.name}.",
        )
        refund = self._refund(order, refund_mode="amount", amount=53.5)
        payments = refund.pos_order_ids.payment_ids
        by_method = {p.payment_method_id: p.amount for p in payments}
        self.assertAlmostEqual(by_method[self.bank_pm1], -25.0)
        self.assertAlmostEqual(by_method[self.cash_pm1], -28.5)

    def test_odd_cents_split_between_two_tenders_that_are_not_cash(self):
        order = self._order(
            [(self.haircut, 1)], payments=[(self.bank_pm1, 53.5), (self.bank_split_pm1, 53.5)]
        )
        refund = self._refund(order, refund_mode="amount", amount=10.03)
        self.assertEqual(refund.state, "done")
        by_method = {p.payment_method_id: p.amount for p in refund.pos_order_ids.payment_ids}
        # the last tender takes what rounding left: the refund order is paid in full
        self.assertAlmostEqual(sum(by_method.values()), -10.03)
        self.assertEqual(set(by_method), {self.bank_pm1, self.bank_split_pm1})
        self.assertEqual(refund.pos_order_ids.state, "paid")

    def test_bad_input_till_without_cash_for_a_cash_sale(self):
        order = self._order([(self.haircut, 1)])  # paid in cash
        no_cash = self.env["pos.config"].create(
            {"name": "No Cash", "payment_method_ids": [Command.set(self.bank_pm1.ids)]}
        )
        no_cash.open_ui()
        refunds = self.env["client.refund"].search_count([])
        wizard = self._wizard(order, pos_config_id=no_cash)
        # said before Confirm, not promised as cash
        self.assertIn("No Cash has no cash payment method", wizard.refusal)
        self.assertFalse(wizard.money_line)
        with self.assertRaisesRegex(UserError, "No Cash has no cash payment method"):
            wizard.save().action_confirm()
        self.assertEqual(self.env["client.refund"].search_count([]), refunds)

    def test_amount_refund_keeps_the_rest_refundable(self):
        order = self._order([(self.haircut, 1), (self.shampoo, 3)])
        first = self._refund(order, refund_mode="amount", amount=20.0)
        refund_order = first.pos_order_ids
        self.assertAlmostEqual(refund_order.amount_total, -20.0)
        self.assertEqual(refund_order.lines.product_id, self.haircut, "services only")
        self.assertFalse(refund_order.picking_ids, "no product comes back for an amount")
        shampoo_line = order.lines.filtered(lambda line: line.product_id == self.shampoo)
        haircut_line = order.lines - shampoo_line
        self.assertEqual(shampoo_line.refunded_qty, 0.0)
        self.assertAlmostEqual(haircut_line.refunded_qty, 0.19)
        self.assertTrue(order.has_refundable_lines)
        balances = order._client_refund_get_line_balances()
        self.assertAlmostEqual(balances[haircut_line]["amount"], 87.0)
        # the rest of the haircut, then the shampoos by lines
        second = self._refund(order, refund_mode="amount", amount=87.0)
        self.assertAlmostEqual(second.pos_order_ids.amount_total, -87.0)
        self.assertAlmostEqual(haircut_line.refunded_qty, 1.0)
        with self.assertRaises(Exception) as caught:
            self._refund(order, refund_mode="amount", amount=1.0)
        self.assertIn("Products are refunded by lines", str(caught.exception))
        third = self._refund_lines(order, {self.shampoo: 3.0})
        self.assertAlmostEqual(third.pos_order_ids.amount_total, -32.1)
        self.assertFalse(order.has_refundable_lines)
        refunded = sum(
            -o.amount_total for o in order.lines.refund_orderline_ids.order_id
        )
        self.assertAlmostEqual(refunded, order.amount_total, msg="never more than paid")

    def test_tenders_already_refunded_at_the_till_are_not_refunded_again(self):
        order = self._order(
            [(self.haircut, 1), (self.massage, 1)],
            payments=[(self.bank_pm1, 107.0), (self.cash_pm1, 110.0)],
        )
        till_refund = order._refund()
        massage_refund = till_refund.lines.filtered(lambda l: l.product_id == self.massage)
        massage_refund.unlink()
        till_refund._compute_prices()
        self.make_payment(till_refund, self.bank_pm1, till_refund.amount_total)
        self.assertAlmostEqual(till_refund.amount_total, -107.0)
        refund = self._refund(order)
        payments = refund.pos_order_ids.payment_ids
        self.assertEqual(payments.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(sum(payments.mapped("amount")), -110.0)

    def test_cash_share_of_a_mixed_refund_is_rounded(self):
        self._round_cash(only_cash=True)
        self.open_new_session(opening_cash=0.0)
        order = self._order(
            [(self.shampoo, 3)], payments=[(self.bank_pm1, 10.0), (self.cash_pm1, 22.1)]
        )
        refund = self._refund_lines(order, {self.shampoo: 1.0})
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.state, "paid")
        by_method = {p.payment_method_id: p.amount for p in refund_order.payment_ids}
        self.assertAlmostEqual(by_method[self.bank_pm1], -3.33)
        self.assertEqual(round(by_method[self.cash_pm1] * 100) % 5, 0)
        session = self.pos_session
        counted = session.cash_register_balance_end
        session.post_closing_cash_details(counted)
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        session.invalidate_recordset()
        self.assertAlmostEqual(session.cash_register_difference, 0.0)

    # ------------------------------------------------------------------
    # invoiced orders
    # ------------------------------------------------------------------

    def test_invoiced_order_gets_credit_note_reconciled_with_invoice(self):
        order = self._order([(self.shampoo, 2)], is_invoiced=True)
        invoice = order.account_move
        self.assertTrue(invoice)
        refund = self._refund(order)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertEqual(credit_note.state, "posted")
        receivable = invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        credit_receivable = credit_note.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(
            receivable.matched_credit_ids.credit_move_id, credit_receivable,
            "the credit note settles the invoice",
        )
        self.assertEqual(invoice.payment_state, "reversed")

    # ------------------------------------------------------------------
    # speed
    # ------------------------------------------------------------------

    def _core_refund(self, order):
        refund_order = order._refund()
        self.make_payment(refund_order, self.cash_pm1, refund_order.amount_total)
        self.assertEqual(refund_order.state, "paid")

    def _addon_refund(self, order):
        # as the wizard records it (in sudo) and confirms it
        refund = self.env["client.refund"].sudo().create(
            {
                "partner_id": order.partner_id.id,
                "source_type": "pos_order",
                "scope": "full",
                "source_pos_order_id": order.id,
                "amount": order.amount_total,
                "reason_id": self.reason.id,
                "payout_method": "pos",
            }
        ).sudo(False)
        refund.action_confirm()
        self.assertEqual(refund.pos_order_ids.state, "paid")

    def test_query_count_against_core_refund(self):
        self.open_new_session()
        extra = {}
        for size in (1, 30):
            lines = [(self.haircut, 1)] * size
            core_order, addon_order = self._order(lines), self._order(lines)
            core = self._count_queries(lambda order=core_order: self._core_refund(order))
            addon = self._count_queries(lambda order=addon_order: self._addon_refund(order))
            extra[size] = addon - core
        self.assertLessEqual(
            extra[30], extra[1] + 5, f"the addon's extra queries grow with the lines: {extra}"
        )


class StripeTerminalMixin(LocalStripeMixin):
    """The till of PosRefundCommon with a Stripe card terminal, localstripe
    behind it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.company_data["default_journal_bank"])
        cls.stripe_pm = cls.env["pos.payment.method"].create(
            {
                "name": "Stripe terminal",
                "journal_id": cls.company_data["default_journal_bank"].id,
                "use_payment_terminal": "stripe",
                "stripe_serial_number": "WSC513105011295",
                "company_id": cls.company.id,
            }
        )
        cls.basic_config.payment_method_ids = [Command.link(cls.stripe_pm.id)]

    def _paid_on_terminal(self, lines, total, cash=0.0):
        intent = self._captured_intent(total - cash, self.company.currency_id)
        order = self._order(
            lines,
            payments=[(self.cash_pm1, cash), (self.stripe_pm, total - cash)]
            if cash
            else [(self.stripe_pm, total)],
        )
        # sudo: stands for the till, which sends the terminal's PaymentIntent with the order
        order.payment_ids.filtered(
            lambda payment: payment.payment_method_id == self.stripe_pm
        ).sudo().transaction_id = intent.id
        return order, intent


@tagged("post_install", "-at_install")
class TestPosStripeTerminalRefund(StripeTerminalMixin, PosRefundCommon):
    """Orders paid on a Stripe terminal go back to the card, through the SDK and
    localstripe over real HTTP, and the refund order pays with the terminal."""

    def test_terminal_payment_refunded_to_the_card(self):
        self.open_new_session(opening_cash=0.0)
        order, intent = self._paid_on_terminal([(self.haircut, 1)], 107.0)
        transactions = self.env["payment.transaction"].sudo().search_count([])
        form = self._wizard(order)
        self.assertEqual(form.payout_method, "card")
        self.assertAlmostEqual(form.amount_card_refundable, 107.0)
        # filling the form records nothing: the transaction is made with the refund
        self.assertEqual(self.env["payment.transaction"].sudo().search_count([]), transactions)
        payments_before = self.env["account.payment"].search_count([])
        refund = self._refund(order)
        self.assertEqual(refund.state, "pending")
        self.assertFalse(refund.pos_order_ids)

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "card")
        sent = [r.to_dict() for r in self._stripe_refunds(intent.id)]
        self.assertEqual([r["amount"] for r in sent], [10700])
        self.assertEqual(sent[0]["metadata"]["client_refund"], refund.name)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.refunded_order_id, order)
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.stripe_pm)
        self.assertAlmostEqual(refund_order.payment_ids.amount, -107.0)
        self.assertEqual(refund_order.payment_ids.transaction_id, sent[0]["id"])
        self.assertEqual(
            self.env["account.payment"].search_count([]),
            payments_before,
            "the session books the card refund, not an account.payment",
        )
        self.assertEqual(order._client_refund_get_card_refundable_amount(), 0.0)

        session = self.pos_session
        session.post_closing_cash_details(0.0)
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        self.assertAlmostEqual(session.cash_register_difference, 0.0)
        move = session.move_id
        self.assertAlmostEqual(
            sum(move.line_ids.mapped("debit")), sum(move.line_ids.mapped("credit"))
        )
        sales = move.line_ids.filtered(lambda line: line.account_id == self.sales_account)
        self.assertAlmostEqual(sum(sales.mapped("balance")), 0.0)

    def test_front_desk_refunds_to_the_card_without_payment_rights(self):
        """A cashier with refund rights, no payment or accounting rights, sends a
        card refund: the terminal payment's transaction and the Stripe provider
        are read for them."""
        cashier = new_test_user(
            self.env,
            login="front_desk",
            groups="base.group_user,point_of_sale.group_pos_user,"
            "client_refund.group_client_refund_user",
            company_id=self.company.id,
        )
        self.open_new_session(opening_cash=0.0)
        order, intent = self._paid_on_terminal([(self.haircut, 1)], 107.0)
        self.env.invalidate_all()
        form = Form(
            self.env["client.refund.wizard"]
            .with_user(cashier)
            .with_context(default_source_type="pos_order", default_pos_order_id=order.id)
        )
        form.reason_id = self.reason
        self.assertEqual(form.payout_method, "card")
        refund = self.env["client.refund"].browse(form.save().action_confirm()["res_id"])
        self.env.invalidate_all()
        refund.with_user(cashier).action_send_card_refund()
        self.assertEqual(refund.state, "done")
        self.assertEqual(len(self._stripe_refunds(intent.id)), 1)

    def test_bad_input_more_than_the_card_paid(self):
        self.open_new_session(opening_cash=0.0)
        order, intent = self._paid_on_terminal([(self.haircut, 1)], 107.0, cash=57.0)
        counts = self._counts()
        with self.assertRaisesRegex(UserError, "The card can take back at most .*50.00"):
            self._refund(order, refund_mode="amount", amount=53.5, payout_method="card")
        self.assertEqual(self._counts(), counts)
        self.assertFalse(self._stripe_refunds(intent.id))
