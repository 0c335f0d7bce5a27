from lxml import etree
from psycopg2 import IntegrityError

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger
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

    def test_cancel_of_a_refund_undoes_its_credit_note(self):
        """The refund's own cancellation undoes what it booked: its credit note
        is cancelled and the invoice it settled is due again."""
        invoice = self.init_invoice("out_invoice", partner=self.client, amounts=[100.0], post=True)
        credit_note = invoice._reverse_moves(cancel=True)
        refund = self._create_register_entry(
            state="done", source_move_id=invoice.id, credit_note_ids=[(6, 0, credit_note.ids)]
        )
        self.assertEqual(invoice.payment_state, "reversed")
        refund.with_user(self.refund_manager).action_cancel()
        self.assertEqual(refund.state, "cancel")
        self.assertEqual(credit_note.state, "cancel")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(invoice.amount_residual, 100.0)
        self.assertIn(f"Undone: {credit_note.display_name} cancelled.", refund.message_ids.mapped("body")[1])
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

    def test_reports_count_by_the_day_the_refund_was_asked_where_it_was_asked(self):
        """The pivot and graph group by the day in the time zone of who asked,
        whoever reads them: a refund asked at 23:30 UTC on 31 January in Tokyo
        is one of February's."""
        self.refund_user.tz = "Asia/Tokyo"
        self.refund_manager.tz = False
        tokyo = self._create_register_entry(
            user_id=self.refund_user.id, date="2026-01-31 23:30:00", amount=30.0
        )
        utc = self._create_register_entry(
            user_id=self.refund_manager.id, date="2026-01-31 23:30:00", amount=20.0
        )
        self.assertEqual(str(tokyo.request_date), "2026-02-01")
        self.assertEqual(str(utc.request_date), "2026-01-31")
        for reader_tz in ("UTC", "America/Los_Angeles"):
            groups = (
                self.env["client.refund"]
                .with_context(tz=reader_tz)
                ._read_group(
                    [("id", "in", (tokyo | utc).ids)],
                    ["request_date:month"],
                    ["amount:sum"],
                )
            )
            self.assertEqual(
                [(str(month), total) for month, total in groups],
                [("2026-01-01", 20.0), ("2026-02-01", 30.0)],
                reader_tz,
            )
        pivot = etree.fromstring(self.env.ref("client_refund.client_refund_view_pivot").arch)
        self.assertEqual(pivot.xpath("//field[@interval='month']/@name"), ["request_date"])

    def test_the_month_the_reports_group_by_has_planner_statistics(self):
        """PostgreSQL knows how many months the register holds, on the very
        expression the ORM groups by: it plans three groups for three months.
        Without the statistics made at install it plans one per day (at a
        million refunds, with the reasons: 73,100 groups for 250, 0.33 s
        instead of 0.25)."""
        if self.env.cr._cnx.server_version < 140000:
            self.skipTest("statistics on expressions need PostgreSQL 14")
        first = self._create_register_entry(request_date="2026-01-01")
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT array_agg(column_name::text) FROM information_schema.columns "
            "WHERE table_name = 'client_refund' AND column_name NOT IN ('id', 'name', 'request_date')"
        )
        columns = SQL(", ").join(map(SQL.identifier, self.env.cr.fetchone()[0]))
        # 3,000 refunds over three months
        self.env.cr.execute(SQL(
            "INSERT INTO client_refund (name, request_date, %(columns)s) "
            "SELECT 'RF/STATS/' || g, DATE '2026-01-01' + mod(g, 90), %(columns)s "
            "FROM client_refund, generate_series(1, 3000) AS g WHERE id = %(id)s",
            columns=columns, id=first.id,
        ))
        self.env.cr.execute("ANALYZE client_refund")
        Refund = self.env["client.refund"]
        query = Refund._search([])
        month = Refund._read_group_groupby("request_date:month", query)

        def planned_groups():
            self.env.cr.execute(SQL(
                "EXPLAIN (FORMAT JSON) SELECT %(month)s, COUNT(*) FROM %(from)s "
                "WHERE %(where)s GROUP BY %(month)s",
                month=month, where=query.where_clause or SQL("TRUE"), **{"from": query.from_clause},
            ))
            return self.env.cr.fetchone()[0][0]["Plan"]["Plan Rows"]

        self.assertLessEqual(planned_groups(), 10)
        self.env.cr.execute("DROP STATISTICS client_refund_request_month_stats")
        self.env.cr.execute("ANALYZE client_refund")
        self.assertGreater(planned_groups(), 80)
        # and the dozen reasons are analyzed as soon as one changes
        self.env.cr.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'client_refund_reason'"
        )
        self.assertIn("autovacuum_analyze_threshold=1", self.env.cr.fetchone()[0])
