from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestClientRefundApproval(ClientRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.client_refund_approval_threshold = 100.0
        cls.company.client_refund_journal_id = cls.company_data["default_journal_cash"]
        cls.other_manager = new_test_user(
            cls.env,
            login="refund_manager_2",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "account.group_account_invoice",
            company_id=cls.company.id,
        )

    def _invoice(self, amount):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Treatment", "price_unit": amount, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _refund(self, invoice, user):
        with Form(
            self.env["client.refund.wizard"]
            .with_user(user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            wizard.reason_id = self.reason
        action = wizard.record.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def test_below_and_equal_to_the_threshold_is_made_at_once(self):
        for amount in (99.99, 100.0):
            refund = self._refund(self._invoice(amount), self.refund_user)
            self.assertEqual(refund.state, "done")
            self.assertTrue(refund.credit_note_ids)

    def test_above_the_threshold_waits_for_a_manager(self):
        invoice = self._invoice(100.01)
        refund = self._refund(invoice, self.refund_user)
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.credit_note_ids)
        self.assertFalse(invoice.reversal_move_ids, "nothing is credited before approval")
        assigned = refund.activity_ids.user_id
        self.assertIn(self.refund_manager, assigned)
        self.assertIn(self.other_manager, assigned)
        self.assertNotIn(self.refund_user, assigned)
        self.assertTrue(
            any("waits for a manager" in str(m.body) for m in refund.message_ids)
        )

        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.approver_id, self.refund_manager)
        self.assertTrue(refund.date_approved)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertTrue(any("Approved by" in str(m.body) for m in refund.message_ids))
        self.assertFalse(refund.activity_ids)

    def test_reject_with_a_reason(self):
        invoice = self._invoice(150.0)
        refund = self._refund(invoice, self.refund_user)
        wizard = (
            self.env["client.refund.reject.wizard"]
            .with_user(self.refund_manager)
            .with_context(default_refund_ids=refund.ids)
            .create({"reason": "Service was delivered as booked"})
        )
        wizard.action_reject()
        self.assertEqual(refund.state, "cancel")
        self.assertFalse(invoice.reversal_move_ids)
        for document in (refund, invoice, self.client):
            self.assertTrue(
                any("Service was delivered as booked" in str(m.body) for m in document.message_ids),
                f"no rejection message on {document}",
            )

    def test_bad_input_approve_own_refund(self):
        refund = self._refund(self._invoice(500.0), self.refund_manager)
        self.assertEqual(refund.state, "to_approve", "managers too wait for approval")
        self.assertNotIn(self.refund_manager, refund.activity_ids.user_id)
        with self.assertRefused("Nobody approves their own refund"):
            refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "to_approve")
        refund.with_user(self.other_manager).action_approve()
        self.assertEqual(refund.state, "done")

    def test_access_refund_user_cannot_approve_or_reject(self):
        refund = self._refund(self._invoice(500.0), self.refund_user)
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_user).action_approve()
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_user).action_reject("no")
        self.assertEqual(refund.state, "to_approve")

    def test_the_requester_is_who_confirms(self):
        invoice = self._invoice(300.0)
        refund = self.env["client.refund"].with_user(self.refund_manager).create(
            {
                "partner_id": self.client.id,
                "source_type": "invoice",
                "scope": "full",
                "source_move_id": invoice.id,
                "amount": 300.0,
                "reason_id": self.reason.id,
                "payout_method": "credit",
            }
        )
        with self.assertRefused("cannot be changed"):
            refund.with_user(self.refund_manager).write({"user_id": self.refund_user.id})
        with self.assertRefused("cannot be changed"):
            refund.with_user(self.refund_manager).write({"state": "done"})
        refund.with_user(self.refund_manager).action_confirm()
        self.assertEqual(refund.user_id, self.refund_manager)
        with self.assertRefused("Nobody approves their own refund"):
            refund.with_user(self.refund_manager).action_approve()

    def test_bad_input_no_other_manager_to_approve(self):
        studio = self.setup_other_company(name="Lone studio")["company"]
        studio.client_refund_approval_threshold = 100.0
        invoice = self.init_invoice(
            "out_invoice", partner=self.client, amounts=[300.0], post=True, company=studio
        )
        # the lone manager of the studio asks for a refund above its threshold
        self.refund_manager.company_ids |= studio
        managers = self.env.ref("client_refund.group_client_refund_manager").sudo().users
        (managers - self.refund_manager).sudo().write({"company_ids": [Command.unlink(studio.id)]})
        counts = self.env["client.refund"].sudo().search_count([])
        with self.assertRefused("no other refund manager"):
            self._refund(invoice.with_user(self.refund_manager), self.refund_manager)
        self.assertEqual(self.env["client.refund"].sudo().search_count([]), counts)
        self.assertFalse(invoice.sudo().reversal_move_ids)

    def test_cancel_while_waiting_clears_the_managers_activities(self):
        refund = self._refund(self._invoice(200.0), self.refund_user)
        self.assertTrue(refund.activity_ids)
        refund.with_user(self.refund_user).action_cancel()
        self.assertEqual(refund.state, "cancel")
        self.assertFalse(refund.activity_ids)
        self.assertTrue(any("Cancelled by" in str(m.body) for m in refund.message_ids))
