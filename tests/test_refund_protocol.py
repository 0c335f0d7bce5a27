from odoo_test_helper import FakeModelLoader

from odoo.tests import Form, tagged

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestRefundProtocol(ClientRefundCommon):
    """A kind of document the addon does not know, implementing only the hooks
    that client.refund.source declares (tests/protocol_models.py), is refunded
    through the refund wizard like an invoice: the register, the wizard, the
    approval, the chatter and the receipt need nothing written for it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.loader = FakeModelLoader(cls.env, cls.__module__)
        cls.loader.backup_registry()
        from .protocol_models import ClientRefund, ClientRefundTestVoucher, ClientRefundWizard

        cls.loader.update_registry((ClientRefundTestVoucher, ClientRefund, ClientRefundWizard))
        voucher_model = cls.env["ir.model"]._get("client.refund.test.voucher")
        cls.env["ir.model.access"].create(
            {
                "name": "client.refund.test.voucher refund user",
                "model_id": voucher_model.id,
                "group_id": cls.env.ref("client_refund.group_client_refund_user").id,
                "perm_read": True,
            }
        )
        # the one view: the wizard's form names the voucher it refunds
        cls.env["ir.ui.view"].create(
            {
                "name": "client.refund.wizard.form voucher",
                "model": "client.refund.wizard",
                "inherit_id": cls.env.ref("client_refund.client_refund_wizard_view_form").id,
                "arch": '<field name="pos_order_id" position="after">'
                '<field name="voucher_id" invisible="source_type != \'voucher\'"/></field>',
            }
        )
        cls.cash_journal = cls.company_data["default_journal_cash"]
        cls.company.client_refund_journal_id = cls.cash_journal
        cls.refund_account = cls.company.client_refund_account_id

    @classmethod
    def tearDownClass(cls):
        cls.loader.restore_registry()
        super().tearDownClass()

    def _voucher(self, amount=80.0, state="paid"):
        # sudo: vouchers are sold by an app of their own, which the tests do not have
        return self.env["client.refund.test.voucher"].sudo().create(
            {
                "name": "Voucher V-42",
                "partner_id": self.client.id,
                "company_id": self.company.id,
                "currency_id": self.company.currency_id.id,
                "amount": amount,
                "state": state,
            }
        ).sudo(False)

    def _wizard_form(self, voucher, user=None):
        return Form(
            self.env["client.refund.wizard"]
            .with_user(user or self.refund_user)
            .with_context(default_source_type="voucher", default_voucher_id=voucher.id)
        )

    def _refund(self, voucher, mode="full", amount=None, user=None):
        with self._wizard_form(voucher, user=user) as wizard:
            wizard.refund_mode = mode
            if amount is not None:
                wizard.amount = amount
        action = wizard.record.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def _account_balance(self, account):
        lines = self.env["account.move.line"].search(
            [("account_id", "=", account.id), ("parent_state", "=", "posted")]
        )
        return sum(lines.mapped("balance"))

    def test_voucher_refunded_through_the_wizard(self):
        voucher = self._voucher()
        refund_account_before = self._account_balance(self.refund_account)
        wizard = self._wizard_form(voucher)
        self.assertEqual(wizard.amount_refundable, 80.0)
        self.assertEqual(wizard.partner_id, self.client)
        self.assertEqual(wizard.payout_method, "journal")
        self.assertEqual(wizard.payout_journal_id, self.cash_journal)
        self.assertEqual(wizard.payout_choices, ["journal"])
        # a voucher has no lines: the wizard does not offer them
        self.assertEqual(wizard.mode_choices, ["full", "amount"])
        self.assertEqual(wizard.money_line, f"The client gets back {self._fmt(80.0)} in cash.")

        refund = self._refund(voucher)

        self.assertRecordValues(
            refund,
            [
                {
                    "state": "done",
                    "source_type": "voucher",
                    "source_voucher_id": voucher.id,
                    "source_reference": "Voucher V-42",
                    "partner_id": self.client.id,
                    "amount": 80.0,
                    "amount_paid_back": 80.0,
                    "payout_method": "journal",
                    "user_id": self.refund_user.id,
                }
            ],
        )
        self.assertRecordValues(
            refund.payment_ids,
            [
                {
                    "payment_type": "outbound",
                    "amount": 80.0,
                    "journal_id": self.cash_journal.id,
                    "partner_id": self.client.id,
                    "state": "in_process",
                }
            ],
        )
        self.assertEqual(self._account_balance(self.refund_account) - refund_account_before, 80.0)
        self.assertEqual(voucher._client_refund_get_refundable_amount(), 0.0)
        self.assertEqual(voucher.client_refund_count, 1)
        self.assertEqual(voucher.action_view_client_refunds()["res_id"], refund.id)
        # the story is told on the voucher and the client too
        done = "refunded $&nbsp;80.00 of Voucher V-42. Reason: Client request. Paid back"
        for document in (refund, voucher, self.client):
            self.assertTrue(
                document.message_ids.filtered(
                    lambda message: refund.name in message.body and done in message.body
                )
            )
        receipt = self.env["ir.actions.report"]._render_qweb_html(
            "client_refund.report_client_refund_receipt", refund.ids
        )[0].decode()
        self.assertRegex(receipt, r"<strong>Refund of</strong>\s*<p>Voucher V-42</p>")
        self.assertIn("Paid back: <span>Cash</span>", receipt)
        self.assertIn('<span class="oe_currency_value">80.00</span>', receipt)

    def test_bad_input_voucher_refunded_beyond_what_is_left(self):
        voucher = self._voucher()
        self._refund(voucher, mode="amount", amount=30.0)
        payments = self.env["account.payment"].search_count([])
        wizard = self._wizard_form(voucher)
        self.assertEqual(wizard.amount_refundable, 50.0)
        wizard.refund_mode = "amount"
        wizard.amount = 60.0
        self.assertIn(f"Only {self._fmt(50.0)} of Voucher V-42 is left", wizard.refusal)
        with self.assertRefused("Only .* left to refund"):
            wizard.save().action_confirm()
        self.assertEqual(voucher.client_refund_count, 1)
        self.assertEqual(self.env["account.payment"].search_count([]), payments)

    def test_bad_input_unpaid_voucher_is_not_refunded(self):
        voucher = self._voucher(state="draft")
        wizard = self.env["client.refund.wizard"].with_user(self.refund_user).create(
            {"source_type": "voucher", "voucher_id": voucher.id, "reason_id": self.reason.id}
        )
        with self.assertRefused("Voucher V-42 is not paid"):
            wizard.action_confirm()
        self.assertFalse(voucher.client_refund_ids)

    def test_refunds_of_one_voucher_add_up_against_the_threshold(self):
        self.company.client_refund_approval_threshold = 50.0
        voucher = self._voucher()
        first = self._refund(voucher, mode="amount", amount=30.0)
        second = self._refund(voucher, mode="amount", amount=30.0)
        self.assertEqual(first.state, "done")
        self.assertEqual(second.state, "to_approve")
        self.assertFalse(second.payment_ids)
        second.with_user(self.refund_manager).action_approve()
        self.assertEqual(second.state, "done")
        self.assertEqual(second.payment_ids.amount, 30.0)
        self.assertEqual(voucher._client_refund_get_refundable_amount(), 20.0)
