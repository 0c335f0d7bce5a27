from odoo import Command, fields
from odoo.tests import Form, tagged

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestClientRefundReceipt(ClientRefundCommon):
    def _refund(self, send_receipt=None):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Facial", "price_unit": 88.4, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            wizard.reason_id = self.reason
            wizard.payout_method = "credit"
            self.assertTrue(wizard.send_receipt, "on by default: the client has an e-mail")
            if send_receipt is not None:
                wizard.send_receipt = send_receipt
        return self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])

    def test_receipt_is_mailed_to_the_client(self):
        refund = self._refund()
        mail = self.env["mail.mail"].search(
            [("model", "=", "client.refund"), ("res_id", "=", refund.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.client)
        self.assertIn("88.40", mail.body_html)
        self.assertIn(refund.name, mail.body_html)
        # the receipt is attached (tests render reports as HTML, not PDF)
        receipt = mail.attachment_ids
        self.assertTrue(receipt.name.startswith(f"Refund receipt - {refund.name}"))
        self.assertIn(b"88.40", receipt.raw)
        self.assertIn(self.reason.name.encode(), receipt.raw)
        self.assertTrue(any("Receipt sent to" in str(m.body) for m in refund.message_ids))

    def test_no_mail_when_unticked(self):
        refund = self._refund(send_receipt=False)
        self.assertFalse(
            self.env["mail.mail"].search([("model", "=", "client.refund"), ("res_id", "=", refund.id)])
        )
