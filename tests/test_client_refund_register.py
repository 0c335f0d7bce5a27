from lxml import etree
from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from .common import ClientRefundCommon


@tagged("post_install", "-at_install")
class TestClientRefundRegister(ClientRefundCommon):
    def test_numbering_is_per_company(self):
        first_a = self._create_register_entry()
        second_a = self._create_register_entry()
        first_b = self._create_register_entry(company=self.company_2)
        self.assertRegex(first_a.name, r"^RF/\d{4}/\d{5}$")
        number = int(first_a.name.rsplit("/", 1)[1])
        self.assertEqual(int(second_a.name.rsplit("/", 1)[1]), number + 1)
        # company B has its own sequence, so it does not continue company A's
        self.assertEqual(first_b.name, first_a.name)
        sequences = self.env["ir.sequence"].search([("code", "=", "client.refund")])
        self.assertEqual(
            set(sequences.company_id.ids) & {self.company.id, self.company_2.id},
            {self.company.id, self.company_2.id},
        )

    def test_bad_input_delete_of_a_done_refund(self):
        refund = self._create_register_entry(state="done")
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_manager).unlink()
        with self.assertRefused("Only draft refunds can be deleted"):
            refund.sudo().unlink()
        self.assertTrue(refund.exists())

    def test_cancelled_refund_stays_listed(self):
        refund = self._create_register_entry(state="done")
        self.env.cr.flush()  # the creation's own tracking is done before the change
        refund.with_user(self.refund_manager).action_cancel()
        self.env.cr.flush()  # tracking values are written before commit
        self.assertEqual(refund.state, "cancel")
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_manager).unlink()
        listed = self.env["client.refund"].search(
            [("partner_id", "=", self.client.id), ("state", "=", "cancel")]
        )
        self.assertEqual(listed, refund)
        tracked = refund.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "state"
        )
        self.assertEqual(tracked.new_value_char, "Cancelled")

    def test_access_nobody_deletes_or_duplicates_a_refund(self):
        """The register is the audit trail: a refund is cancelled, never deleted
        or copied, by a manager neither."""
        refund = self._create_register_entry()
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_manager).unlink()
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_manager).copy()
        self.assertTrue(refund.exists())

    def test_bad_input_number_given_by_the_caller(self):
        """Numbers come from the sequence, and one number is used once a company."""
        first = self._create_register_entry(name="RF/FORGED/1")
        self.assertRegex(first.name, r"^RF/\d{4}/\d{5}$")
        second = self._create_register_entry()
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"):
            second.sudo().write({"name": first.name})
            second.env.flush_all()

    def test_access_only_manager_cancels_done_refund(self):
        refund = self._create_register_entry(state="done")
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_user).action_cancel()
        self.assertEqual(refund.state, "done")

    def test_bad_input_cancel_of_a_refund_with_a_posted_credit_note(self):
        invoice = self.init_invoice("out_invoice", partner=self.client, amounts=[100.0], post=True)
        credit_note = invoice._reverse_moves(cancel=True)
        refund = self._create_register_entry(
            state="done", source_move_id=invoice.id, credit_note_ids=[(6, 0, credit_note.ids)]
        )
        with self.assertRefused("Reverse its credit notes"):
            refund.action_cancel()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.source_reference, invoice.display_name)

    def test_partner_smart_button_counts_refunds(self):
        self._create_register_entry()
        self._create_register_entry(state="done")
        contact = self.env["res.partner"].create(
            {"name": "Alice at work", "parent_id": self.client.id}
        )
        self._create_register_entry(partner_id=contact.id)
        self.assertEqual(self.client.client_refund_count, 3)
        action = self.client.action_view_client_refunds()
        self.assertEqual(self.env["client.refund"].search(action["domain"]).partner_id,
                         self.client + contact)

    def test_search_by_client_email_and_phone(self):
        refund = self._create_register_entry()
        self._create_register_entry(partner_id=self.partner_a.id)
        # the domain the search view's "Client" field applies to what is typed
        arch = etree.fromstring(self.env.ref("client_refund.client_refund_view_search").arch)
        filter_domain = arch.xpath("//field[@name='partner_id']")[0].get("filter_domain")
        for typed in ("alice@example", "470 11 22", "Client Alice"):
            domain = safe_eval(filter_domain, {"self": typed})
            self.assertEqual(self.env["client.refund"].search(domain), refund, typed)
