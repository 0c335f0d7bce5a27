from contextlib import contextmanager

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class QueryCountMixin:
    def _count_queries(self, function):
        """Queries run by `function`, with the cache as a new request has it."""
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        function()
        self.env.flush_all()
        return self.env.cr.sql_log_count - before


class ClientRefundCommon(QueryCountMixin, AccountTestInvoicingCommon):
    @classmethod
    def default_env_context(cls):
        # the register and the chatter are the audit trail: keep tracking on
        return {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        cls.company_data_2 = cls.setup_other_company()
        cls.company_2 = cls.company_data_2["company"]
        cls.reason = cls.env.ref("client_refund.reason_client_request")
        cls.client = cls.env["res.partner"].create(
            {"name": "Client Alice", "email": "alice@example.com", "phone": "+32 470 11 22 33"}
        )
        both_companies = [Command.set((cls.company + cls.company_2).ids)]
        cls.refund_user = new_test_user(
            cls.env,
            login="refund_user",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=both_companies,
        )
        cls.refund_manager = new_test_user(
            cls.env,
            login="refund_manager",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=both_companies,
        )
        cls.internal_user = new_test_user(
            cls.env, login="no_refund_group", groups="base.group_user",
            company_id=cls.company.id,
        )
        cls.portal_user = new_test_user(
            cls.env, login="refund_portal", groups="base.group_portal",
            company_id=cls.company.id,
        )
        cls.company_2_user = new_test_user(
            cls.env,
            login="refund_user_company_2",
            groups="base.group_user,client_refund.group_client_refund_user",
            company_id=cls.company_2.id,
            company_ids=[Command.set(cls.company_2.ids)],
        )

    @classmethod
    def _create_register_entry(cls, company=None, **values):
        """A bare register entry, as the refund flows create them."""
        company = company or cls.company
        return (
            cls.env["client.refund"]
            .with_company(company)
            .sudo()  # as the refund's own methods record one
            .create(
                {
                    "partner_id": cls.client.id,
                    "company_id": company.id,
                    "currency_id": company.currency_id.id,
                    "source_type": "invoice",
                    "amount": 50.0,
                    "reason_id": cls.reason.id,
                    **values,
                }
            )
        )

    @contextmanager
    def assertRefused(self, pattern, exception=UserError):
        """Like assertRaisesRegex, but in a savepoint that is rolled back, as the
        request that hit the error would be."""
        with self.assertRaises(exception) as caught:
            yield caught
        self.assertRegex(str(caught.exception), pattern)
