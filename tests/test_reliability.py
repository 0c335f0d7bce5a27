"""Reliability: bad input and access.

Every bad input the addon refuses gets a clear error and leaves nothing behind
(the README's Reliability section lists them, with the test of each); every
wizard and action fails with an AccessError for a user without the refund
groups, a portal user and a user of another company. The races, the idempotent
Stripe retries and the crash recovery are in test_race.py and
test_stripe_refund.py."""

from contextlib import contextmanager
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.point_of_sale.tests.common import TestPoSCommon

from .common import ClientRefundCommon, LoyaltyRefundMixin
from .test_invoice_refund import InvoiceRefundCommon


class ReliabilityMixin:
    # what a refund may create, whatever its source
    WRITTEN_MODELS = (
        "account.move",
        "account.payment",
        "client.refund",
        "client.refund.line",
        "pos.order",
        "pos.payment",
        "stock.picking",
        "mail.mail",
    )

    def _written(self):
        return {
            model: self.env[model].sudo().with_context(active_test=False).search_count([])
            for model in self.WRITTEN_MODELS
        }

    @contextmanager
    def assertBadInput(self, pattern, exception=UserError):
        """The input is refused with a clear error, and nothing stays written."""
        written = self._written()
        with self.assertRefused(pattern, exception) as caught:
            yield caught
        self.assertEqual(self._written(), written, "a refused input leaves nothing behind")

    def _assert_access_refused(self, user, calls):
        """Each of `calls` ({label: function(user)}) raises an AccessError for
        `user`, and none of them writes anything."""
        written = self._written()
        for label, call in calls.items():
            with self.subTest(user=user.login, call=label):
                with self.assertRaises(AccessError):
                    call(user)
        self.assertEqual(self._written(), written, f"{user.login} wrote something")

    @staticmethod
    def _call(record, method, *args):
        """`method` of `record` called by the user given."""
        return lambda user: getattr(record.with_user(user), method)(*args)

    def _outsiders(self):
        return {
            "internal user without refund groups": self.internal_user,
            "portal user": self.portal_user,
            "user of another company": self.company_2_user,
            "staff of another company": self._company_2_staff(),
        }

    def _company_2_staff(self):
        """A refund manager with invoicing and Point of Sale rights, of company B
        only: what stops them on company A's records is the company."""
        return new_test_user(
            self.env,
            login="refund_staff_company_2",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "account.group_account_invoice,point_of_sale.group_pos_user",
            company_id=self.company_2.id,
            company_ids=[Command.set(self.company_2.ids)],
        )


