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

    def _colour_and_shampoo(self):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Colour", "price_unit": 150.0, "tax_ids": []}),
                    Command.create({"name": "Shampoo", "price_unit": 30.0, "tax_ids": []}),
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _refund(self, invoice, user, quantities=None, **values):
        """Refund `invoice` through the wizard; `quantities`: {line name: quantity}
        of a refund by lines."""
        with Form(
            self.env["client.refund.wizard"]
            .with_user(user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            wizard.reason_id = self.reason
            for name, value in values.items():
                setattr(wizard, name, value)
            for index in range(len(wizard.line_ids)):
                with wizard.line_ids.edit(index) as line:
                    line.quantity = quantities.get(line.name, 0.0)
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
        # recorded as a wizard records it, for someone else
        refund = self._create_register_entry(
            source_move_id=invoice.id, payout_method="credit", user_id=self.refund_user.id
        ).with_user(self.refund_manager)
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

    # ------------------------------------------------------------------
    # approval that cannot be split away
    # ------------------------------------------------------------------

    def test_refunds_of_the_same_invoice_add_up_against_the_threshold(self):
        """Two refunds of 60 on a 120 invoice, threshold 100: the second waits."""
        invoice = self._invoice(120.0)
        first = self._refund(invoice, self.refund_user, refund_mode="amount", amount=60.0)
        self.assertEqual(first.state, "done")
        second = self._refund(invoice, self.refund_user, refund_mode="amount", amount=60.0)
        self.assertEqual(second.state, "to_approve")
        self.assertEqual(len(invoice.reversal_move_ids), 1, "the second credits nothing yet")
        self.assertAlmostEqual(invoice.amount_residual, 60.0)
        self.assertTrue(
            any("add up to" in str(m.body) for m in second.message_ids),
            "the refund says why it waits",
        )
        second.with_user(self.other_manager).action_approve()
        self.assertEqual(second.state, "done")
        self.assertEqual(invoice.payment_state, "reversed")

    def test_some_lines_above_the_threshold_are_approved_then_made(self):
        invoice = self._colour_and_shampoo()
        refund = self._refund(
            invoice, self.refund_user, quantities={"Colour": 1.0}, refund_mode="lines"
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 150.0, msg="the lines' real total decides")
        self.assertFalse(invoice.reversal_move_ids)
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 150.0)
        self.assertAlmostEqual(refund.line_ids.amount, 150.0)
        self.assertAlmostEqual(invoice.amount_residual, 30.0)

    def test_lines_waiting_for_approval_stay_theirs(self):
        """While a refund of some lines waits, the other requests of the invoice
        name other lines: a refund by amount, or of the same line, could leave
        the waiting one nothing to credit once approved."""
        invoice = self._colour_and_shampoo()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({})._create_payments()
        waiting = self._refund(
            invoice, self.refund_user, quantities={"Colour": 1.0}, refund_mode="lines"
        )
        self.assertEqual(waiting.state, "to_approve")
        refunds = self.env["client.refund"].search_count([])
        with self.assertRefused(f"{waiting.name}, waiting for approval, refunds lines of"):
            self._refund(invoice, self.refund_user, refund_mode="amount", amount=30.0)
        with self.assertRefused("Only 0.0 of .*Colour.* are left to refund, not 1.0"):
            self._refund(invoice, self.refund_user, quantities={"Colour": 1.0}, refund_mode="lines")
        self.assertEqual(self.env["client.refund"].search_count([]), refunds)
        # another line may be asked (it waits too: the refunds of the invoice add
        # up above the threshold); both are approved and made, whichever first
        other = self._refund(
            invoice, self.refund_user, quantities={"Shampoo": 1.0}, refund_mode="lines"
        )
        self.assertEqual(other.state, "to_approve")
        (other | waiting).with_user(self.refund_manager).action_approve()
        self.assertEqual((other | waiting).mapped("state"), ["done", "done"])
        self.assertEqual(invoice.payment_state, "reversed")

    def test_daily_cap_sends_the_rest_of_the_day_for_approval(self):
        self.company.client_refund_approval_threshold = 1000.0
        self.company.client_refund_daily_cap = 150.0
        first = self._refund(self._invoice(100.0), self.refund_user)
        self.assertEqual(first.state, "done")
        second = self._refund(self._invoice(60.0), self.refund_user)
        self.assertEqual(second.state, "to_approve", "100 + 60 is beyond the cap of 150")
        self.assertFalse(second.credit_note_ids)
        self.assertTrue(any("daily cap" in str(m.body) for m in second.message_ids))
        # the cap is the requester's: another user's refund of the day is made
        other = self._refund(self._invoice(60.0), self.refund_manager)
        self.assertEqual(other.state, "done")
        second.with_user(self.refund_manager).action_approve()
        self.assertEqual(second.state, "done")

    def test_approval_stops_when_what_is_left_changed(self):
        """A refund approved later lands on what it was asked for, or stops."""
        invoice = self._invoice(150.0)
        refund = self._refund(invoice, self.refund_user)
        self.assertEqual(refund.state, "to_approve")
        # meanwhile the invoice is credited in part by core's reversal
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id, "reason": "core"})
        )
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit_note.invoice_line_ids.price_unit = 10.0
        credit_note.action_post()
        with self.assertRefused("would now refund"):
            refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "to_approve")
