"""Two people refunding the same thing at the same moment.

Each refund runs in its own real cursor, as two HTTP requests would; the fixture
is committed from a third cursor so that both see it, and removed afterwards."""

import psycopg2

from odoo import Command, api
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .common import CommittedDataMixin


@tagged("post_install", "-at_install")
class TestRefundRace(CommittedDataMixin, TransactionCase):
    def _refund(self, cr, source_field, source_id, values):
        env = api.Environment(cr, api.SUPERUSER_ID, {})
        env = env(user=env.ref("base.user_admin"))
        # as the wizard records it (in sudo) and confirms it
        refund = env["client.refund"].sudo().create(
            {
                source_field: source_id,
                "reason_id": env.ref("client_refund.reason_client_request").id,
                **values,
            }
        ).sudo(False)
        refund.action_confirm()
        return refund

    def _race(self, source_field, source_id, values, left_pattern):
        """Refund A holds the document; refund B fails at once; once A is committed,
        B retried is refused for going beyond what is left."""
        with self.registry.cursor() as cr_a:
            refund_a = self._refund(cr_a, source_field, source_id, values)
            with self.registry.cursor() as cr_b:
                with self.assertRaisesRegex(UserError, "being refunded by someone else"):
                    self._refund(cr_b, source_field, source_id, values)
                cr_b.rollback()  # as the failed request would
            cr_a.commit()
            made = {
                "client.refund": refund_a.ids,
                "pos.order": refund_a.pos_order_ids.ids,
                "account.move": refund_a.credit_note_ids.ids,
            }
        with self.registry.cursor() as cr_b:
            with self.assertRaisesRegex(UserError, left_pattern):
                self._refund(cr_b, source_field, source_id, values)
            cr_b.rollback()
        return made

    def _stale_race(self, source_field, source_id, values, left_pattern):
        """Request B reads before refund A commits, then refunds: B must not
        refund from its stale snapshot (Odoo retries a serialization failure,
        and the retry sees what is left)."""
        with self.registry.cursor() as cr_b:
            cr_b.execute("SELECT 1")  # B's snapshot is taken here
            with self.registry.cursor() as cr_a:
                refund_a = self._refund(cr_a, source_field, source_id, values)
                cr_a.commit()
                made = {
                    "client.refund": refund_a.ids,
                    "pos.order": refund_a.pos_order_ids.ids,
                    "account.move": refund_a.credit_note_ids.ids,
                }
            with self.assertRaises(psycopg2.errors.SerializationFailure):
                self._refund(cr_b, source_field, source_id, values)
            cr_b.rollback()
        with self.registry.cursor() as cr_retry:
            with self.assertRaisesRegex(UserError, left_pattern):
                self._refund(cr_retry, source_field, source_id, values)
            cr_retry.rollback()
        return made

    def test_race_on_the_same_invoice(self):
        def build(env, created):
            partner = env["res.partner"].create({"name": "Racing client"})
            product = env["product.product"].create({"name": "Race service", "type": "service"})
            invoice = env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_line_ids": [
                        Command.create(
                            {"product_id": product.id, "price_unit": 100.0, "tax_ids": []}
                        )
                    ],
                }
            )
            invoice.action_post()
            created.update(invoice=invoice.id, partner=partner.id)
            created["cleanup"] = [
                ("res.partner", partner.ids),
                ("product.product", product.ids),
                ("account.move", invoice.ids),
            ]

        with self._committed(build) as created:
            values = {
                "partner_id": created["partner"],
                "source_type": "invoice",
                "scope": "partial",
                "amount": 60.0,
                "payout_method": "credit",
            }
            made = self._race("source_move_id", created["invoice"], values, "Only .*40.00.* left")
            created["cleanup"] += [
                ("account.move", made["account.move"]),
                ("client.refund", made["client.refund"]),
            ]
            with self.registry.cursor() as cr:
                invoice = api.Environment(cr, api.SUPERUSER_ID, {})["account.move"].browse(
                    created["invoice"]
                )
                self.assertEqual(len(invoice.reversal_move_ids), 1)
                self.assertAlmostEqual(invoice.reversal_move_ids.amount_total, 60.0)

    def test_race_on_the_same_pos_order(self):
        self._pos_order_race(self._race)

    def test_race_on_the_same_pos_order_from_a_stale_snapshot(self):
        self._pos_order_race(self._stale_race)

    def _pos_order_race(self, race):
        def build(env, created):
            config = env["pos.config"].create({"name": "Race shop"})
            config.open_ui()
            session = config.current_session_id
            product = env["product.product"].create(
                {
                    "name": "Race massage",
                    "type": "service",
                    "available_in_pos": True,
                    "taxes_id": [Command.clear()],
                }
            )
            cash = config.payment_method_ids.filtered("is_cash_count")[:1]
            order_data = {
                "amount_paid": 50.0,
                "amount_return": 0.0,
                "amount_tax": 0.0,
                "amount_total": 50.0,
                "date_order": "2026-01-01 10:00:00",
                "lines": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "qty": 1,
                            "price_unit": 50.0,
                            "price_subtotal": 50.0,
                            "price_subtotal_incl": 50.0,
                            "tax_ids": [],
                            "pack_lot_ids": [],
                        }
                    )
                ],
                "name": "Race order",
                "partner_id": False,
                "session_id": session.id,
                "sequence_number": 1,
                "payment_ids": [
                    Command.create(
                        {"amount": 50.0, "name": "race", "payment_method_id": cash.id}
                    )
                ],
                "uuid": "client-refund-race-order",
                "user_id": env.uid,
                "to_invoice": False,
                "pricelist_id": config.pricelist_id.id,
                "fiscal_position_id": False,
                "last_order_preparation_change": "{}",
            }
            result = env["pos.order"].sync_from_ui([order_data])
            order = env["pos.order"].browse(result["pos.order"][0]["id"])
            created.update(order=order.id)
            created["cleanup"] = [
                ("pos.config", config.ids),
                ("pos.session", session.ids),
                ("product.product", product.ids),
                ("pos.order", order.ids),
            ]

        with self._committed(build) as created:
            values = {"source_type": "pos_order", "scope": "full", "payout_method": "pos"}
            values["amount"] = 50.0
            made = race(
                "source_pos_order_id", created["order"], values, "refunded in full already"
            )
            created["cleanup"] += [
                ("pos.order", made["pos.order"]),
                ("client.refund", made["client.refund"]),
            ]
            with self.registry.cursor() as cr:
                order = api.Environment(cr, api.SUPERUSER_ID, {})["pos.order"].browse(
                    created["order"]
                )
                self.assertEqual(order.lines.refunded_qty, 1.0)
                self.assertEqual(len(order.lines.refund_orderline_ids), 1)
                refund_orders = order.lines.refund_orderline_ids.order_id
                self.assertAlmostEqual(sum(refund_orders.mapped("amount_paid")), -50.0)

    def test_race_on_the_same_card(self):
        def build(env, created):
            partner = env["res.partner"].create({"name": "Racing card holder"})
            product = env["product.product"].create(
                {"name": "Race gift card", "type": "service", "taxes_id": [Command.clear()]}
            )
            invoice = env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_line_ids": [
                        Command.create({"product_id": product.id, "price_unit": 50.0})
                    ],
                }
            )
            invoice.action_post()
            program = env["loyalty.program"].create(
                {
                    "name": "Race gift cards",
                    "program_type": "gift_card",
                    "client_refund_allow_balance": True,
                    "rule_ids": [
                        Command.create(
                            {"reward_point_mode": "money", "product_ids": product.ids}
                        )
                    ],
                    "reward_ids": [
                        Command.create({"discount_mode": "per_point", "discount": 1.0})
                    ],
                }
            )
            card = env["loyalty.card"].create(
                {"program_id": program.id, "partner_id": partner.id, "points": 50.0}
            )
            created.update(
                card=card.id, partner=partner.id, line=invoice.invoice_line_ids.id
            )
            created["cleanup"] = [
                ("res.partner", partner.ids),
                ("product.product", product.ids),
                ("loyalty.program", program.ids),
                ("loyalty.card", card.ids),
                ("account.move", invoice.ids),
            ]

        with self._committed(build) as created:
            values = {
                "partner_id": created["partner"],
                "source_type": "gift_card",
                "scope": "full",
                "amount": 50.0,
                "payout_method": "credit",
                "line_ids": [Command.create({"move_line_id": created["line"], "quantity": 1.0})],
            }
            made = self._race("source_card_id", created["card"], values, "is closed")
            created["cleanup"] += [
                ("account.move", made["account.move"]),
                ("client.refund", made["client.refund"]),
            ]
            with self.registry.cursor() as cr:
                card = api.Environment(cr, api.SUPERUSER_ID, {})["loyalty.card"].browse(
                    created["card"]
                )
                self.assertEqual(card.points, 0.0)
                self.assertEqual(len(card.history_ids), 1, "emptied once")

    def test_race_on_the_daily_cap_from_a_stale_snapshot(self):
        """The same user refunds two documents at once, each under the daily cap,
        together above it: the request that read before the first committed
        fails to serialize, and its retry waits for approval."""

        def build(env, created):
            company = env.user.company_id
            created["settings"] = (
                company.client_refund_daily_cap,
                company.client_refund_approval_threshold,
            )
            company.write({"client_refund_daily_cap": 100.0, "client_refund_approval_threshold": 0.0})
            product = env["product.product"].create({"name": "Cap service", "type": "service"})
            partner = env["res.partner"].create({"name": "Capped client"})
            invoices = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "partner_id": partner.id,
                        "invoice_line_ids": [
                            Command.create(
                                {"product_id": product.id, "price_unit": 100.0, "tax_ids": []}
                            )
                        ],
                    }
                    for _index in range(2)
                ]
            )
            invoices.action_post()
            created.update(company=company.id, partner=partner.id, invoices=invoices.ids)
            created["cleanup"] = [
                ("res.partner", partner.ids),
                ("product.product", product.ids),
                ("account.move", invoices.ids),
            ]

        with self._committed(build) as created:
            values = {
                "partner_id": created["partner"],
                "source_type": "invoice",
                "scope": "partial",
                "amount": 80.0,
                "payout_method": "credit",
            }
            first, second = created["invoices"]
            try:
                with self.registry.cursor() as cr_b:
                    cr_b.execute("SELECT 1")  # B's snapshot is taken here
                    with self.registry.cursor() as cr_a:
                        refund_a = self._refund(cr_a, "source_move_id", first, values)
                        self.assertEqual(refund_a.state, "done")
                        cr_a.commit()
                        created["cleanup"] += [
                            ("account.move", refund_a.credit_note_ids.ids),
                            ("client.refund", refund_a.ids),
                        ]
                    with self.assertRaises(psycopg2.errors.SerializationFailure):
                        self._refund(cr_b, "source_move_id", second, values)
                    cr_b.rollback()
                with self.registry.cursor() as cr_retry:
                    # the retry counts the first refund: 80 + 80 is beyond the cap
                    # (the administrator, the fixture's only manager, cannot
                    # approve their own refund, which says so)
                    with self.assertRaisesRegex(UserError, r"160\.00, beyond the daily cap"):
                        self._refund(cr_retry, "source_move_id", second, values)
                    cr_retry.rollback()
            finally:
                with self.registry.cursor() as cr:
                    company = api.Environment(cr, api.SUPERUSER_ID, {})["res.company"].browse(
                        created["company"]
                    )
                    cap, threshold = created["settings"]
                    company.write(
                        {"client_refund_daily_cap": cap, "client_refund_approval_threshold": threshold}
                    )
                    cr.commit()  # pylint: disable=invalid-commit
