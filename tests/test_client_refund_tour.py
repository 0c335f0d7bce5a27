from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


class ClientRefundHttpFixtures:
    """A client with a posted, paid invoice (no tax), and a refund user.

    HttpCase cannot build on AccountTestInvoicingCommon (it makes its own
    companies in a way the browser does not see), so the fixtures are minimal:
    the current company and its chart of accounts."""

    @classmethod
    def _setup_refund_fixtures(cls, price=100.0):
        cls.company = cls.env.company
        if not cls.company.chart_template:
            cls.env["account.chart.template"].try_loading(
                "generic_coa", company=cls.company, install_demo=False
            )
        cls.cash_journal = cls.env["account.journal"].search(
            [("company_id", "=", cls.company.id), ("type", "=", "cash")], limit=1
        )
        cls.company.write(
            {
                "client_refund_journal_id": cls.cash_journal.id,
                # made at once, whatever the database's own threshold
                "client_refund_approval_threshold": 0.0,
            }
        )
        cls.reason = cls.env.ref("client_refund.reason_service_unsatisfactory")
        # a front desk that invoices and works the till
        cls.refund_user = new_test_user(
            cls.env,
            login="client_refund_tour_user",
            name="Tour Front Desk",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "account.group_account_invoice,point_of_sale.group_pos_user",
            company_id=cls.company.id,
        )
        cls.client = cls.env["res.partner"].create(
            {"name": "Tour Client", "email": "tour.client@example.com"}
        )
        cls.invoice = cls.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": cls.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Haircut and colour", "price_unit": price, "tax_ids": []}
                    )
                ],
            }
        )
        cls.invoice.action_post()
        cls.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=cls.invoice.ids
        ).create({"journal_id": cls.cash_journal.id})._create_payments()


@tagged("post_install", "-at_install")
class TestClientRefundTour(ClientRefundHttpFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_refund_fixtures()

    def test_partial_invoice_refund_tour(self):
        """In the browser, from the client's form: Refunds page, Refund on the
        invoice line, part of the amount (40.00), reason, confirm; the register
        record opens and its chatter tells the refund."""
        self.assertEqual(self.invoice.payment_state, "paid")
        self.start_tour(
            f"/odoo/res.partner/{self.client.id}",
            "client_refund_partial_invoice_tour",
            login=self.refund_user.login,
            timeout=180,
        )
        self.env.invalidate_all()
        refund = self.env["client.refund"].search([("partner_id", "=", self.client.id)])
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.scope, "partial")
        self.assertEqual(refund.source_move_id, self.invoice)
        self.assertAlmostEqual(refund.amount, 40.0)
        self.assertEqual(refund.reason_id, self.reason)
        self.assertEqual(refund.user_id, self.refund_user)
        credit_note = refund.credit_note_ids
        self.assertEqual(len(credit_note), 1)
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.reversed_entry_id, self.invoice)
        self.assertAlmostEqual(credit_note.amount_total, 40.0)
        # what was paid for the 40.00 went back in cash; the rest stays paid
        self.assertAlmostEqual(refund.amount_paid_back, 40.0)
        self.assertEqual(refund.payment_ids.journal_id, self.cash_journal)
        self.assertEqual(self.invoice.payment_state, "paid")
        self.assertTrue(
            any(
                "refunded" in str(message.body) and self.reason.name in str(message.body)
                for message in refund.message_ids
            ),
            "the chatter message the tour saw is stored on the refund",
        )
