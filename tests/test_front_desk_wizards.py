from odoo.tests import Form, tagged

from .common import LoyaltyRefundMixin
from .test_invoice_refund import InvoiceRefundCommon


@tagged("post_install", "-at_install")
class TestFrontDeskInvoiceWizard(InvoiceRefundCommon):
    """The refund wizard offers what can succeed, proposes how the client paid
    and says in one line what the client gets back."""

    def _paid_invoice(self, journal=None):
        invoice = self._invoice([(self.haircut, 1, 100.0)])  # 115.00 with the tax
        self._pay(invoice, journal=journal)
        return invoice

    def test_bank_paid_invoice_proposes_the_bank(self):
        wizard = self._wizard_form(self._paid_invoice(journal=self.bank_journal))
        self.assertEqual(wizard.payout_method, "journal")
        self.assertEqual(wizard.payout_journal_id, self.bank_journal)
        self.assertEqual(
            wizard.money_line, f"The client gets back {self._fmt(115.0)} by bank transfer."
        )
        # the company's refund journal is cash: it is not what this client paid with
        self.assertEqual(self.company.client_refund_journal_id, self.cash_journal)

    def test_the_tender_with_the_most_left_is_proposed(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice, amount=40.0, journal=self.cash_journal)
        self._pay(invoice, amount=75.0, journal=self.bank_journal)
        self.assertEqual(self._wizard_form(invoice).payout_journal_id, self.bank_journal)

    def test_invoice_paid_in_cash_offers_neither_card_nor_till(self):
        wizard = self._wizard_form(self._paid_invoice())
        self.assertEqual(wizard.payout_journal_id, self.cash_journal)
        self.assertIn("journal", wizard.payout_choices)
        self.assertIn("credit", wizard.payout_choices)
        self.assertNotIn("card", wizard.payout_choices)
        self.assertNotIn("pos", wizard.payout_choices)
        self.assertEqual(wizard.mode_choices, ["full", "amount", "lines"])
        self.assertEqual(wizard.money_line, f"The client gets back {self._fmt(115.0)} in cash.")
        self.assertFalse(wizard.refusal)
        # no eWallet program: no part of the money is offered onto one
        self.assertFalse(wizard.ewallet_offered)

    def test_client_credit_money_line_and_register_agree(self):
        invoice = self._paid_invoice()
        wizard = self._wizard_form(invoice)
        wizard.payout_method = "credit"
        self.assertEqual(
            wizard.money_line,
            f"{self._fmt(0.0)} back: {self._fmt(115.0)} stays as credit on the client's account.",
        )
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount, 115.0)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertFalse(refund.payment_ids)
        # the client's account owes them what was refunded
        self.assertEqual(self._balance(self.receivable, self.client), -115.0)

    def test_money_line_of_a_partly_paid_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice, amount=15.0)
        wizard = self._wizard_form(invoice)
        self.assertEqual(
            wizard.money_line,
            f"The client gets back {self._fmt(15.0)} in cash. "
            f"{self._fmt(100.0)} settles what the client still owes.",
        )

    def test_money_line_of_an_unpaid_invoice_and_of_credit_on_a_partly_paid_one(self):
        other_client = self.env["res.partner"].create({"name": "Client Bob"})
        unpaid = self._invoice([(self.haircut, 1, 100.0)], partner=other_client)
        self.assertEqual(
            self._wizard_form(unpaid).money_line,
            f"Nothing goes back to the client. {self._fmt(115.0)} settles what the client "
            "still owes.",
        )
        partly = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(partly, amount=15.0)
        wizard = self._wizard_form(partly)
        wizard.payout_method = "credit"
        self.assertEqual(
            wizard.money_line,
            f"{self._fmt(0.0)} back: {self._fmt(15.0)} stays as credit on the client's account. "
            f"{self._fmt(100.0)} settles what the client still owes.",
        )
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertEqual(partly.payment_state, "reversed")
        # what the client paid stays theirs, as credit on their account
        self.assertEqual(self._balance(self.receivable, self.client), -15.0)

    def test_typed_amount_shows_in_the_money_line_and_paid_by_follows_refunds(self):
        invoice = self._paid_invoice()
        wizard = self._wizard_form(invoice)
        wizard.refund_mode = "amount"
        wizard.partial_by = "kept"
        wizard.amount_kept = 65.0
        self.assertEqual(wizard.money_line, f"The client gets back {self._fmt(50.0)} in cash.")
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.amount_paid_back, 50.0)
        # what cash paid is shown net of what went back through it
        summary = self._wizard_form(invoice).tender_summary
        self.assertIn(f"{self.cash_journal.name}: <b>", summary)
        self.assertIn("65.00</b>", summary)
        self.assertNotIn("115.00", summary)

    def test_invoice_picker_shows_date_amount_what_was_sold_and_what_is_left(self):
        invoice = self._paid_invoice()
        self._refund(invoice, mode="amount", amount=15.0)
        picked = invoice.with_user(self.refund_user).with_context(client_refund_picker=True)
        self.assertEqual(
            picked.display_name,
            f"{invoice.name} · {invoice.invoice_date} · {self._fmt(115.0)} · Haircut · "
            f"left {self._fmt(100.0)}",
        )
        self.assertEqual(invoice.display_name, invoice.name, "elsewhere, as core names it")
        # the picker lists what may be refunded: paid, not reversed
        domain = self.env["client.refund.wizard"]._fields["move_id"].domain
        self.assertIn("('payment_state', 'in', ('paid', 'in_payment', 'partial'))", domain)

    def test_refusal_is_said_before_confirm(self):
        wizard = self._wizard_form(self._paid_invoice())
        wizard.refund_mode = "amount"
        wizard.amount = 500.0
        self.assertFalse(wizard.money_line)
        self.assertRegex(wizard.refusal, "Only .* left")

    def test_reason_defaults_to_the_company_setting(self):
        self.assertEqual(self._wizard_form(self._paid_invoice()).reason_id, self.reason)
        goodwill = self.env.ref("client_refund.reason_goodwill")
        self.company.client_refund_default_reason_id = goodwill
        wizard = self._wizard_form(self._paid_invoice())
        self.assertEqual(wizard.reason_id, goodwill)
        wizard.save()
        refund = self._confirm(wizard)  # no reason to pick: two clicks fewer
        self.assertEqual(refund.reason_id, goodwill)

    def test_void_wizard_says_what_it_cancels(self):
        invoice = self._invoice([(self.haircut, 1, 50.0)])  # 57.50
        payment = self._pay(invoice)
        action = payment.with_user(self.refund_user).action_client_refund_void()
        self.assertEqual(action["name"], "Cancel Payment")
        wizard = Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(**action["context"])
        )
        self.assertEqual(wizard.reason_id, self.env.ref("client_refund.reason_payment_mistake"))
        self.assertFalse(wizard.payout_choices)
        self.assertEqual(
            wizard.money_line,
            f"Cancel payment {payment.name}: {self._fmt(57.5)}; "
            f"the invoice {invoice.name} is due again.",
        )
        wizard.save()
        refund = self._confirm(wizard)
        self.assertEqual(refund.scope, "void")
        self.assertEqual(payment.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")

    def test_a_payment_offers_no_lines(self):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": 85.0,
                "journal_id": self.bank_journal.id,
            }
        )
        payment.action_post()
        wizard = Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(**payment.action_client_refund()["context"])
        )
        self.assertEqual(wizard.mode_choices, ["full", "amount"])
        self.assertEqual(wizard.payout_journal_id, self.bank_journal)
        self.assertEqual(
            wizard.money_line, f"The client gets back {self._fmt(85.0)} by bank transfer."
        )

    def test_confirm_tells_staff_and_offers_the_receipt(self):
        wizard = self._wizard_form(self._paid_invoice())
        action = wizard.save().action_confirm()
        refund = self.env["client.refund"].browse(action["res_id"])
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["title"], f"Refund {refund.name}: Done")
        self.assertEqual(
            action["params"]["links"][0]["url"],
            f"/report/pdf/client_refund.report_client_refund_receipt/{refund.id}",
        )
        # the wizard closes on the page it was opened from
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})

    def test_approval_is_said_before_confirm(self):
        self.company.client_refund_approval_threshold = 100.0
        invoice = self._paid_invoice()
        wizard = self._wizard_form(invoice)
        self.assertEqual(
            wizard.approval_line,
            f"Waits for a manager's approval (refunds of {invoice.name} add up to "
            f"{self._fmt(115.0)}, above {self._fmt(100.0)}): nothing goes back until then.",
        )
        self.assertEqual(wizard.money_line, f"The client gets back {self._fmt(115.0)} in cash.")
        # the form's button says what Confirm does: Ask for Approval
        arch = self.env["client.refund.wizard"].get_view(view_type="form")["arch"]
        self.assertIn('string="Ask for Approval"', arch)
        wizard.refund_mode = "amount"
        wizard.amount = 50.0
        self.assertFalse(wizard.approval_line)

    def test_a_second_request_for_money_waiting_for_approval_is_refused(self):
        self.company.client_refund_approval_threshold = 100.0
        invoice = self._paid_invoice()
        first = self._refund(invoice)
        self.assertEqual(first.state, "to_approve")
        self.assertEqual(first.amount_paid_back, 0.0, "nothing went back yet")
        counts = self._counts()
        wizard = self._wizard_form(invoice)
        waiting = f"{self._fmt(115.0)} waits for approval: {first.name}"
        self.assertEqual(wizard.waiting_note, waiting)
        self.assertEqual(
            wizard.refusal,
            f"Only {self._fmt(0.0)} of {invoice.name} is left once the refunds waiting for "
            f"approval are counted ({first.name}), not {self._fmt(115.0)}.",
        )
        self.assertFalse(wizard.payout_choices, "nothing is proposed that would be refused")
        with self.assertRefused("is left once the refunds waiting for approval are counted"):
            wizard.save().action_confirm()
        self.assertEqual(self._counts(), counts)
        # the client's Refund page says it beside what is left
        row = self.client.client_refund_invoice_ids.filtered(lambda move: move == invoice)
        self.assertEqual(row.client_refund_waiting, waiting)
        # the manager approves the first: it is made, the waiting ones do not stop it
        first.with_user(self.refund_manager).action_approve()
        self.assertEqual(first.state, "done")
        self.assertEqual(first.amount_paid_back, 115.0)
        self.assertFalse(self._wizard_form(invoice).waiting_note)