# ----------------------------------------------------------------------
# bad input: invoices, payments, the wizard, the register, approval
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestReliability(ReliabilityMixin, InvoiceRefundCommon):
    def _lines_wizard(self, invoice, quantities):
        """The wizard in "Some lines" mode, {product: quantity} asked."""
        form = self._wizard_form(invoice)
        form.refund_mode = "lines"
        form.reason_id = self.reason
        for index in range(len(form.line_ids)):
            with form.line_ids.edit(index) as line:
                line.quantity = quantities.get(line.product_id, 0.0)
        return form.save()

    def _new_wizard(self, **values):
        return (
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .create({"reason_id": self.reason.id, **values})
        )

    # invoices ------------------------------------------------------------

    def test_bad_input_invoice_refunded_in_full_already(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._refund(invoice)
        with self.assertBadInput("has been refunded in full already"):
            self._refund(invoice)
        with self.assertBadInput("has been refunded in full already"):
            self._refund(invoice, mode="amount", amount=1.0)

    def test_bad_input_line_of_another_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 1, 20.0)])
        other = self._invoice([(self.shampoo, 1, 20.0)])
        wizard = self._lines_wizard(invoice, {self.shampoo: 1.0})
        wizard.line_ids.filtered("quantity").move_line_id = other.invoice_line_ids
        with self.assertBadInput("is not a product line of invoice"):
            wizard.action_confirm()
        self.assertFalse(other.reversal_move_ids)

    def test_bad_input_negative_line_quantity(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 2, 20.0)])
        wizard = self._lines_wizard(invoice, {self.shampoo: -1.0})
        with self.assertBadInput("The quantity to refund must be positive"):
            wizard.action_confirm()

    def test_bad_input_lines_mode_without_any_quantity(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 2, 20.0)])
        wizard = self._lines_wizard(invoice, {})
        with self.assertBadInput("Choose the lines and quantities to refund"):
            wizard.action_confirm()

    def test_bad_input_nothing_chosen_to_refund(self):
        wizard = self._new_wizard(source_type="invoice", partner_id=self.client.id)
        with self.assertBadInput("Choose what to refund"):
            wizard.action_confirm()

    def test_bad_input_till_payout_for_an_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        wizard = self._new_wizard(source_type="invoice", move_id=invoice.id, payout_method="pos")
        with self.assertBadInput("is not paid back by Point of Sale"):
            wizard.action_confirm()

    def test_bad_input_no_payout_journal(self):
        self.company.client_refund_journal_id = False
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        wizard = self._new_wizard(
            source_type="invoice", move_id=invoice.id, payout_journal_id=False
        )
        self.assertEqual(wizard.payout_method, "journal")
        with self.assertBadInput("Choose the cash or bank journal that pays the refund"):
            wizard.action_confirm()
        self.assertEqual(invoice.payment_state, "paid")

    def test_bad_input_refund_confirmed_twice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        refund = self._refund(invoice, mode="amount", amount=23.0)
        with self.assertBadInput("has already been confirmed"):
            refund.with_user(self.refund_user).action_confirm()
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 92.0)

    # payments ------------------------------------------------------------

    def _client_payment(self, amount=80.0, payment_type="inbound", post=True):
        payment = self.env["account.payment"].create(
            {
                "payment_type": payment_type,
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": amount,
                "journal_id": self.cash_journal.id,
            }
        )
        if post:
            payment.action_post()
        return payment

    def test_bad_input_payment_of_several_invoices(self):
        first = self._invoice([(self.haircut, 1, 100.0)])
        second = self._invoice([(self.shampoo, 1, 20.0)])
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=(first + second).ids)
            .create({"journal_id": self.cash_journal.id, "group_payment": True})
            ._create_payments()
        )
        self.assertEqual(len(payment), 1)
        with self.assertBadInput("paid several invoices"):
            payment.with_user(self.refund_user).action_client_refund()

    def test_bad_input_payment_not_received_from_a_client(self):
        payment = self._client_payment(payment_type="outbound")
        with self.assertBadInput("is not a payment received from a client"):
            payment.with_user(self.refund_user).action_client_refund()
        with self.assertBadInput("is not a payment received from a client"):
            payment.with_user(self.refund_user).action_client_refund_void()
        wizard = self._new_wizard(
            source_type="payment", payment_id=payment.id, refund_mode="amount", amount=23.0
        )
        with self.assertBadInput("is not a payment received from a client"):
            wizard.action_confirm()

    def test_bad_input_payment_not_confirmed(self):
        payment = self._client_payment(post=False)
        with self.assertBadInput("is not confirmed"):
            payment.with_user(self.refund_user).action_client_refund()
        with self.assertBadInput("is not confirmed"):
            payment.with_user(self.refund_user).action_client_refund_void()
        self.assertEqual(payment.state, "draft")

    def test_bad_input_payment_credit_above_what_is_unused(self):
        payment = self._client_payment(amount=80.0)
        wizard = self._new_wizard(
            source_type="payment", payment_id=payment.id, refund_mode="amount", amount=80.01
        )
        with self.assertBadInput(r"Only .*80\.00 of payment .* is unused client credit"):
            wizard.action_confirm()
        self.assertAlmostEqual(payment._client_refund_get_refundable_amount(), 80.0)

    def test_bad_input_void_in_a_locked_period(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)], invoice_date="2020-01-10")
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": self.cash_journal.id, "payment_date": "2020-01-15"})
            ._create_payments()
        )
        self.company.sudo().fiscalyear_lock_date = "2020-12-31"
        self.assertFalse(payment.client_refund_can_void)
        with self.assertBadInput("is dated in a locked period"):
            payment.with_user(self.refund_user).action_client_refund_void()
        self.assertNotEqual(payment.state, "canceled")

    # the register, approval, receipt --------------------------------------

    def test_bad_input_approve_or_reject_a_refund_not_waiting(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, mode="amount", amount=23.0)
        self.assertEqual(refund.state, "done")
        with self.assertBadInput("is not waiting for approval"):
            refund.with_user(self.refund_manager).action_approve()
        with self.assertBadInput("is not waiting for approval"):
            refund.with_user(self.refund_manager).action_reject("Changed my mind")
        self.assertEqual(refund.state, "done")
        self.assertFalse(refund.approver_id)

    def test_bad_input_reject_without_a_reason(self):
        self.company.client_refund_approval_threshold = 50.0
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice)
        self.assertEqual(refund.state, "to_approve")
        with self.assertBadInput("Say why the refund is rejected"):
            refund.with_user(self.refund_manager).action_reject("")
        self.assertEqual(refund.state, "to_approve")

    def test_bad_input_receipt_before_the_refund_is_made(self):
        self.company.client_refund_approval_threshold = 50.0
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice)
        self.assertEqual(refund.state, "to_approve")
        messages = len(refund.message_ids)
        with self.assertBadInput("A receipt is sent once the refund is made"):
            refund.with_user(self.refund_user).action_send_receipt()
        self.assertEqual(len(refund.message_ids), messages)

    def test_bad_input_receipt_to_a_client_without_email(self):
        self.client.email = False
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, mode="amount", amount=23.0)
        with self.assertBadInput("Client Alice has no e-mail address"):
            refund.with_user(self.refund_user).action_send_receipt()

    def test_bad_input_edit_lines_of_a_confirmed_refund(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 2, 20.0)])
        refund = self.env["client.refund"].browse(
            self._lines_wizard(invoice, {self.shampoo: 1.0}).action_confirm()["res_id"]
        )
        self.assertEqual(refund.state, "done")
        line = refund.line_ids.with_user(self.refund_manager)
        # the register's lines are the addon's record: read-only for everyone
        with self.assertBadInput("not allowed to modify", AccessError):
            line.write({"quantity": 2.0})
        with self.assertBadInput("not allowed to delete", AccessError):
            line.unlink()
        with self.assertBadInput("not allowed to create", AccessError):
            line.create({"refund_id": refund.id, "quantity": 1.0, "product_id": self.shampoo.id})
        self.assertEqual(refund.line_ids.quantity, 1.0)

    # card refunds (Stripe is not reached: each is refused before it) -------

    def _card_paid(self, invoice, amount, currency=None, post=True):
        """A Stripe card payment of `invoice`, done as core's flow leaves it."""
        provider = self.env.ref("payment.payment_provider_stripe").sudo().copy(
            {
                "company_id": self.company.id,
                "state": "test",
                "stripe_secret_key": "sk_test_reliability",
                "stripe_publishable_key": "pk_test_reliability",
                "journal_id": self.bank_journal.id,
            }
        )
        card = self.env.ref("payment.payment_method_card")
        provider.payment_method_ids = [Command.link(card.id)]
        transaction = self.env["payment.transaction"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": card.id,
                "amount": amount,
                "currency_id": (currency or invoice.currency_id).id,
                "partner_id": self.client.id,
                "operation": "online_direct",
                "invoice_ids": [Command.set(invoice.ids)],
                "provider_reference": f"pi_reliability_{invoice.id}",
            }
        )
        transaction._set_done()
        if post:
            transaction._post_process()
        return transaction

    def test_bad_input_card_refund_in_another_currency(self):
        other = self.setup_other_currency("EUR", rates=[("2016-01-01", 2.0)])
        invoice = self._invoice([(self.haircut, 1, 100.0)], currency=other)
        self._card_paid(invoice, 57.5, currency=self.company.currency_id, post=False)
        self._pay(invoice)
        with self._wizard_form(invoice) as form:
            self.assertEqual(form.payout_method, "journal", "a card of another currency is not offered")
            form.reason_id = self.reason
            form.payout_method = "card"
        with self.assertBadInput("was not paid online with Stripe"):
            form.record.action_confirm()

    def test_bad_input_card_refund_that_only_settles_what_is_owed(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._card_paid(invoice, 50.0)
        self.assertAlmostEqual(invoice.amount_residual, 65.0)
        with self.assertBadInput("nothing goes back to the card"):
            self._refund(invoice, mode="amount", amount=30.0, payout_method="card")

    def test_bad_input_card_refund_beyond_what_the_card_paid(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        transaction = self._card_paid(invoice, 50.0)
        self._pay(invoice)
        self.assertEqual(invoice.payment_state, "paid")
        with self.assertBadInput(r"can take back at most .*50\.00, not .*115\.00"):
            self._refund(invoice, payout_method="card")
        self.assertAlmostEqual(transaction._client_refund_get_card_refundable_amount(), 50.0)

    def test_bad_input_void_of_a_card_payment(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._card_paid(invoice, 115.0).payment_id
        self.assertTrue(payment)
        with self.assertBadInput("was made online by card: refund it to the card instead"):
            payment.with_user(self.refund_user).action_client_refund_void()
        self.assertNotEqual(payment.state, "canceled")

    def test_bad_input_cancel_of_a_card_refund_sent_to_stripe(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        transaction = self._card_paid(invoice, 115.0)
        refund = self._create_register_entry(
            state="pending",
            source_move_id=invoice.id,
            amount=115.0,
            amount_paid_back=115.0,
            payout_method="card",
            card_transaction_id=transaction.id,
            payment_transaction_id=transaction._create_child_transaction(
                115.0, is_refund=True
            ).id,
        )
        with self.assertBadInput("has been sent to Stripe: a card refund is final"):
            refund.with_user(self.refund_manager).action_cancel()
        self.assertEqual(refund.state, "pending")


# ----------------------------------------------------------------------
# bad input: Point of Sale orders
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestReliabilityPos(ReliabilityMixin, ClientRefundCommon, TestPoSCommon):
    def setUp(self):
        super().setUp()
        self.config = self.basic_config
        self.shampoo = self.create_product(
            "Shampoo", self.categ_basic, 10.0, 4.0, tax_ids=self.taxes["tax7"].ids
        )
        self.haircut = self.create_product(
            "Haircut", self.categ_basic, 100.0, tax_ids=self.taxes["tax7"].ids
        )
        self.haircut.write({"is_storable": False, "type": "service"})
        self.adjust_inventory([self.shampoo], [20])
        self.open_new_session()

    def _order(self, lines, is_invoiced=False):
        params = {
            "pos_order_lines_ui_args": lines,
            "customer": self.customer,
            "is_invoiced": is_invoiced,
        }
        return next(iter(self._create_orders([params]).values()))

    def _wizard(self, order, user=None, **values):
        form = Form(
            self.env["client.refund.wizard"]
            .with_user(user or self.env.user)
            .with_context(default_source_type="pos_order", default_pos_order_id=order.id)
        )
        form.reason_id = self.reason
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def _lines_wizard(self, order, quantities):
        form = self._wizard(order, refund_mode="lines")
        for index in range(len(form.line_ids)):
            with form.line_ids.edit(index) as line:
                line.quantity = quantities.get(line.product_id, 0.0)
        return form.save()

    def test_bad_input_void_of_a_pos_order(self):
        order = self._order([(self.shampoo, 1)])
        wizard = self.env["client.refund.wizard"].create(
            {
                "source_type": "pos_order",
                "pos_order_id": order.id,
                "void_payment": True,
                "reason_id": self.reason.id,
            }
        )
        with self.assertBadInput("Only a payment can be voided, not PoS"):
            wizard.action_confirm()

    def test_bad_input_pos_order_refunded_in_full_already(self):
        order = self._order([(self.shampoo, 1), (self.haircut, 1)])
        self._wizard(order).save().action_confirm()
        self.assertFalse(order.has_refundable_lines)
        with self.assertBadInput("has been refunded in full already"):
            self._wizard(order).save().action_confirm()

    def test_bad_input_pos_line_of_another_order(self):
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        other = self._order([(self.shampoo, 1)])
        wizard = self._lines_wizard(order, {self.shampoo: 1.0})
        wizard.line_ids.filtered("quantity").pos_order_line_id = other.lines
        with self.assertBadInput("is not a line of order"):
            wizard.action_confirm()
        self.assertFalse(other.lines.refunded_qty)

    def test_bad_input_pos_negative_quantity(self):
        order = self._order([(self.shampoo, 2), (self.haircut, 1)])
        wizard = self._lines_wizard(order, {self.shampoo: -1.0})
        with self.assertBadInput("The quantity to refund must be positive"):
            wizard.action_confirm()
        self.assertEqual(order.lines.mapped("refunded_qty"), [0.0, 0.0])

    def test_bad_input_pos_amount_on_an_order_of_products_only(self):
        order = self._order([(self.shampoo, 2)])
        wizard = self._wizard(order, refund_mode="amount", amount=5.0).save()
        with self.assertBadInput("Products are refunded by lines"):
            wizard.action_confirm()

    def test_bad_input_invoice_of_a_pos_order(self):
        order = self._order([(self.haircut, 1)], is_invoiced=True)
        invoice = order.account_move
        self.assertTrue(invoice)
        with self.assertBadInput("comes from the Point of Sale order"):
            invoice.with_user(self.refund_user).action_client_refund()
        wizard = self.env["client.refund.wizard"].create(
            {"source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id}
        )
        with self.assertBadInput("comes from the Point of Sale order"):
            wizard.action_confirm()

    # access --------------------------------------------------------------

    def test_access_pos_order_refund_refused_to_outsiders(self):
        order = self._order([(self.shampoo, 1)])
        wizard = self._wizard(order).save()
        calls = {
            "pos.order action_client_refund": self._call(order, "action_client_refund"),
            "client.refund.wizard create": lambda user: self.env["client.refund.wizard"]
            .with_user(user)
            .create(
                {"source_type": "pos_order", "pos_order_id": order.id, "reason_id": self.reason.id}
            ),
            "client.refund.wizard action_confirm": self._call(wizard, "action_confirm"),
        }
        for user in self._outsiders().values():
            self._assert_access_refused(user, calls)
        self.assertTrue(order.has_refundable_lines)


# ----------------------------------------------------------------------
# access: every wizard and action, for those who may not refund
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestReliabilityAccess(ReliabilityMixin, InvoiceRefundCommon):
    def setUp(self):
        super().setUp()
        self.company.client_refund_approval_threshold = 1000.0
        self.invoice = self._invoice([(self.haircut, 1, 100.0)])
        self.payment = self._pay(self.invoice)
        self.done = self._refund(self.invoice, mode="amount", amount=23.0)
        self.draft = self._create_register_entry(source_move_id=self.invoice.id, amount=5.0)
        big_invoice = self._invoice([(self.haircut, 1, 1000.0)])
        self.waiting = self._refund(big_invoice)
        self.assertEqual(self.waiting.state, "to_approve")
        with self._wizard_form(self.invoice) as form:
            form.reason_id = self.reason
        self.wizard = form.record
        self.payment_state = self.payment.state
        self.reject_wizard = (
            self.env["client.refund.reject.wizard"]
            .with_user(self.refund_manager)
            .create({"refund_ids": [Command.set(self.waiting.ids)], "reason": "No"})
        )

    def _calls(self):
        call, invoice, waiting = self._call, self.invoice, self.waiting
        Wizard = self.env["client.refund.wizard"]
        RejectWizard = self.env["client.refund.reject.wizard"]
        return {
            # wizards
            "client.refund.wizard create": lambda user: Wizard.with_user(user).create(
                {"source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id}
            ),
            "client.refund.wizard action_confirm": call(self.wizard, "action_confirm"),
            "client.refund.reject.wizard create": lambda user: RejectWizard.with_user(
                user
            ).create({"refund_ids": [Command.set(waiting.ids)], "reason": "No"}),
            "client.refund.reject.wizard action_reject": call(
                self.reject_wizard, "action_reject"
            ),
            # the register
            "client.refund action_confirm": call(self.draft, "action_confirm"),
            "client.refund action_approve": call(waiting, "action_approve"),
            "client.refund action_reject": call(waiting, "action_reject", "No"),
            "client.refund action_cancel (done)": call(self.done, "action_cancel"),
            "client.refund action_cancel (waiting)": call(waiting, "action_cancel"),
            "client.refund action_send_receipt": call(self.done, "action_send_receipt"),
            "client.refund action_send_card_refund": call(self.done, "action_send_card_refund"),
            "client.refund action_view_credit_notes": call(
                self.done, "action_view_credit_notes"
            ),
            "client.refund action_view_payments": call(self.done, "action_view_payments"),
            "client.refund action_view_pos_orders": call(self.done, "action_view_pos_orders"),
            "client.refund action_view_source": call(self.done, "action_view_source"),
            # the buttons of the documents
            "account.move action_client_refund": call(invoice, "action_client_refund"),
            "account.move action_view_client_refunds": call(
                invoice, "action_view_client_refunds"
            ),
            "account.payment action_client_refund": call(self.payment, "action_client_refund"),
            "account.payment action_client_refund_void": call(
                self.payment, "action_client_refund_void"
            ),
            # the client's Refund button opens the wizard without a document (see
            # the README): the refund is refused once a document is picked
            "res.partner action_client_refund, then the wizard": lambda user: Wizard.with_user(
                user
            )
            .with_context(**self.client.with_user(user).action_client_refund()["context"])
            .create({"move_id": invoice.id, "reason_id": self.reason.id}),
        }

    def _assert_nothing_changed(self):
        self.assertEqual(self.done.state, "done")
        self.assertEqual(self.draft.state, "draft")
        self.assertEqual(self.waiting.state, "to_approve")
        self.assertEqual(self.payment.state, self.payment_state)
        self.assertEqual(len(self.invoice.reversal_move_ids), 1)

    def test_access_internal_user_without_refund_groups(self):
        self._assert_access_refused(self.internal_user, self._calls())
        self._assert_nothing_changed()

    def test_access_portal_user(self):
        self._assert_access_refused(self.portal_user, self._calls())
        self._assert_nothing_changed()

    def test_access_user_of_another_company(self):
        self._assert_access_refused(self.company_2_user, self._calls())
        self._assert_nothing_changed()

    def test_access_staff_of_another_company(self):
        staff = self._company_2_staff()
        calls = self._calls()
        # creating the wizard writes nothing; rejecting with it is refused
        create_reject_wizard = calls.pop("client.refund.reject.wizard create")
        self._assert_access_refused(staff, calls)
        create_reject_wizard(staff)
        self._assert_nothing_changed()

    def test_access_client_refunds_page_of_a_shared_client(self):
        """The client's Refunds smart button opens the register filtered on the
        client: a user without the refund groups is refused when the list is
        read; a user of another company reads only that company's refunds."""
        own_refund = self._create_register_entry(company=self.company_2)
        for user in self._outsiders().values():
            with self.subTest(user=user.login):
                self.env.invalidate_all()
                Refund = self.env["client.refund"].with_user(user)
                if user.has_group("client_refund.group_client_refund_user"):
                    action = self.client.with_user(user).action_view_client_refunds()
                    self.assertEqual(Refund.search(action["domain"]), own_refund)
                    continue
                with self.assertRaises(AccessError):
                    action = self.client.with_user(user).action_view_client_refunds()
                    Refund.search(action["domain"])


# ----------------------------------------------------------------------
# gift cards, eWallets, visit packs and memberships: access, and the bad
# input test_loyalty_refund.py and test_membership_refund.py leave out
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestReliabilityBalance(LoyaltyRefundMixin, ReliabilityMixin, ClientRefundCommon):
    def setUp(self):
        super().setUp()
        self.company.client_refund_journal_id = self.company_data["default_journal_cash"]
        product = self._create_product(
            name="Gift Card", type="service", lst_price=50.0, taxes_id=[Command.clear()]
        )
        program = self._program("Gift Cards", "gift_card", product)
        self.card = self._issue(program, 50.0)
        self.assertEqual(len(self.card), 1)
        today = fields.Date.today()
        membership = self.env["product.product"].create(
            {
                "name": "Gym year",
                "type": "service",
                "membership": True,
                "membership_date_from": today - timedelta(days=30),
                "membership_date_to": today + timedelta(days=334),
                "list_price": 365.0,
                "taxes_id": [Command.clear()],
            }
        )
        invoice = self.init_invoice(
            "out_invoice", partner=self.client, products=[membership], post=True
        )
        self.membership_line = self.env["membership.membership_line"].search(
            [("account_invoice_line", "in", invoice.invoice_line_ids.ids)]
        )
        self.assertEqual(len(self.membership_line), 1)
        self.wizard = (
            self.env["client.refund.balance.wizard"]
            .with_user(self.refund_user)
            .create(
                {
                    "card_id": self.card.id,
                    "refund_option": "expense",
                    "amount": 10.0,
                    "reason_id": self.reason.id,
                }
            )
        )

    def test_bad_input_company_without_refund_account(self):
        self.company.client_refund_account_id = False
        wizard = (
            self.env["client.refund.balance.wizard"]
            .with_user(self.refund_user)
            .create(
                {
                    "card_id": self.card.id,
                    "refund_option": "expense",
                    "amount": 50.0,
                    "reason_id": self.reason.id,
                }
            )
        )
        with self.assertBadInput("has no Refund account: set it in the accounting settings"):
            wizard.action_confirm()
        self._assert_nothing_changed()

    def test_bad_input_refund_that_says_it_refunds_something_else(self):
        """A refund that calls a gift card an eWallet: users cannot write the
        register, and what a refund refunds is read from its source."""
        values = {
            "partner_id": self.client.id,
            "source_type": "ewallet",
            "source_card_id": self.card.id,
            "scope": "partial",
            "amount": 10.0,
            "payout_method": "refund_account",
            "payout_journal_id": self.company.client_refund_journal_id.id,
            "reason_id": self.reason.id,
        }
        with self.assertBadInput("not allowed to create", AccessError):
            self.env["client.refund"].with_user(self.refund_user).create(values)
        # recorded as a wizard records it, the source decides what it is
        refund = self.env["client.refund"].sudo().create(values).with_user(self.refund_user)
        self.assertEqual(refund._prepare_values_from_source()["source_type"], "gift_card")

    def _calls(self):
        card, line = self.card, self.membership_line
        Wizard = self.env["client.refund.balance.wizard"]
        return {
            "client.refund.balance.wizard create (card)": lambda user: Wizard.with_user(
                user
            ).create({"card_id": card.id, "reason_id": self.reason.id}),
            "client.refund.balance.wizard create (membership)": lambda user: Wizard.with_user(
                user
            ).create({"membership_line_id": line.id, "reason_id": self.reason.id}),
            "client.refund.balance.wizard action_confirm": self._call(
                self.wizard, "action_confirm"
            ),
            "loyalty.card action_client_refund": self._call(card, "action_client_refund"),
            "loyalty.card action_view_client_refunds": self._call(
                card, "action_view_client_refunds"
            ),
            "membership line action_client_refund": self._call(line, "action_client_refund"),
        }

    def _assert_nothing_changed(self):
        self.assertAlmostEqual(self.card.points, 50.0)
        self.assertTrue(self.card.active)
        self.assertFalse(self.membership_line.date_cancel)

    def test_access_balance_internal_user_without_refund_groups(self):
        self._assert_access_refused(self.internal_user, self._calls())
        self._assert_nothing_changed()

    def test_access_balance_portal_user(self):
        self._assert_access_refused(self.portal_user, self._calls())
        self._assert_nothing_changed()

    def test_access_balance_user_of_another_company(self):
        self._assert_access_refused(self.company_2_user, self._calls())
        self._assert_nothing_changed()

    def test_access_balance_staff_of_another_company(self):
        self._assert_access_refused(self._company_2_staff(), self._calls())
        self._assert_nothing_changed()
