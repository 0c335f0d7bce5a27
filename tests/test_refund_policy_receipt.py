from lxml import html

from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import RefundPolicyMixin
from .test_invoice_refund import InvoiceRefundCommon


def text_of(element):
    """The words of an HTML element as a reader sees them, spaces collapsed."""
    return " ".join(element.text_content().split())


@tagged("post_install", "-at_install")
class TestRefundPolicyReceipt(RefundPolicyMixin, InvoiceRefundCommon):
    """What the client reads of the refund policy: the receipt and the e-mail
    of a refund (the fee kept, what is given back, a waiver, the policy's text)
    and the customer invoice (the text of the policies printed on invoices)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_policies()
        cls._set_policy(cls.haircut, cls.service_policy)
        cls._set_policy(cls.shampoo, cls.retail_policy)
        cls.service_policy.print_on_invoice = True
        cls.facial = cls._create_product(name="Facial", type="service", lst_price=80.0)
        cls.invoicing_user = new_test_user(
            cls.env,
            login="invoicing_only",
            groups="base.group_user,account.group_account_invoice",
            company_id=cls.company.id,
        )

    def _paid_refund(self, product, user=None, **values):
        """A refund, in cash, of a paid invoice of one `product` at 100.00 + 15 % tax."""
        invoice = self._invoice([(product, 1, 100.0)])
        self._pay(invoice)
        return self._refund(invoice, user=user, **values)

    def _money(self, amount):
        """An amount as a reader sees it (see text_of)."""
        return " ".join(self._fmt(amount).split())

    def _receipt(self, refund):
        content, _format = (
            self.env["ir.actions.report"]
            .with_user(self.refund_user)
            ._render_qweb_html("client_refund.report_client_refund_receipt", refund.ids)
        )
        return html.fromstring(content)

    def _mail_body(self, refund):
        template = self.env.ref("client_refund.mail_template_client_refund")
        body = template.with_user(self.refund_user)._render_field("body_html", refund.ids)[refund.id]
        return " ".join(html.fromstring(body).text_content().split())

    def _invoice_policy_texts(self, invoice, user):
        """The policy texts the printed invoice shows, paragraph by paragraph."""
        content, _format = (
            self.env["ir.actions.report"]
            .with_user(user)
            ._render_qweb_html("account.report_invoice", invoice.ids)
        )
        return [
            text_of(paragraph)
            for paragraph in html.fromstring(content).xpath(
                "//div[@name='client_refund_policy_texts']/*"
            )
        ]

    # ------------------------------------------------------------------
    # receipt and e-mail of a refund
    # ------------------------------------------------------------------

    def test_late_cancellation_receipt_and_mail_show_the_fee_and_the_policy(self):
        refund = self._paid_refund(self.haircut, reason_id=self.reason_late)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount, 115.0)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.amount_paid_back, 57.5)
        terms = f"Salon services: 50 %, at least {self._money(10.0)}"

        receipt = self._receipt(refund)
        (fee_row,) = receipt.xpath("//tr[@name='fee']")
        self.assertEqual(
            text_of(fee_row), f"Late cancellation fee kept {terms} {self._money(-57.5)}"
        )
        (given_back,) = receipt.xpath("//tr[@name='given_back']")
        self.assertEqual(text_of(given_back), f"Given back {self._money(57.5)}")
        # all of it in cash: the fee is not mistaken for what was still owed
        self.assertEqual(
            [text_of(row) for row in receipt.xpath("//tr[@name='way']")],
            [f"Paid back: Cash {self._money(57.5)}"],
        )
        (policy,) = receipt.xpath("//div[@name='refund_policy']")
        self.assertEqual(
            text_of(policy),
            "Our refund policy Late cancellations keep 50 %, no-shows the full price.",
        )
        self.assertFalse(receipt.xpath("//p[@name='policy_waived']"))

        body = self._mail_body(refund)
        self.assertIn(f"we have credited {self._money(115.0)} for {refund.source_reference}", body)
        self.assertIn(
            f"Under our refund policy: {self._money(57.5)} late-cancellation fee kept ({terms}). "
            f"{self._money(57.5)} goes back to you.",
            body,
        )
        self.assertIn("Our refund policy: Late cancellations keep 50 %, no-shows the full price.", body)
        self.assertNotIn("waived", body)
        # the e-mail the client was sent says it too
        mail = self.env["mail.mail"].search(
            [("model", "=", "client.refund"), ("res_id", "=", refund.id)]
        )
        self.assertIn("late-cancellation fee kept", mail.body_html)

    def test_no_show_receipt_says_the_fee_kept_it_all(self):
        refund = self._paid_refund(self.haircut, reason_id=self.reason_no_show)
        self.assertEqual(refund.amount_fee, 115.0)
        self.assertEqual(refund.payout_method, "none")
        receipt = self._receipt(refund)
        (given_back,) = receipt.xpath("//tr[@name='given_back']")
        self.assertEqual(text_of(given_back), f"Given back {self._money(0.0)}")
        # no "Payment cancelled", no "still owed": the fee row says where it went
        self.assertEqual(receipt.xpath("//tr[@name='way']"), [])
        (fee_row,) = receipt.xpath("//tr[@name='fee']")
        self.assertIn(self._money(-115.0), text_of(fee_row))

    def test_waived_fee_is_shown_waived(self):
        refund = self._paid_refund(
            self.haircut,
            user=self.refund_manager,
            reason_id=self.reason_late,
            waive_policy=True,
            waiver_reason="Her flight was cancelled",
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertEqual(refund.amount_paid_back, 115.0)
        terms = f"Salon services: 50 %, at least {self._money(10.0)}"

        receipt = self._receipt(refund)
        (fee_row,) = receipt.xpath("//tr[@name='fee']")
        self.assertEqual(
            text_of(fee_row), f"Late cancellation fee waived {terms} {self._money(57.5)} waived"
        )
        (given_back,) = receipt.xpath("//tr[@name='given_back']")
        self.assertEqual(text_of(given_back), f"Given back {self._money(115.0)}")
        (waiver,) = receipt.xpath("//p[@name='policy_waived']")
        self.assertEqual(
            text_of(waiver),
            "The refund policy was waived for this refund: Her flight was cancelled.",
        )

        body = self._mail_body(refund)
        self.assertIn(f"{self._money(57.5)} late-cancellation fee waived ({terms})", body)
        self.assertIn(f"{self._money(115.0)} goes back to you.", body)
        self.assertIn("The refund policy was waived for this refund: Her flight was cancelled.", body)

    def test_policy_without_fee_shows_its_text_only(self):
        refund = self._paid_refund(self.shampoo, reason_id=self.reason_returned)
        self.assertEqual(refund.policy_ids, self.retail_policy)
        self.assertFalse(refund.fee_ids)

        receipt = self._receipt(refund)
        self.assertFalse(receipt.xpath("//tr[@name='fee'] | //tr[@name='given_back']"))
        (policy,) = receipt.xpath("//div[@name='refund_policy']")
        self.assertEqual(text_of(policy), "Our refund policy Products are returned within 30 days.")
        body = self._mail_body(refund)
        self.assertNotIn("Under our refund policy", body)
        self.assertIn("Our refund policy: Products are returned within 30 days.", body)

    def test_refund_without_policy_shows_none_of_it(self):
        refund = self._paid_refund(self.facial, reason_id=self.reason_late)
        self.assertEqual(refund.state, "done")
        self.assertFalse(refund.policy_ids)
        self.assertFalse(refund.fee_ids)
        self.assertEqual(refund.amount_paid_back, 115.0)

        receipt = self._receipt(refund)
        self.assertFalse(
            receipt.xpath(
                "//tr[@name='fee'] | //tr[@name='given_back'] | //div[@name='refund_policy'] "
                "| //p[@name='policy_waived']"
            )
        )
        receipt_text = text_of(receipt)
        self.assertNotIn("fee", receipt_text)
        self.assertNotIn("policy", receipt_text)
        self.assertIn(self._money(115.0), receipt_text)
        body = self._mail_body(refund)
        self.assertNotIn("policy", body)
        self.assertNotIn("fee", body)
        self.assertIn(f"we have refunded you {self._money(115.0)} for {refund.source_reference}", body)

    # ------------------------------------------------------------------
    # customer invoices
    # ------------------------------------------------------------------

    def test_invoice_prints_the_texts_of_its_policies_printed_on_invoices(self):
        invoice = self._invoice(
            [(self.haircut, 1, 100.0), (self.shampoo, 2, 20.0), (self.facial, 1, 80.0)]
        )
        service_text = self.service_policy.client_text
        retail_text = self.retail_policy.client_text
        # the retail policy is not printed on invoices; the facial has no policy
        self.assertEqual(invoice._client_refund_get_policy_texts(), [service_text])
        self.retail_policy.print_on_invoice = True
        self.assertEqual(invoice._client_refund_get_policy_texts(), [service_text, retail_text])
        # by the policies' order, each once
        self.retail_policy.sequence = 1
        self._set_policy(self.facial, self.service_policy)
        self.assertEqual(invoice._client_refund_get_policy_texts(), [retail_text, service_text])

        # printed for an accountant without refund rights
        self.assertEqual(
            self._invoice_policy_texts(invoice, self.invoicing_user),
            ["Refund policy", retail_text, service_text],
        )

    def test_invoice_line_without_product_follows_the_company_default(self):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_line_ids": [Command.create({"name": "Consultation", "price_unit": 40.0})],
            }
        )
        self.assertEqual(invoice._client_refund_get_policy_texts(), [])
        self.company.client_refund_policy_id = self.service_policy
        self.assertEqual(
            invoice._client_refund_get_policy_texts(), [self.service_policy.client_text]
        )

    def test_no_policy_text_on_credit_notes_nor_without_printed_policies(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        credit_note = invoice._reverse_moves()
        self.assertEqual(credit_note._client_refund_get_policy_texts(), [])
        self.assertEqual(self._invoice_policy_texts(credit_note, self.invoicing_user), [])
        self.assertEqual(
            self._invoice_policy_texts(invoice, self.invoicing_user),
            ["Refund policy", self.service_policy.client_text],
        )

        self.service_policy.print_on_invoice = False
        self.assertEqual(invoice._client_refund_get_policy_texts(), [])
        self.assertEqual(self._invoice_policy_texts(invoice, self.invoicing_user), [])

    def test_invoice_policy_texts_queries_do_not_grow_with_lines(self):
        products = [
            self._create_product(name=f"Service {index}", type="service", lst_price=10.0)
            for index in range(6)
        ]
        for product in products[::2]:
            self._set_policy(product, self.service_policy)
        small = self._invoice([(product, 1, 10.0) for product in products[:2]])
        large = self._invoice([(product, 1, 10.0) for product in products])

        def texts_of(invoice):
            return lambda: invoice._client_refund_get_policy_texts()

        # the access rules' and defaults' caches, as a running server has them
        self._count_queries(texts_of(small))
        self.assertEqual(
            self._count_queries(texts_of(small)), self._count_queries(texts_of(large))
        )
        self.assertEqual(large._client_refund_get_policy_texts(), [self.service_policy.client_text])