@tagged("post_install", "-at_install")
class TestFrontDeskBalanceWizard(LoyaltyRefundMixin, InvoiceRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gift_card_product = cls._create_product(
            name="Gift Card", type="service", lst_price=50.0, taxes_id=[]
        )
        cls.top_up = cls._create_product(name="Top-up", type="service", lst_price=100.0, taxes_id=[])
        cls.pack_product = cls._create_product(name="10 Visits", type="service", lst_price=200.0)
        cls.gift_cards = cls._program("Gift Cards", "gift_card", cls.gift_card_product)
        cls.ewallet = cls._program("eWallet", "ewallet", cls.top_up)
        cls.visit_pack = cls._program(
            "Visit pack", "loyalty", cls.pack_product, visit_pack=True, points=10.0
        )

    def _sold_card(self, program, product, price, points):
        """A card sold on an invoice paid in cash, then given out."""
        invoice = self._invoice([(product, 1, price)], post=False)
        invoice.invoice_line_ids.tax_ids = False
        invoice.action_post()
        self._pay(invoice)
        return invoice, self._issue(program, points)

    def test_ewallet_offers_no_credit_note_nor_ewallet(self):
        invoice, card = self._sold_card(self.ewallet, self.top_up, 100.0, 100.0)
        wizard = self._wizard(card)
        self.assertNotIn("credit_note", wizard.option_choices)
        self.assertIn("expense", wizard.option_choices)
        self.assertNotIn("ewallet", wizard.payout_choices or [])
        self.assertFalse(wizard.ewallet_offered)
        self.assertNotIn("pos", wizard.payout_choices or [])

    def test_typed_amount_survives_switching_options(self):
        invoice, card = self._sold_card(self.visit_pack, self.pack_product, 200.0, 10.0)
        wizard = self._wizard(card)
        self.assertEqual(wizard.option_choices, ["cancel_sale", "credit_note", "expense"])
        wizard.refund_option = "credit_note"
        wizard.amount = 30.0
        wizard.refund_option = "expense"
        self.assertEqual(wizard.amount, 30.0)
        self.assertEqual(wizard.money_line, f"The client gets back {self._fmt(30.0)} in cash.")
        wizard.refund_option = "cancel_sale"
        self.assertEqual(wizard.amount, invoice.amount_total)
        wizard.refund_option = "credit_note"
        self.assertEqual(wizard.amount, 30.0)

    def test_invoice_that_sold_a_gift_card_says_to_refund_the_card(self):
        invoice, card = self._sold_card(self.gift_cards, self.gift_card_product, 50.0, 50.0)
        wizard = self._wizard_form(invoice)
        self.assertFalse(wizard.money_line)
        self.assertTrue(wizard.refusal, "the invoice's refund would be refused at Confirm")

    def test_card_of_a_program_without_refunds_shows_why(self):
        program = self._program("No refunds", "gift_card", self.gift_card_product, allow=False)
        card = self._issue(program, 20.0)
        self.assertFalse(card.client_refund_allow_balance)
        arch = self.env["loyalty.card"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("not client_refund_allow_balance", arch)
        self.assertIn("does not allow refunds", arch)
