from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestClientRefundSecurity(ClientRefundCommon):
    def _assert_no_access(self, user):
        refund = self._create_register_entry()
        Refund = self.env["client.refund"].with_user(user)
        with self.assertRaises(AccessError):
            Refund.browse(refund.id).read(["name", "amount"])
        with self.assertRaises(AccessError):
            Refund.search([])
        count_before = self.env["client.refund"].search_count([])
        with self.assertRaises(AccessError):
            Refund.create(
                {
                    "partner_id": self.client.id,
                    "source_type": "invoice",
                    "amount": 10.0,
                    "reason_id": self.reason.id,
                }
            )
        self.assertEqual(self.env["client.refund"].search_count([]), count_before)
        with self.assertRaises(AccessError):
            self.env["client.refund.reason"].with_user(user).search([])

    def test_access_internal_user_without_groups_sees_no_register(self):
        self._assert_no_access(self.internal_user)

    def test_access_portal_user_sees_no_register(self):
        self._assert_no_access(self.portal_user)

    def test_access_public_user_sees_no_register(self):
        self._assert_no_access(self.env.ref("base.public_user"))

    def test_access_refund_user_reads_and_creates_but_cannot_delete_or_manage_reasons(self):
        refund = self._create_register_entry().with_user(self.refund_user)
        self.assertEqual(refund.read(["amount"])[0]["amount"], 50.0)
        with self.assertRaises(AccessError):
            refund.unlink()
        with self.assertRaises(AccessError):
            self.env["client.refund.reason"].with_user(self.refund_user).create(
                {"name": "Staff-made reason"}
            )

    def test_access_manager_extends_reasons(self):
        reason = self.env["client.refund.reason"].with_user(self.refund_manager).create(
            {"name": "Allergic reaction"}
        )
        self.assertIn(reason, self.env["client.refund.reason"].with_user(self.refund_user).search([]))

    def test_access_company_b_user_sees_none_of_company_a_refunds(self):
        refund_a = self._create_register_entry()
        refund_b = self._create_register_entry(company=self.company_2)
        Refund = self.env["client.refund"].with_user(self.company_2_user)
        self.assertEqual(Refund.search([]), refund_b)
        with self.assertRaises(AccessError):
            Refund.browse(refund_a.id).read(["name"])

    def test_access_accounting_manager_is_refund_manager(self):
        self.assertTrue(
            self.simple_accountman.has_group("client_refund.group_client_refund_manager")
        )
        self.assertTrue(
            self.refund_manager.has_group("client_refund.group_client_refund_user")
        )
        self.assertFalse(
            self.refund_user.has_group("client_refund.group_client_refund_manager")
        )
