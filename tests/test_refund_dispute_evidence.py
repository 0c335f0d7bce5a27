from unittest.mock import patch

import stripe

from odoo import Command
from odoo.exceptions import AccessError, UserError
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

    def test_order_evidence_without_invoice(self):
        """An order not invoiced has no receipt in the back office: its history and chatter are gathered."""
        self.open_new_session(opening_cash=0.0)
        intent = self._captured_intent(107.0, self.company.currency_id)
        order = self._order([(self.haircut, 1)], payments=[(self.stripe_pm, 107.0)])
        # sudo: stands for the till, which sends the terminal's PaymentIntent with the order
        order.payment_ids.sudo().transaction_id = intent.id
        self._post_dispute_event("charge.dispute.created", self._stripe_dispute(order.payment_ids))
        dispute = self.env["client.refund.dispute"].search([("pos_order_id", "=", order.id)])
        manager = new_test_user(
            self.env,
            login="dispute_pos_refund_manager",
            groups="base.group_user,point_of_sale.group_pos_user,client_refund.group_client_refund_manager",
            company_id=self.company.id,
        )
        dispute.with_user(manager).action_gather_evidence()
        self.assertEqual(
            sorted(dispute.evidence_attachment_ids.mapped(lambda a: (a.name, a.mimetype))),
            [(f"Chatter {order.display_name}.txt", "text/plain"),
             (f"Refund history and policy {order.display_name}.txt", "text/plain")],
        )
        summary = dispute.evidence_attachment_ids.filtered(lambda a: a.name.startswith("Refund history")).raw.decode()
        self.assertIn(f"Card dispute {dispute.stripe_dispute_id} of $\xa0107.00: {order.display_name}", summary)


