from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import LocalStripeMixin
from .test_invoice_refund import InvoiceRefundCommon
from .test_pos_refund import PosRefundCommon
from .test_refund_dispute import DisputeEventMixin
from .test_trust_boundary import TrustBoundaryMixin


class DisputeHolderMixin:
    def _assert_shown(self, documents, user, count, banner):
        """Each of `documents`, read as `user`: the smart button's count, and
        the banner's words (False: none)."""
        for document in documents:
            with self.subTest(document=document._name):
                document = document.with_user(user)
                document.invalidate_recordset()
                self.assertEqual(document.client_refund_dispute_count, count)
                if banner:
                    self.assertIn(banner, document.client_refund_dispute_banner)
                else:
                    self.assertFalse(document.client_refund_dispute_banner)


@tagged("post_install", "-at_install")
class TestDisputeShown(
    DisputeHolderMixin, DisputeEventMixin, TrustBoundaryMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase
):
    """Where a dispute shows: the invoice, the payment and the client."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls._setup_local_stripe(cls.company, cls.bank_journal)
        cls.company.client_refund_tz = "UTC"

    def _disputed_invoice(self):
        invoice, transaction = self._paid_by_card()
        stripe_dispute = self._stripe_dispute(transaction)
        self.assertEqual(self._post_dispute_event("charge.dispute.created", stripe_dispute).status_code, 200)
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", stripe_dispute["id"])])
        self.assertEqual(len(dispute), 1)
        return invoice, transaction, stripe_dispute, dispute

    def test_button_and_banner_while_open_none_once_closed(self):
        invoice, transaction, created, dispute = self._disputed_invoice()
        documents = (invoice, transaction.payment_id, self.client)
        banner = f"Card dispute {dispute.stripe_dispute_id} open: evidence due by {self.due_by.date()}"
        self._assert_shown(documents, self.refund_user, 1, banner)
        # a contact of the client's company shows its company's disputes too
        contact = self.env["res.partner"].create({"name": "Contact", "parent_id": self.client.id})
        self._assert_shown(contact, self.refund_user, 1, banner)
        # the button opens the dispute, closed ones included
        action = invoice.with_user(self.refund_user).action_view_client_refund_disputes()
        self.assertEqual(self.env["client.refund.dispute"].search(action["domain"]), dispute)
        self.assertNotIn("search_default_open", action["context"])
        # won: still counted, no banner
        self.assertEqual(
            self._post_dispute_event("charge.dispute.closed", {**created, "status": "won"}).status_code, 200
        )
        self.assertEqual(dispute.outcome, "won")
        self._assert_shown(documents, self.refund_user, 1, False)
        action = self.client.with_user(self.refund_user).action_view_client_refund_disputes()
        self.assertEqual(self.env["client.refund.dispute"].search(action["domain"]), dispute)

    def test_nothing_for_a_document_without_dispute(self):
        invoice, transaction = self._paid_by_card()
        self._assert_shown((invoice, transaction.payment_id), self.refund_user, 0, False)

    def test_billing_user_sees_no_dispute(self):
        invoice, transaction, _created, _dispute = self._disputed_invoice()
        for document in (invoice, transaction.payment_id, self.client):
            with self.subTest(document=document._name):
                with self.assertRaises(AccessError):
                    document.with_user(self.billing_user).read(["client_refund_dispute_count"])
                with self.assertRaises(AccessError):
                    document.with_user(self.billing_user).read(["client_refund_dispute_banner"])
                arch = document.with_user(self.billing_user).get_views([(False, "form")])["views"]["form"]["arch"]
                self.assertNotIn("client_refund_dispute", arch)
                arch = document.with_user(self.refund_user).get_views([(False, "form")])["views"]["form"]["arch"]
                self.assertIn("client_refund_dispute_banner", arch)
                self.assertIn("action_view_client_refund_disputes", arch)

    def test_counted_in_one_query(self):
        invoices = self.env["account.move"]
        for _index in range(3):
            invoice, _transaction, _created, _dispute = self._disputed_invoice()
            invoices |= invoice
        invoices = invoices.with_user(self.refund_user)
        # the user's access rules and groups read once
        invoices.mapped("client_refund_dispute_banner")
        self.env.invalidate_all()
        # one read_group, one read of the open disputes, one of their company
        with self.assertQueryCount(3):
            self.assertEqual(invoices.mapped("client_refund_dispute_count"), [1, 1, 1])
            self.assertTrue(all(invoices.mapped("client_refund_dispute_banner")))


@tagged("post_install", "-at_install")
class TestPosDisputeShown(DisputeHolderMixin, DisputeEventMixin, LocalStripeMixin, PosRefundCommon, HttpCase):
    """A till's terminal payment disputed shows on the POS order."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.company_data["default_journal_bank"])
        cls.stripe_pm = cls.env["pos.payment.method"].create(
            {
                "name": "Stripe terminal",
                "journal_id": cls.company_data["default_journal_bank"].id,
                "use_payment_terminal": "stripe",
                "stripe_serial_number": "WSC513105011295",
                "company_id": cls.company.id,
            }
        )
        cls.basic_config.payment_method_ids = [Command.link(cls.stripe_pm.id)]
        cls.refund_pos_user = new_test_user(
            cls.env,
            login="dispute_pos_refund_user",
            groups="base.group_user,point_of_sale.group_pos_user,client_refund.group_client_refund_user",
            company_id=cls.company.id,
        )

    def test_order_shows_the_dispute(self):
        self.open_new_session(opening_cash=0.0)
        intent = self._captured_intent(107.0, self.company.currency_id)
        order = self._order([(self.haircut, 1)], payments=[(self.stripe_pm, 107.0)])
        # sudo: stands for the till, which sends the terminal's PaymentIntent with the order
        order.payment_ids.sudo().transaction_id = intent.id
        stripe_dispute = self._stripe_dispute(order.payment_ids)
        self.assertEqual(self._post_dispute_event("charge.dispute.created", stripe_dispute).status_code, 200)
        banner = f"Card dispute {stripe_dispute['id']} open"
        self._assert_shown((order, self.customer), self.refund_pos_user, 1, banner)
        self._post_dispute_event("charge.dispute.closed", {**stripe_dispute, "status": "lost"})
        self._assert_shown((order, self.customer), self.refund_pos_user, 1, False)
