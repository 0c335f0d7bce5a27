from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestClientRefundSettings(ClientRefundCommon):
    def test_refund_account_exists_for_companies_with_a_chart(self):
        # every company of the database, whatever the test user may read
        companies = self.env["res.company"].sudo().search([("chart_template", "!=", False)])
        self.assertIn(self.company, companies)
        for company in companies:
            account = company.client_refund_account_id
            self.assertTrue(account, f"{company.name} has no Refund account")
            self.assertEqual(account.account_type, "expense")
            self.assertIn(company, account.company_ids)

    def test_company_given_a_chart_later_gets_a_refund_account(self):
        company = self.env["res.company"].create({"name": "Spa opened later"})
        self.assertFalse(company.client_refund_account_id)
        self.env["account.chart.template"].try_loading(
            "generic_coa", company=company, install_demo=False
        )
        account = company.client_refund_account_id
        self.assertTrue(account)
        self.assertEqual(account.company_ids, company)
        self.assertEqual(account.account_type, "expense")
        # loading the chart again must not create a second one
        self.env["account.chart.template"].try_loading(
            "generic_coa", company=company, install_demo=False
        )
        self.assertEqual(company.client_refund_account_id, account)
        self.assertEqual(
            self.env["account.account"].search_count(
                [("company_ids", "in", company.ids), ("name", "=", "Client Refunds")]
            ),
            1,
        )

    def test_new_company_gets_its_refund_sequence(self):
        company = self.env["res.company"].create({"name": "Studio opened later"})
        sequence = self.env["ir.sequence"].search(
            [("code", "=", "client.refund"), ("company_id", "=", company.id)]
        )
        self.assertEqual(len(sequence), 1)

    def test_settings_are_saved_per_company(self):
        cash_a = self.company_data["default_journal_cash"]
        cash_b = self.company_data_2["default_journal_cash"]
        expense_b = self.company_data_2["default_account_expense"]
        settings_a = self.env["res.config.settings"].with_company(self.company).create(
            {"client_refund_approval_threshold": 250.0, "client_refund_journal_id": cash_a.id}
        )
        settings_a.execute()
        settings_b = self.env["res.config.settings"].with_company(self.company_2).create(
            {
                "client_refund_approval_threshold": 90.0,
                "client_refund_journal_id": cash_b.id,
                "client_refund_account_id": expense_b.id,
            }
        )
        settings_b.execute()
        self.assertEqual(self.company.client_refund_approval_threshold, 250.0)
        self.assertEqual(self.company.client_refund_journal_id, cash_a)
        self.assertEqual(self.company_2.client_refund_approval_threshold, 90.0)
        self.assertEqual(self.company_2.client_refund_journal_id, cash_b)
        self.assertEqual(self.company_2.client_refund_account_id, expense_b)
        self.assertNotEqual(self.company.client_refund_account_id, expense_b)
        reopened = self.env["res.config.settings"].with_company(self.company_2).create({})
        self.assertEqual(reopened.client_refund_approval_threshold, 90.0)

    def test_bad_input_stripe_wait_below_an_hour(self):
        self.assertEqual(self.company.client_refund_stripe_wait_hours, 24)
        for hours in (0, -100):
            with self.assertRefused("at least one hour", exception=ValidationError):
                self.company.client_refund_stripe_wait_hours = hours
                self.company.flush_recordset()
        self.assertEqual(self.company.client_refund_stripe_wait_hours, 24)