@tagged("post_install", "-at_install")
class TestDisputeEvidence(DisputeEventMixin, TrustBoundaryMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    """The evidence a manager gathers on a dispute, and sends to Stripe."""

    POLICY_TEXT = "Appointments cancelled less than a day ahead keep half the price."

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls._setup_local_stripe(cls.company, cls.bank_journal)
        cls.company.client_refund_tz = "UTC"
        cls.company.client_refund_policy_id = cls.env["client.refund.policy"].create(
            {"name": "Salon", "company_id": cls.company.id, "client_text": cls.POLICY_TEXT, "print_on_invoice": True}
        )

    def setUp(self):
        super().setUp()
        self.rendered = []

    def _gather(self, dispute, user):
        """The manager's button, with the reports made as PDFs."""

        def render(report, report_ref, res_ids=None, data=None):
            # stands for wkhtmltopdf (the real one is tested by test_client_refund_receipt_pdf):
            # in test mode Odoo renders reports as HTML
            self.rendered.append((report_ref, list(res_ids)))
            return b"%PDF-1.4 " + report_ref.encode(), "pdf"

        with patch.object(type(self.env["ir.actions.report"]), "_render_qweb_pdf", render):
            return dispute.with_user(user).action_gather_evidence()

    def _disputed_after_a_refund(self):
        """A card sale of 115.00, 15.00 refunded by bank transfer, then disputed."""
        invoice, transaction = self._paid_by_card()
        refund = self._refund(
            invoice, mode="amount", amount=15.0, payout_method="journal", payout_journal_id=self.bank_journal
        )
        self.assertEqual(refund.state, "done")
        stripe_dispute = self._stripe_dispute(transaction)
        self.assertEqual(self._post_dispute_event("charge.dispute.created", stripe_dispute).status_code, 200)
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", stripe_dispute["id"])])
        self.assertEqual(len(dispute), 1)
        return invoice, refund, stripe_dispute, dispute

    def _evidence(self, dispute):
        return {
            attachment.name: (attachment.mimetype, attachment.description, attachment.raw)
            for attachment in dispute.evidence_attachment_ids
        }

    def test_manager_gathers_the_evidence(self):
        invoice, refund, _stripe_dispute, dispute = self._disputed_after_a_refund()
        self._gather(dispute, self.refund_manager)
        self.assertEqual(
            self.rendered,
            [("account.account_invoices", invoice.ids), ("client_refund.action_report_client_refund", refund.ids)],
        )
        evidence = self._evidence(dispute)
        self.assertEqual(
            {name: values[:2] for name, values in evidence.items()},
            {
                f"Invoice {invoice.name}.pdf": ("application/pdf", "receipt"),
                f"Refund receipts {invoice.display_name}.pdf": ("application/pdf", "uncategorized_file"),
                f"Refund history and policy {invoice.display_name}.txt": ("text/plain", "uncategorized_text"),
                f"Chatter {invoice.display_name}.txt": ("text/plain", "uncategorized_text"),
            },
        )
        summary = evidence[f"Refund history and policy {invoice.display_name}.txt"][2].decode()
        self.assertIn(dispute.stripe_dispute_id, summary)
        self.assertIn(f"- {refund.name}, {refund.date.date()}, Done: $\xa015.00, Cash or Bank Transfer", summary)
        self.assertIn(self.POLICY_TEXT, summary)
        chatter = evidence[f"Chatter {invoice.display_name}.txt"][2].decode()
        self.assertIn(dispute.stripe_dispute_id, chatter)
        self.assertIn("disputed", chatter)
        self.assertEqual(
            set(dispute.evidence_attachment_ids.mapped(lambda a: (a.res_model, a.res_id))),
            {("client.refund.dispute", dispute.id)},
        )
        self.assertIn("Evidence gathered", dispute.message_ids[0].body)
        # gathered again: in place of the first
        first = dispute.evidence_attachment_ids
        self._gather(dispute, self.refund_manager)
        self.assertEqual(len(dispute.evidence_attachment_ids), 4)
        self.assertFalse(first.exists())

    def test_refund_user_cannot_gather_nor_submit(self):
        _invoice, _refund, _stripe_dispute, dispute = self._disputed_after_a_refund()
        with self.assertRaises(AccessError):
            self._gather(dispute, self.refund_user)
        self.assertFalse(dispute.evidence_attachment_ids)
        self.assertFalse(
            self.env["ir.attachment"].search([("res_model", "=", dispute._name), ("res_id", "=", dispute.id)])
        )
        self.assertFalse(self.rendered)
        self._gather(dispute, self.refund_manager)
        with patch.object(stripe.DisputeService, "update") as update, self.assertRaises(AccessError):
            dispute.with_user(self.refund_user).action_submit_evidence_to_stripe()
        update.assert_not_called()
        self.assertFalse(dispute.evidence_sent_date)
        # nor over JSON-RPC
        for method in ("action_gather_evidence", "action_submit_evidence_to_stripe"):
            with self.subTest(method=method), self.assertRpcRefused("AccessError"):
                self._rpc(self.refund_user, "client.refund.dispute", method, [dispute.id])

    def test_manager_submits_to_stripe(self):
        invoice, refund, stripe_dispute, dispute = self._disputed_after_a_refund()
        manager_dispute = dispute.with_user(self.refund_manager)
        with self.assertRaisesRegex(UserError, "Gather the evidence"):
            manager_dispute.action_submit_evidence_to_stripe()
        self._gather(dispute, self.refund_manager)
        uploads, updates = [], []

        # localstripe has no disputes nor files: these mocks stand for Stripe's
        # POST files.stripe.com/v1/files (purpose dispute_evidence), which answers
        # a File object, and POST /v1/disputes/{id}, which stores the evidence,
        # submits it to the bank and answers the dispute, now under review
        def create_file(service, params=None, options=None):
            uploads.append((params["purpose"], params["file"].name, params["file"].read()))
            return stripe.File.construct_from({"id": f"file_{len(uploads)}", "object": "file"}, "sk_test")

        def update(service, dispute_id, params=None, options=None):
            updates.append((dispute_id, params))
            return stripe.Dispute.construct_from({**stripe_dispute, "status": "under_review"}, "sk_test")

        with patch.object(stripe.FileService, "create", create_file), \
                patch.object(stripe.DisputeService, "update", update):
            manager_dispute.action_submit_evidence_to_stripe()
        self.assertEqual(
            uploads,
            [
                ("dispute_evidence", f"Invoice {invoice.name}.pdf", b"%PDF-1.4 account.account_invoices"),
                ("dispute_evidence", f"Refund receipts {invoice.display_name}.pdf",
                 b"%PDF-1.4 client_refund.action_report_client_refund"),
            ],
        )
        [(dispute_id, params)] = updates
        self.assertEqual(dispute_id, dispute.stripe_dispute_id)
        self.assertTrue(params["submit"])
        evidence = params["evidence"]
        self.assertEqual(evidence["receipt"], "file_1")
        self.assertEqual(evidence["uncategorized_file"], "file_2")
        self.assertEqual(evidence["refund_policy_disclosure"], self.POLICY_TEXT)
        self.assertEqual(evidence["customer_name"], self.client.name)
        self.assertIn(refund.name, evidence["uncategorized_text"])
        self.assertIn(self.POLICY_TEXT, evidence["uncategorized_text"])
        self.assertIn("Chatter", evidence["uncategorized_text"])
        self.assertRecordValues(dispute, [{"stripe_status": "under_review", "outcome": "open"}])
        self.assertTrue(dispute.evidence_sent_date)
        self.assertIn("Evidence sent to Stripe", dispute.message_ids[0].body)
        # once sent, Stripe takes no more
        with self.assertRaisesRegex(UserError, "sent to Stripe already"):
            manager_dispute.action_submit_evidence_to_stripe()

    def test_stripe_refusal_is_a_clear_error(self):
        _invoice, _refund, _stripe_dispute, dispute = self._disputed_after_a_refund()
        self._gather(dispute, self.refund_manager)

        def refused(service, dispute_id, params=None, options=None):
            # stands for Stripe's answer to evidence of a dispute no longer open to it
            raise stripe.InvalidRequestError("This dispute is already closed", "evidence")

        with patch.object(stripe.FileService, "create", return_value=stripe.File.construct_from(
                {"id": "file_x"}, "sk_test")), patch.object(stripe.DisputeService, "update", refused), \
                self.assertRaisesRegex(UserError, "already closed"):
            dispute.with_user(self.refund_manager).action_submit_evidence_to_stripe()
        self.assertFalse(dispute.evidence_sent_date)
