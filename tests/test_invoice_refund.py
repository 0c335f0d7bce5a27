from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from odoo.addons.account.models.sequence_mixin import SequenceMixin

from .common import ClientRefundCommon


class InvoiceRefundCommon(ClientRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cash_journal = cls.company_data["default_journal_cash"]
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.company.client_refund_journal_id = cls.cash_journal
        cls.receivable = cls.company_data["default_account_receivable"]
        cls.revenue = cls.company_data["default_account_revenue"]
        cls.tax_account = cls.tax_sale_a.invoice_repartition_line_ids.account_id
        cls.haircut = cls._create_product(name="Haircut", type="service", lst_price=100.0)
        cls.shampoo = cls._create_product(
            name="Shampoo", type="consu", is_storable=True, lst_price=20.0
        )
        cls.client.property_account_receivable_id = cls.receivable

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _invoice(self, lines, post=True, currency=None, invoice_date=None, partner=None):
        """lines: [(product, quantity, price_unit)], 15% tax excluded on each."""
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": (partner or self.client).id,
                "invoice_date": invoice_date or fields.Date.today(),
                "currency_id": (currency or self.company.currency_id).id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "quantity": quantity,
                            "price_unit": price_unit,
                            "tax_ids": [Command.set(self.tax_sale_a.ids)],
                        }
                    )
                    for product, quantity, price_unit in lines
                ],
            }
        )
        if post:
            invoice.action_post()
        return invoice

    def _pay(self, invoice, amount=None, journal=None):
        values = {"journal_id": (journal or self.cash_journal).id}
        if amount is not None:
            values["amount"] = amount
        return (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(values)
            ._create_payments()
        )

    def _wizard_form(self, invoice, user=None):
        return Form(
            self.env["client.refund.wizard"]
            .with_user(user or self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        )

    def _refund(self, invoice, mode="full", user=None, **values):
        with self._wizard_form(invoice, user=user) as wizard:
            wizard.refund_mode = mode
            wizard.reason_id = self.reason
            for name, value in values.items():
                setattr(wizard, name, value)
        return self._confirm(wizard)

    def _confirm(self, wizard_form):
        action = wizard_form.record.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def _balance(self, account, partner=None):
        domain = [("account_id", "=", account.id), ("parent_state", "=", "posted")]
        if partner:
            domain.append(("partner_id", "=", partner.id))
        lines = self.env["account.move.line"].search(domain)
        return self.company.currency_id.round(sum(lines.mapped("balance")))

    def _counts(self):
        return (
            self.env["account.move"].search_count([]),
            self.env["account.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
        )


@tagged("post_install", "-at_install")
class TestInvoiceRefund(InvoiceRefundCommon):

    def _liquidity_balance(self, payments):
        return sum(payments.mapped(lambda p: sum(p._seek_for_lines()[0].mapped("balance"))))

    # ------------------------------------------------------------------
    # full refund
    # ------------------------------------------------------------------

    def test_full_refund_of_paid_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        self.assertEqual(invoice.payment_state, "paid")
        refund = self._refund(invoice, payout_journal_id=self.cash_journal)

        credit_note = refund.credit_note_ids
        self.assertEqual(refund.state, "done")
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertAlmostEqual(credit_note.amount_total, 115.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertTrue(
            invoice.line_ids.filtered(lambda l: l.account_id == self.receivable).reconciled
        )
        payout = refund.payment_ids
        self.assertEqual(payout.payment_type, "outbound")
        self.assertEqual(payout.partner_type, "customer")
        self.assertEqual(payout.journal_id, self.cash_journal)
        self.assertAlmostEqual(payout.amount, 115.0)
        self.assertTrue(payout.is_reconciled)
        self.assertAlmostEqual(refund.amount, 115.0)
        self.assertAlmostEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(refund.payout_method, "journal")
        # the books: the client owes nothing and is owed nothing, income and tax
        # are back to zero, and the money that came in went out again
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(self._balance(self.revenue), 0.0)
        self.assertEqual(self._balance(self.tax_account), 0.0)
        self.assertAlmostEqual(self._liquidity_balance(payment + payout), 0.0)
        self.assertAlmostEqual(self._liquidity_balance(payout), -115.0)
        # the trace
        self.assertEqual(refund.source_move_id, invoice)
        self.assertEqual(refund.user_id, self.refund_user)
        for document in (refund, invoice, self.client):
            self.assertTrue(
                any(refund.name in (m.body or "") for m in document.message_ids),
                f"no refund message on {document}",
            )
        self.assertEqual(invoice.client_refund_count, 1)

    def test_full_refund_undoes_the_payment_match_before_numbering_the_credit_note(self):
        """Core keeps a credit note's number locked from its posting to the
        commit (_locked_increment): the other refunds of the sales journal wait
        meanwhile. The refund undoes the invoice's match with its payment
        before the number is taken, not while it is held (under make load:
        the number held ~110 ms instead of ~180). The spy calls core's own
        method; it only records what the invoice was matched with then."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        receivable_line = invoice.line_ids.filtered(lambda l: l.account_id == self.receivable)
        self.assertTrue(receivable_line.matched_credit_ids)
        matched_when_numbered = []
        locked_increment = SequenceMixin._locked_increment

        def spy(record, *args, **kwargs):
            if record._name == "account.move" and record.move_type == "out_refund":
                matched_when_numbered.append(bool(receivable_line.matched_credit_ids))
            return locked_increment(record, *args, **kwargs)

        with patch.object(SequenceMixin, "_locked_increment", spy):
            refund = self._refund(invoice, payout_journal_id=self.cash_journal)
        self.assertEqual(matched_when_numbered, [False])
        # and the books are those of any full refund
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(receivable_line.matched_credit_ids.credit_move_id.move_id,
                         refund.credit_note_ids)
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_full_refund_of_paid_invoice_kept_as_client_credit(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        refund = self._refund(invoice, payout_method="credit")

        # the invoice is matched with its credit note alone; what the client paid
        # stays on the payment as credit, nothing is paid out
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(refund.credit_note_ids.payment_state, "paid")
        invoice_line = invoice.line_ids.filtered(lambda l: l.account_id == self.receivable)
        self.assertEqual(
            invoice_line.matched_credit_ids.credit_move_id.move_id, refund.credit_note_ids
        )
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.payout_method, "credit")
        self.assertAlmostEqual(refund.amount_paid_back, 0.0)
        payment_line = payment.move_id.line_ids.filtered(
            lambda l: l.account_id == self.receivable
        )
        self.assertFalse(payment_line.reconciled)
        self.assertAlmostEqual(payment_line.amount_residual, -115.0)
        self.assertEqual(self._balance(self.receivable, self.client), -115.0)
        self.assertEqual(self._balance(self.revenue), 0.0)

    def test_full_refund_of_unpaid_invoice_pays_nothing_back(self):
        invoice = self._invoice([(self.haircut, 2, 50.0)])
        payments_before = self.env["account.payment"].search_count([])
        refund = self._refund(invoice)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.payout_method, "none")
        self.assertEqual(self.env["account.payment"].search_count([]), payments_before)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_full_refund_of_partly_paid_invoice_pays_back_what_was_paid(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice, amount=40.0)
        refund = self._refund(invoice)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(refund.amount, 115.0)
        self.assertAlmostEqual(refund.amount_paid_back, 40.0)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_full_refund_after_partial_refund(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        first = self._refund(invoice, mode="amount", amount=15.0)
        second = self._refund(invoice)
        self.assertAlmostEqual(second.amount, 100.0)
        self.assertAlmostEqual(first.amount_paid_back + second.amount_paid_back, 115.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertAlmostEqual(
            self._liquidity_balance(payment + first.payment_ids + second.payment_ids), 0.0
        )

    # ------------------------------------------------------------------
    # partial refund by amount, discount or amount kept
    # ------------------------------------------------------------------

    def test_partial_refund_by_amount(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 1, 50.0)])
        self._pay(invoice)
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "amount"
            wizard.partial_by = "amount"
            wizard.amount = 34.5
            self.assertAlmostEqual(wizard.discount_percent, 20.0)
            self.assertAlmostEqual(wizard.amount_kept, 138.0)
            self.assertAlmostEqual(wizard.amount_paid_back, 34.5)
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)

        credit_note = refund.credit_note_ids
        self.assertAlmostEqual(credit_note.amount_total, 34.5)
        self.assertAlmostEqual(credit_note.amount_untaxed, 30.0)
        self.assertAlmostEqual(credit_note.amount_tax, 4.5)
        # the same lines as the invoice, each at a fifth of its price
        self.assertEqual(
            sorted(credit_note.invoice_line_ids.mapped("price_subtotal")), [10.0, 20.0]
        )
        self.assertEqual(credit_note.invoice_line_ids.origin_line_id, invoice.invoice_line_ids)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(credit_note.payment_state, "paid")
        self.assertAlmostEqual(refund.payment_ids.amount, 34.5)
        self.assertEqual(refund.scope, "partial")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertAlmostEqual(self._balance(self.revenue), -120.0)
        self.assertAlmostEqual(self._balance(self.tax_account), -18.0)

    def test_partial_refund_by_discount(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 1, 50.0)])
        self._pay(invoice)
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "amount"
            wizard.partial_by = "discount"
            wizard.discount_percent = 10.0
            self.assertAlmostEqual(wizard.amount, 17.25)
            self.assertAlmostEqual(wizard.amount_kept, 155.25)
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 17.25)
        self.assertAlmostEqual(refund.amount_paid_back, 17.25)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_partial_refund_by_amount_that_stays_paid(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 1, 50.0)])
        self._pay(invoice)
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "amount"
            wizard.partial_by = "kept"
            wizard.amount_kept = 150.0
            self.assertAlmostEqual(wizard.amount, 22.5)
            self.assertAlmostEqual(wizard.discount_percent, 13.04, places=2)
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 22.5)
        self.assertAlmostEqual(invoice.amount_total - refund.amount, 150.0)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_partial_refund_amount_is_exact_despite_rounding(self):
        invoice = self._invoice(
            [(self.haircut, 1, 33.33), (self.shampoo, 3, 11.11), (self.haircut, 1, 7.77)]
        )
        self._pay(invoice)
        refund = self._refund(invoice, mode="amount", amount=10.0)
        credit_note = refund.credit_note_ids
        self.assertAlmostEqual(credit_note.amount_total, 10.0)
        # taxes are the core's for these lines: 15% of each line, rounded per line
        self.assertAlmostEqual(
            credit_note.amount_tax,
            sum(
                self.company.currency_id.round(line.price_subtotal * 0.15)
                for line in credit_note.invoice_line_ids
            ),
        )
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_partial_refund_of_unpaid_invoice_reduces_what_is_owed(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, mode="amount", amount=23.0)
        self.assertAlmostEqual(invoice.amount_residual, 92.0)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.payout_method, "none")

    # ------------------------------------------------------------------
    # refund of lines: a product sold during a visit, the service kept
    # ------------------------------------------------------------------

    def _deliver(self, invoice, product, quantity):
        warehouse = self.env["stock.warehouse"].search(
            [("company_id", "=", self.company.id)], limit=1
        )
        self.env["stock.quant"]._update_available_quantity(
            product, warehouse.lot_stock_id, 10.0
        )
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": warehouse.out_type_id.id,
                "partner_id": self.client.id,
                "origin": invoice.name,
                "location_id": warehouse.lot_stock_id.id,
                "location_dest_id": self.env.ref("stock.stock_location_customers").id,
                "move_ids": [
                    Command.create(
                        {
                            "name": product.name,
                            "product_id": product.id,
                            "product_uom_qty": quantity,
                            "location_id": warehouse.lot_stock_id.id,
                            "location_dest_id": self.env.ref(
                                "stock.stock_location_customers"
                            ).id,
                        }
                    )
                ],
            }
        )
        picking.action_confirm()
        picking.move_ids.quantity = quantity
        picking.move_ids.picked = True
        picking.button_validate()
        self.assertEqual(picking.state, "done")
        return warehouse

    def test_product_only_refund_returns_stock_and_keeps_service(self):
        invoice = self._invoice([(self.haircut, 1, 60.0), (self.shampoo, 2, 25.0)])
        self._pay(invoice)
        warehouse = self._deliver(invoice, self.shampoo, 2.0)
        on_hand = self.shampoo.with_context(warehouse_id=warehouse.id).qty_available
        self.assertEqual(on_hand, 8.0)

        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.env.ref("client_refund.reason_product_returned")
            self.assertEqual(len(wizard.line_ids), 2)
            for index in range(len(wizard.line_ids)):
                with wizard.line_ids.edit(index) as line:
                    if line.product_id == self.shampoo:
                        self.assertEqual(line.quantity_left, 2.0)
                        line.quantity = 1.0
            self.assertAlmostEqual(wizard.amount_to_refund, 28.75)
        refund = self._confirm(wizard)

        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.invoice_line_ids.product_id, self.shampoo)
        self.assertEqual(credit_note.invoice_line_ids.quantity, 1.0)
        self.assertAlmostEqual(credit_note.amount_total, 28.75)
        self.assertAlmostEqual(refund.amount_paid_back, 28.75)
        self.assertEqual(refund.line_ids.product_id, self.shampoo)
        self.assertAlmostEqual(refund.line_ids.amount, 28.75)
        self.assertEqual(invoice.payment_state, "paid")
        # the shampoo is back on the shelf
        returned = refund.picking_ids
        self.assertEqual(returned.state, "done")
        self.assertEqual(returned.picking_type_code, "incoming")
        self.assertEqual(returned.move_ids.product_id, self.shampoo)
        self.assertEqual(returned.move_ids.quantity, 1.0)
        self.assertEqual(
            self.shampoo.with_context(warehouse_id=warehouse.id).qty_available, 9.0
        )
        # services never move stock
        self.assertFalse(
            self.env["stock.move"].search([("product_id", "=", self.haircut.id)])
        )
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

        # a second refund only offers what is left
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
        left = {line.product_id: line.quantity_left for line in wizard.record.line_ids}
        self.assertEqual(left, {self.haircut: 1.0, self.shampoo: 1.0})

    def test_storable_product_never_delivered_moves_no_stock(self):
        invoice = self._invoice([(self.shampoo, 2, 25.0)])
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
            with wizard.line_ids.edit(0) as line:
                line.quantity = 2.0
        refund = self._confirm(wizard)
        self.assertFalse(refund.picking_ids)
        self.assertFalse(self.env["stock.move"].search([("product_id", "=", self.shampoo.id)]))
        self.assertEqual(invoice.payment_state, "reversed")

    # ------------------------------------------------------------------
    # what is offered counts every earlier credit note
    # ------------------------------------------------------------------

    def test_core_credit_notes_are_counted(self):
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 2, 25.0)])
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id, "reason": "core"})
        )
        core_credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        # the accountant keeps only the shampoo on the core credit note
        core_credit_note.write(
            {
                "invoice_line_ids": [
                    Command.delete(line.id)
                    for line in core_credit_note.invoice_line_ids
                    if line.product_id == self.haircut
                ]
            }
        )
        core_credit_note.action_post()
        self.assertEqual(core_credit_note.invoice_line_ids.origin_line_id.product_id, self.shampoo)

        with self._wizard_form(invoice) as wizard:
            self.assertAlmostEqual(wizard.amount_refundable, 115.0)
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
        self.assertEqual(wizard.record.line_ids.product_id, self.haircut)
        counts = self._counts()
        with self.assertRefused("left to refund"):
            self._refund(invoice, mode="amount", amount=115.01)
        self.assertEqual(self._counts(), counts)

    def test_bad_input_core_credit_note_beyond_the_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._refund(invoice, mode="amount", amount=50.0)
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id})
        )
        core_credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        with self.assertRefused("more than its total"):
            core_credit_note.action_post()
        self.assertEqual(core_credit_note.state, "draft")
        self.assertAlmostEqual(invoice._client_refund_get_credited_amount(), 50.0)

    def test_goodwill_credit_note_beyond_the_invoice_when_the_setting_is_off(self):
        """An accountant who turns *No Credit Note Beyond Its Invoice* off posts a
        goodwill credit note above the invoice; the addon then refunds nothing
        more of it."""
        self.company.client_refund_limit_credit_notes = False
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        self._refund(invoice, mode="amount", amount=50.0)
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id})
        )
        goodwill = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        goodwill.action_post()
        self.assertEqual(goodwill.state, "posted")
        self.assertAlmostEqual(invoice._client_refund_get_credited_amount(), 165.0)
        counts = self._counts()
        with self.assertRefused("nothing left|must be positive|Only"):
            self._refund(invoice)
        self.assertEqual(self._counts(), counts)

    # ------------------------------------------------------------------
    # void a payment
    # ------------------------------------------------------------------

    def _void(self, payment, user=None):
        action = payment.with_user(user or self.refund_user).action_client_refund_void()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(user or self.refund_user)
            .with_context(**action["context"])
        ) as wizard:
            self.assertTrue(wizard.void_payment)
            wizard.reason_id = self.env.ref("client_refund.reason_duplicate_payment")
        return self._confirm(wizard)

    def test_void_payment(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        self.assertTrue(payment.client_refund_can_void)
        refund = self._void(payment)

        self.assertEqual(payment.state, "canceled")
        self.assertEqual(payment.move_id.state, "cancel")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertAlmostEqual(invoice.amount_residual, 115.0)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.scope, "void")
        self.assertEqual(refund.payout_method, "none")
        self.assertEqual(refund.source_payment_id, payment)
        self.assertFalse(refund.payment_ids)
        self.assertFalse(refund.credit_note_ids)
        # still listed, under the "Cancelled" filter of the payments
        cancelled = self.env["account.payment"].search([("state", "=", "canceled")])
        self.assertIn(payment, cancelled)
        for document in (payment, invoice, self.client):
            body = " ".join(document.message_ids.mapped(lambda m: str(m.body)))
            self.assertIn("voided", body, f"no void message on {document}")
            self.assertIn(self.refund_user.name, body)
            self.assertIn("Duplicate payment", body)

    def test_void_one_of_two_payments_leaves_invoice_partly_paid(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        first = self._pay(invoice, amount=50.0)
        self._pay(invoice, amount=65.0)
        self.assertEqual(invoice.payment_state, "paid")
        self._void(first)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertAlmostEqual(invoice.amount_residual, 50.0)

    def test_payment_refund_opens_its_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        action = payment.with_user(self.refund_user).action_client_refund()
        self.assertEqual(action["res_model"], "client.refund.wizard")
        self.assertEqual(action["context"]["default_move_id"], invoice.id)

    def test_refund_unused_client_credit_of_a_payment(self):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": 80.0,
                "journal_id": self.cash_journal.id,
            }
        )
        payment.action_post()
        action = payment.with_user(self.refund_user).action_client_refund()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(**action["context"])
        ) as wizard:
            self.assertAlmostEqual(wizard.amount_refundable, 80.0)
            wizard.refund_mode = "amount"
            wizard.amount = 30.0
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)
        self.assertAlmostEqual(refund.payment_ids.amount, 30.0)
        self.assertAlmostEqual(payment._client_refund_get_refundable_amount(), 50.0)
        self.assertAlmostEqual(self._balance(self.receivable, self.client), -50.0)

    # ------------------------------------------------------------------
    # foreign currency
    # ------------------------------------------------------------------

    def test_foreign_currency_invoice_refunded_at_its_own_rate(self):
        other = self.setup_other_currency("EUR", rates=[("2016-01-01", 3.0), ("2017-01-01", 2.0)])
        invoice = self._invoice(
            [(self.haircut, 1, 300.0)], currency=other, invoice_date="2016-06-01"
        )
        self.assertEqual(invoice.invoice_currency_rate, 3.0)
        moves_before = self.env["account.move"].search_count([])
        refund = self._refund(invoice)
        credit_note = refund.credit_note_ids
        self.assertEqual(refund.currency_id, other)
        self.assertEqual(credit_note.currency_id, other)
        self.assertAlmostEqual(credit_note.amount_total, 345.0)
        self.assertEqual(credit_note.invoice_currency_rate, 3.0)
        self.assertAlmostEqual(credit_note.amount_total_signed, -115.0)
        self.assertEqual(invoice.payment_state, "reversed")
        # only the credit note was created: no exchange difference entry
        self.assertEqual(self.env["account.move"].search_count([]), moves_before + 1)
        self.assertFalse(
            invoice.line_ids.full_reconcile_id.exchange_move_id,
        )
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_foreign_currency_full_refund_books_its_exchange_difference_on_the_payout(self):
        """EUR invoice at 1.15 in a USD company, paid at 1.15, refunded in full
        with a payout at 1.25: the 8.00 USD exchange difference sits on the
        payment <-> payout match alone."""
        eur = self.setup_other_currency("EUR", rates=[("2016-01-01", 1.15), ("2017-01-01", 1.25)])
        invoice = self._invoice([(self.haircut, 1, 100.0)], currency=eur, invoice_date="2016-06-01")
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": self.cash_journal.id, "payment_date": "2016-06-01"})
            ._create_payments()
        )
        self.assertEqual(invoice.payment_state, "paid")
        refund = self._refund(invoice)
        payout = refund.payment_ids
        self.assertEqual(payout.currency_id, eur)
        self.assertAlmostEqual(payout.amount, 115.0)
        self.assertEqual(invoice.payment_state, "reversed")

        def receivable(move):
            return move.line_ids.filtered(lambda line: line.account_id == self.receivable)

        invoice_line = receivable(invoice)
        credit_note_line = receivable(refund.credit_note_ids)
        payment_line, payout_line = receivable(payment.move_id), receivable(payout.move_id)
        # the invoice is matched with its credit note alone, at its own rate
        invoice_partials = invoice_line.matched_credit_ids
        self.assertEqual(invoice_partials.credit_move_id, credit_note_line)
        self.assertFalse(invoice_partials.exchange_move_id)
        # the payment with the payout, and the exchange difference on that match
        payout_partials = payout_line.matched_credit_ids
        self.assertEqual(payout_partials.credit_move_id, payment_line)
        exchange = payout_partials.exchange_move_id
        self.assertEqual(len(exchange), 1)
        self.assertAlmostEqual(
            sum(receivable(exchange).mapped("balance")), 8.0,
            msg="115 EUR paid at 1.15 (100 USD), paid back at 1.25 (92 USD)",
        )
        self.assertTrue(payment_line.reconciled and payout_line.reconciled)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        # the refund's matches are undone by its cancellation only: an
        # accountant's un-match is refused, and the matches stay whole
        with self.assertRefused(f"belongs to refund {refund.name}"):
            invoice_partials.unlink()
        self.assertTrue(invoice_partials.exists())
        self.assertTrue(payout_line.reconciled)
        self.assertEqual(payout_line.matched_credit_ids.exchange_move_id, exchange)
        self.assertFalse(exchange.reversal_move_ids)

    # ------------------------------------------------------------------
    # from the client
    # ------------------------------------------------------------------

    def test_refund_from_the_client(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        action = self.client.with_user(self.refund_user).action_client_refund()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(**action["context"])
        ) as wizard:
            self.assertEqual(wizard.partner_id, self.client)
            wizard.move_id = invoice
            self.assertAlmostEqual(wizard.amount_refundable, 115.0)
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(self.client.client_refund_count, 1)
        self.assertEqual(refund.partner_id, self.client)

    # ------------------------------------------------------------------
    # bad input: a clear error, nothing written
    # ------------------------------------------------------------------

    def _assert_refused_and_nothing_written(self, pattern, invoice, mode="full", **values):
        counts = self._counts()
        with self.assertRefused(pattern):
            self._refund(invoice, mode=mode, **values)
        self.assertEqual(self._counts(), counts)

    def test_bad_input_amount_zero_or_negative(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._assert_refused_and_nothing_written("must be positive", invoice, "amount", amount=0.0)
        self._assert_refused_and_nothing_written(
            "must be positive", invoice, "amount", amount=-5.0
        )

    def test_bad_input_amount_above_what_is_left(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._refund(invoice, mode="amount", amount=100.0)
        self._assert_refused_and_nothing_written(
            "Only .*15.00.* left to refund", invoice, "amount", amount=15.01
        )

    def test_bad_input_draft_or_cancelled_invoice(self):
        draft = self._invoice([(self.haircut, 1, 100.0)], post=False)
        self._assert_refused_and_nothing_written("not posted", draft)
        cancelled = self._invoice([(self.haircut, 1, 100.0)], post=False)
        cancelled.button_cancel()
        self._assert_refused_and_nothing_written("not posted", cancelled)
        with self.assertRefused("not posted"):
            cancelled.action_client_refund()

    def test_bad_input_vendor_bill(self):
        bill = self.init_invoice("in_invoice", partner=self.client, amounts=[100.0], post=True)
        with self.assertRefused("not a customer invoice"):
            bill.action_client_refund()
        self._assert_refused_and_nothing_written("not a customer invoice", bill)

    def test_bad_input_journal_of_another_company(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        counts = self._counts()
        with self.assertRefused("Incompatible companies"):
            wizard = self.env["client.refund.wizard"].create(
                {
                    "source_type": "invoice",
                    "move_id": invoice.id,
                    "reason_id": self.reason.id,
                    "payout_journal_id": self.company_data_2["default_journal_cash"].id,
                }
            )
            wizard.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_bad_input_partner_of_another_company(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        stranger = self.env["res.partner"].create(
            {"name": "Company 2 client", "company_id": self.company_2.id}
        )
        counts = self._counts()
        with self.assertRefused("Incompatible companies"):
            wizard = self.env["client.refund.wizard"].create(
                {
                    "source_type": "invoice",
                    "move_id": invoice.id,
                    "partner_id": stranger.id,
                    "reason_id": self.reason.id,
                }
            )
            wizard.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_bad_input_line_quantity_above_what_is_left(self):
        invoice = self._invoice([(self.haircut, 1, 60.0), (self.shampoo, 2, 25.0)])
        counts = self._counts()
        with self.assertRefused("Only 2.0 of Shampoo are left to refund, not 3.0"):
            with self._wizard_form(invoice) as wizard:
                wizard.refund_mode = "lines"
                wizard.reason_id = self.reason
                with wizard.line_ids.edit(1) as line:
                    line.quantity = 3.0
            wizard.record.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_bad_input_void_of_a_bank_matched_payment(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice, journal=self.bank_journal)
        # the bank statement shows the money: match it with the payment, as the
        # bank reconciliation does
        statement_line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": self.bank_journal.id,
                "partner_id": self.client.id,
                "amount": 115.0,
                "payment_ref": invoice.name,
            }
        )
        suspense_line = statement_line.move_id.line_ids.filtered(
            lambda l: l.account_id == self.bank_journal.suspense_account_id
        )
        suspense_line.account_id = payment.outstanding_account_id
        (suspense_line + payment.move_id.line_ids.filtered(
            lambda l: l.account_id == payment.outstanding_account_id
        )).reconcile()
        self.assertTrue(payment.is_matched)
        self.assertFalse(payment.client_refund_can_void)
        counts = self._counts()
        with self.assertRefused("matched with a bank statement"):
            payment.action_client_refund_void()
        self.assertEqual(self._counts(), counts)
        self.assertEqual(payment.state, "paid")

    # ------------------------------------------------------------------
    # what the review of the books asked for
    # ------------------------------------------------------------------

    def test_foreign_invoice_paid_in_company_currency_is_paid_back_as_paid(self):
        other = self.setup_other_currency("EUR", rates=[("2016-01-01", 3.0), ("2017-01-01", 2.0)])
        invoice = self._invoice(
            [(self.haircut, 1, 300.0)], currency=other, invoice_date="2016-06-01"
        )
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "journal_id": self.cash_journal.id,
                    "currency_id": self.company.currency_id.id,
                    "amount": 172.5,
                }
            )
            ._create_payments()
        )
        self.assertEqual(invoice.payment_state, "paid")
        refund = self._refund(invoice)
        payout = refund.payment_ids
        self.assertEqual(payout.currency_id, self.company.currency_id)
        self.assertAlmostEqual(payout.amount, 172.5, msg="the client gets back what was paid")
        self.assertAlmostEqual(self._liquidity_balance(payment + payout), 0.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(self._balance(self.revenue), 0.0)

    def test_full_refund_credits_discount_lines_too(self):
        discount = self._create_product(name="Loyalty discount", type="service", taxes_id=[])
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": self.haircut.id,
                            "price_unit": 100.0,
                            "tax_ids": [Command.set(self.tax_sale_a.ids)],
                        }
                    ),
                    Command.create(
                        {"product_id": discount.id, "price_unit": -20.0, "tax_ids": []}
                    ),
                ],
            }
        )
        invoice.action_post()
        self._pay(invoice)
        refund = self._refund(invoice)
        credit_note = refund.credit_note_ids
        self.assertAlmostEqual(credit_note.amount_total, 95.0)
        self.assertAlmostEqual(credit_note.amount_tax, 15.0)
        self.assertEqual(len(credit_note.invoice_line_ids), 2)
        self.assertEqual(self._balance(self.revenue), 0.0)
        self.assertEqual(self._balance(self.tax_account), 0.0, "no VAT left behind")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_full_refund_leaves_credit_used_on_another_invoice_alone(self):
        first = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(first)
        credit = self._refund(first, mode="amount", amount=15.0, payout_method="credit")
        self.assertFalse(credit.payment_ids)
        other = self._invoice([(self.haircut, 1, 40.0)])
        (other + credit.credit_note_ids).line_ids.filtered(
            lambda l: l.account_id == self.receivable
        ).reconcile()
        self.assertEqual(other.payment_state, "partial")
        self.assertAlmostEqual(other.amount_residual, 31.0)

        with self._wizard_form(first) as wizard:
            wizard.reason_id = self.reason
            self.assertAlmostEqual(wizard.amount_paid_back, 100.0)
        refund = self._confirm(wizard)
        self.assertAlmostEqual(refund.amount_paid_back, 100.0)
        self.assertAlmostEqual(other.amount_residual, 31.0, "the other invoice is untouched")
        self.assertEqual(other.payment_state, "partial")
        self.assertAlmostEqual(self._balance(self.receivable, self.client), 31.0)

    def test_bad_input_void_of_a_payment_paid_back(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        self._refund(invoice)
        self.assertFalse(payment.client_refund_can_void)
        counts = self._counts()
        with self.assertRefused("paid back or used otherwise"):
            payment.action_client_refund_void()
        self.assertNotEqual(payment.state, "canceled")
        self.assertEqual(self._counts(), counts)

    def test_bad_input_void_of_an_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        counts = self._counts()
        with self.assertRefused("Only a payment can be voided"):
            wizard = self.env["client.refund.wizard"].create(
                {
                    "source_type": "invoice",
                    "move_id": invoice.id,
                    "void_payment": True,
                    "reason_id": self.reason.id,
                }
            )
            wizard.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_void_payment_books(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        self._void(payment)
        self.assertAlmostEqual(self._balance(self.receivable, self.client), 115.0)
        # the cancelled entry counts no more: no money is booked as received
        self.assertEqual(payment.move_id.state, "cancel")
        self.assertAlmostEqual(self._balance(payment.outstanding_account_id), 0.0)
        self.assertEqual(self._balance(self.revenue), -100.0)

    def test_bad_input_refund_to_another_client(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        mallory = self.env["res.partner"].create({"name": "Mallory"})
        counts = self._counts()
        with self.assertRefused("was paid by Client Alice, not by Mallory"):
            wizard = self.env["client.refund.wizard"].create(
                {
                    "source_type": "invoice",
                    "move_id": invoice.id,
                    "partner_id": mallory.id,
                    "reason_id": self.reason.id,
                }
            )
            wizard.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_wizard_takes_the_company_of_the_invoice(self):
        invoice = self.init_invoice(
            "out_invoice", partner=self.client, amounts=[100.0], post=True,
            company=self.company_2,
        )
        Wizard = self.env["client.refund.wizard"].with_context(
            allowed_company_ids=(self.company + self.company_2).ids
        )
        with Form(
            Wizard.with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            self.assertEqual(wizard.company_id, self.company_2)
            self.assertEqual(wizard.payout_journal_id.company_id, self.company_2)
            wizard.reason_id = self.reason
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.company_id, self.company_2)
        self.assertEqual(refund.credit_note_ids.company_id, self.company_2)

    def test_full_refund_returns_delivered_products(self):
        invoice = self._invoice([(self.shampoo, 2, 25.0)])
        warehouse = self._deliver(invoice, self.shampoo, 2.0)
        refund = self._refund(invoice)
        self.assertEqual(refund.picking_ids.state, "done")
        self.assertEqual(
            self.shampoo.with_context(warehouse_id=warehouse.id).qty_available, 10.0
        )

    def test_bad_input_edit_of_a_confirmed_refund(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        refund = self._refund(invoice).with_user(self.refund_manager)
        with self.assertRefused("cannot be changed"):
            refund.write({"amount": 1.0})
        with self.assertRefused("cannot be changed"):
            refund.write({"state": "draft", "payment_ids": [Command.clear()]})
        with self.assertRefused("cannot be changed"):
            refund.line_ids.write({"quantity": 9.0}) if refund.line_ids else refund.write(
                {"partner_id": self.partner_a.id}
            )
        with self.assertRefused("cannot be changed"):
            # a context key set by an RPC caller changes nothing
            refund.with_context(client_refund_register=True).write({"amount": 1.0})
        refund.write({"note": "Client called back: all fine."})
        self.assertAlmostEqual(refund.amount, 115.0)
        counts = self._counts()
        with self.assertRaises(AccessError):
            self.env["client.refund"].with_user(self.refund_user).create(
                {
                    "partner_id": self.client.id,
                    "source_type": "invoice",
                    "amount": 10.0,
                    "reason_id": self.reason.id,
                    "state": "done",
                }
            )
        self.assertEqual(self._counts(), counts)

    # ------------------------------------------------------------------
    # speed
    # ------------------------------------------------------------------

    def _core_refund(self, invoice):
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id})
        )
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit_note.action_post()  # reconciles with the invoice
        self.assertEqual(invoice.payment_state, "reversed")

    def _addon_refund(self, invoice):
        wizard = self.env["client.refund.wizard"].create(
            {
                "source_type": "invoice",
                "move_id": invoice.id,
                "reason_id": self.reason.id,
                "payout_method": "credit",
            }
        )
        wizard.action_confirm()

    def test_query_count_does_not_grow_with_lines(self):
        extra = {}
        for size in (1, 50):
            lines = [(self.haircut, 1, 10.0 + index) for index in range(size)]
            core_invoice, addon_invoice = self._invoice(lines), self._invoice(lines)
            core = self._count_queries(lambda invoice=core_invoice: self._core_refund(invoice))
            addon = self._count_queries(
                lambda invoice=addon_invoice: self._addon_refund(invoice)
            )
            self.assertEqual(addon_invoice.payment_state, "reversed")
            extra[size] = addon - core
        self.assertLessEqual(
            extra[50],
            extra[1] + 5,
            f"the addon's extra queries grow with the lines: {extra}",
        )

    def test_access_client_form_of_a_refund_user_without_pos_rights(self):
        """The client's Refunds page lists the invoices to a refund user with
        Billing rights only: the POS orders are computed apart, for POS users."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        self.assertFalse(self.refund_user.has_group("point_of_sale.group_pos_user"))
        self.env.invalidate_all()
        client = self.client.with_user(self.refund_user)
        values = client.web_read(
            {"client_refund_invoice_ids": {"fields": {"display_name": {}}}}
        )[0]
        self.assertEqual(values["client_refund_invoice_ids"][0]["id"], invoice.id)

    def test_bad_input_membership_sold_on_the_invoice_is_refunded_from_the_membership(self):
        """The membership's balance follows only when it is refunded from the
        membership: the invoice refunds the other lines only."""
        gold = self.env["product.product"].create(
            {
                "name": "Gold membership",
                "membership": True,
                "membership_date_from": fields.Date.today(),
                "membership_date_to": fields.Date.add(fields.Date.today(), days=29),
                "list_price": 300.0,
            }
        )
        invoice = self._invoice([(gold, 1, 300.0), (self.haircut, 1, 100.0)])
        self._pay(invoice)
        counts = self._counts()
        with self.assertRefused("sold Gold membership: refund them from the card or the membership"):
            self._refund(invoice)
        with self.assertRefused("sold Gold membership"):
            self._refund(invoice, mode="amount", amount=50.0)
        self.assertEqual(self._counts(), counts)
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
            for index in range(len(wizard.line_ids)):
                with wizard.line_ids.edit(index) as line:
                    line.quantity = 1.0 if line.product_id == self.haircut else 0.0
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.credit_note_ids.invoice_line_ids.product_id, self.haircut)
