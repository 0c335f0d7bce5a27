"""The addon's guarantees against core's own write paths.

Each test stands for an attack by a front-desk user who has, besides the refund
group, the rights core gives the front desk (Billing, Point of Sale user): a
request crafted by hand against /web/dataset/call_kw, a report route or the
Stripe webhook, that uses core's own methods on the records a guarantee rests
on (a move, a payment, a match, a card's points, its history, the user's time
zone). Each asserts that the request is refused or harmless, and that nothing
was booked or revealed.
"""

from datetime import timedelta

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.point_of_sale.tests.common import TestPoSCommon

from .common import ClientRefundCommon, LocalStripeMixin, LoyaltyRefundMixin
from .test_invoice_refund import InvoiceRefundCommon
from .test_trust_boundary import TrustBoundaryMixin


def etc_zone(offset):
    """The IANA zone of a whole-hour UTC `offset` (Etc/GMT-10 is UTC+10)."""
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def offset_for(local_hour, utc_hour):
    """The whole-hour UTC offset at which it is `local_hour` when it is `utc_hour` UTC."""
    offset = (local_hour - utc_hour) % 24
    return offset - 24 if offset > 14 else offset


@tagged("post_install", "-at_install")
class TestCoreWritePathsInvoice(TrustBoundaryMixin, InvoiceRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()

    def _vals(self, invoice, **values):
        return {"source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id, **values}

    def _amount_refund(self, invoice, amount, user=None):
        return self._wizard_over_rpc(
            user or self.refund_user,
            self._vals(invoice, refund_mode="amount", amount=amount, payout_method="journal",
                       payout_journal_id=self.cash_journal.id),
        )

    # 1. the daily cap's day ---------------------------------------------------

    def test_daily_cap_day_is_the_companys_not_the_users_time_zone(self):
        """Attack: after a 115.00 refund (cap 200.00), the refund user writes
        their own `tz` so that their midnight falls between that refund and now,
        then refunds 115.00 again: it waits for a manager all the same, and the
        `tz` sent in the request's context changes nothing either."""
        now = fields.Datetime.now()
        # the company's day: noon now, so that an hour ago is the same day
        self.company.write(
            {
                "client_refund_tz": etc_zone(offset_for(12, now.hour)),
                "client_refund_daily_cap": 200.0,
                "client_refund_approval_threshold": 0.0,
            }
        )
        invoice = self._invoice([(self.haircut, 1, 200.0)] * 2)
        self._pay(invoice)
        first = self._amount_refund(invoice, 115.0)
        self.assertEqual(first.state, "done")
        # stands for the hour the attacker waits
        first.sudo().date = now - timedelta(minutes=61)
        # a zone whose midnight was less than an hour ago
        after_midnight = etc_zone(offset_for(0, now.hour))
        self._rpc(self.refund_user, "res.users", "write", [self.refund_user.id], {"tz": after_midnight})
        self.assertEqual(self.refund_user.tz, after_midnight)
        booked = self._booked()
        second = self._wizard_over_rpc(
            self.refund_user,
            self._vals(invoice, refund_mode="amount", amount=115.0, payout_method="journal",
                       payout_journal_id=self.cash_journal.id),
            context={"tz": after_midnight},
        )
        self.assertEqual(second.state, "to_approve")
        self.assertFalse(second.credit_note_ids)
        self.assertFalse(second.payment_ids)
        self.assertNothingBooked(booked, client_refund=1)

    # 2. the receipt ------------------------------------------------------------

    def test_receipt_route_prints_only_a_refund_made(self):
        """Attack: GET /report/pdf/... and /report/html/... of a refund that waits
        for approval, then of the same refund rejected: refused (400), and the
        page says nothing was refunded. The To Approve notification offers no
        receipt. A refund made prints."""
        self.company.client_refund_approval_threshold = 100.0
        invoice = self._invoice([(self.haircut, 1, 2000.0)])
        self._pay(invoice)
        wizard_id = self._rpc(self.refund_user, "client.refund.wizard", "create", self._vals(invoice))
        action = self._rpc(self.refund_user, "client.refund.wizard", "action_confirm", [wizard_id])
        refund = self.env["client.refund"].browse(action["res_id"])
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(action["params"]["links"], "no receipt offered")
        booked = self._booked()
        self.authenticate(self.refund_user.login, self.refund_user.login)
        self._rpc_login = self.refund_user.login

        def assert_not_printed():
            for converter in ("pdf", "html"):
                response = self.url_open(
                    f"/report/{converter}/client_refund.report_client_refund_receipt/{refund.id}"
                )
                self.assertEqual(response.status_code, 400, converter)
                self.assertNotIn(self._fmt(2300.0), response.text)
                self.assertIn("once the refund is made", response.text)

        assert_not_printed()
        refund.with_user(self.refund_manager).action_reject("Not this one")
        self.assertEqual(refund.state, "cancel")
        assert_not_printed()
        self.assertNothingBooked(booked)

        made = self._amount_refund(invoice, 50.0)
        self.assertEqual(made.state, "done")
        response = self.url_open(f"/report/html/client_refund.report_client_refund_receipt/{made.id}")
        self.assertEqual(response.status_code, 200)
        self.assertIn(made.name, response.text)

    # 4. the webhook ------------------------------------------------------------

    def test_webhook_refuses_deeply_nested_json_with_400(self):
        """Attack: anonymous POSTs to core's Stripe webhook with JSON nested
        100,000 deep (which Python's parser cannot read): 400, never 500."""
        booked = self._booked()
        depth = 100_000
        for body in (
            "[" * depth + "]" * depth,
            '{"type": "refund.updated", "data": ' + "[" * depth + "]" * depth + "}",
            '{"type": "charge.succeeded", "data": ' + '{"a":' * depth + "1" + "}" * depth + "}",
        ):
            with self.subTest(body=body[:40]):
                response = self.url_open(
                    "/payment/stripe/webhook", data=body, headers={"Content-Type": "application/json"}
                )
                self.assertEqual(response.status_code, 400, response.text[:300])
        self.assertNothingBooked(booked)

    # 8. a payout's entry and matches -------------------------------------------

    def test_cash_payout_is_not_undone_through_core(self):
        """Attack: after a cash refund, the refund user (Billing) resets or
        cancels the payout's entry, the payout, the credit note, or removes
        their matches, over JSON-RPC, so as to refund the reopened credit
        again: each is refused, and nothing is left to refund."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        refund = self._wizard_over_rpc(self.refund_user, self._vals(invoice, payout_method="journal",
                                                                    payout_journal_id=self.cash_journal.id))
        self.assertEqual(refund.state, "done")
        payout = refund.payment_ids
        credit_note = refund.credit_note_ids
        booked = self._booked()
        matched = (payout.move_id | credit_note).line_ids.matched_debit_ids | (
            payout.move_id | credit_note
        ).line_ids.matched_credit_ids
        self.assertTrue(matched)
        attacks = [
            ("account.move", "button_draft", [payout.move_id.id]),
            ("account.move", "button_cancel", [payout.move_id.id]),
            ("account.move", "button_draft", [credit_note.id]),
            ("account.move", "button_draft", [invoice.id]),  # its match with the credit note
            ("account.move", "write", [credit_note.id], {"state": "draft"}),
            ("account.payment", "action_draft", [payout.id]),
            ("account.payment", "action_cancel", [payout.id]),
            ("account.payment", "write", [payout.id], {"state": "canceled"}),
            ("account.payment", "action_draft", [payment.id]),  # matched with the payout
            ("account.move.line", "remove_move_reconcile", payout.move_id.line_ids.ids),
            ("account.partial.reconcile", "unlink", matched.ids),
            ("account.move", "js_remove_outstanding_partial", [invoice.id], matched[:1].id),
        ]
        for model, method, *args in attacks:
            with self.subTest(model=model, method=method):
                with self.assertRpcRefused("UserError", pattern=f"belongs to refund {refund.name}"):
                    self._rpc(self.refund_user, model, method, *args)
        self.assertIn(payout.state, ("in_process", "paid"))
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(len(matched.exists()), len(matched))
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 0.0)
        self.assertEqual(payment._client_refund_get_refundable_amount(), 0.0)
        self.assertNothingBooked(booked)

    def test_matches_and_links_are_not_rewritten(self):
        """Attack (found in review): after a cash refund, the refund user
        rewrites the payout's match with the client's payment to 0 (a write,
        not a delete), clears the credit note's link to its invoice, writes a
        line's residual, or moves a posted credit note line to another invoice
        line; then refunds the payment or the invoice again: each write is
        refused, and nothing is left to refund."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        refund = self._wizard_over_rpc(self.refund_user, self._vals(invoice, payout_method="journal",
                                                                    payout_journal_id=self.cash_journal.id))
        credit_note = refund.credit_note_ids
        partial = payment.move_id.line_ids.matched_debit_ids | payment.move_id.line_ids.matched_credit_ids
        self.assertTrue(partial)
        booked = self._booked()
        payment_line = payment.move_id.line_ids.filtered("reconciled")
        attacks = [
            ("Matches are made by reconciling", "account.partial.reconcile", "write", partial.ids,
             {"amount": 0.0, "debit_amount_currency": 0.0, "credit_amount_currency": 0.0,
              "debit_move_id": partial.debit_move_id.id, "credit_move_id": partial.credit_move_id.id}),
            ("Matches are made by reconciling", "account.partial.reconcile", "create",
             {"debit_move_id": partial.debit_move_id.id, "credit_move_id": partial.credit_move_id.id,
              "amount": -115.0, "debit_amount_currency": -115.0, "credit_amount_currency": -115.0}),
            ("keeps its type and the invoice it reverses", "account.move", "write",
             credit_note.ids, {"reversed_entry_id": False}),
            ("follows its matches only", "account.move.line", "write", payment_line.ids,
             {"reconciled": False, "amount_residual": -115.0}),
            ("refunds the invoice line it was made for", "account.move.line", "write",
             credit_note.invoice_line_ids.ids, {"origin_line_id": False}),
        ]
        for pattern, model, method, *args in attacks:
            with self.subTest(model=model, method=method):
                with self.assertRpcRefused("UserError", pattern=pattern):
                    self._rpc(self.refund_user, model, method, *args)
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertTrue(payment_line.reconciled)
        self.assertEqual(payment._client_refund_get_refundable_amount(), 0.0)
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 0.0)
        self.assertNothingBooked(booked)

    def test_refund_manager_cancel_undoes_the_payout_and_matches_the_invoice_again(self):
        """The way to undo a refund: its own cancellation, by a manager. The
        payout and credit note are cancelled, the invoice is paid again by the
        client's payment, and the register says so."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        payment = self._pay(invoice)
        refund = self._wizard_over_rpc(self.refund_user, self._vals(invoice, payout_method="journal",
                                                                    payout_journal_id=self.cash_journal.id))
        self._rpc(self.refund_manager, "client.refund", "action_cancel", [refund.id])
        self.assertEqual(refund.state, "cancel")
        self.assertEqual(refund.payment_ids.state, "canceled")
        self.assertEqual(refund.credit_note_ids.state, "cancel")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.line_ids.matched_credit_ids.credit_move_id.payment_id, payment)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertTrue(any("Undone:" in str(body) for body in refund.message_ids.mapped("body")))

    # 9. another company's invoice through a context key ------------------------

    def test_picker_context_does_not_name_another_companys_invoice(self):
        """Attack: a refund user of company B reads company A's membership line
        with the picker's context key: the invoice's name comes back as core
        names it, without its date, amount, what it sold or what is left."""
        today = fields.Date.today()
        gold = self._create_product(
            name="Gold Membership", type="service", lst_price=345.0, taxes_id=[Command.clear()],
            membership=True, membership_date_from=today, membership_date_to=today + timedelta(days=30),
        )
        invoice = self.client.create_membership_invoice(gold, 345.0)
        invoice.action_post()
        self._pay(invoice)
        line = self.env["membership.membership_line"].search(
            [("account_invoice_line", "in", invoice.invoice_line_ids.ids)]
        )
        self.assertTrue(line)
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.company_2_user, "account.move", "read", [invoice.id], ["name"])
        rows = self._rpc(
            self.company_2_user, "membership.membership_line", "search_read",
            [("id", "=", line.id)], ["account_invoice_id"], context={"client_refund_picker": True},
        )
        for row in rows:
            name = row["account_invoice_id"][1]
            self.assertNotIn("·", name)
            self.assertNotIn("345", name)
            self.assertNotIn("Gold", name)
        # the refund user of company A still sees the picker's name
        rows = self._rpc(
            self.refund_user, "membership.membership_line", "search_read",
            [("id", "=", line.id)], ["account_invoice_id"], context={"client_refund_picker": True},
        )
        self.assertIn("Gold Membership", rows[0]["account_invoice_id"][1])


@tagged("post_install", "-at_install")
class TestCoreWritePathsCard(TrustBoundaryMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls._setup_local_stripe(cls.company, cls.bank_journal)

    # 8. a card refund's payout -------------------------------------------------

    def test_card_refund_payout_is_not_cancelled_through_its_entry(self):
        """Attack: after a 30.00 card refund, the refund user resets and
        cancels the payout's journal entry (the payment's own buttons being
        refused), so as to refund the reopened credit again in cash: refused,
        and 85.00 of the 115.00 is left to refund, not more."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 85.0)
        payout = refund.payment_ids
        booked = self._booked()
        for method in ("button_draft", "button_cancel"):
            with self.subTest(method=method):
                with self.assertRpcRefused("UserError", pattern="belongs to refund"):
                    self._rpc(self.refund_user, "account.move", method, [payout.move_id.id])
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 85.0)
        self.assertIn(payout.state, ("in_process", "paid"))
        self.assertEqual(payout.move_id.state, "posted")
        self.assertEqual(len(self._stripe_refunds(transaction.provider_reference)), 1)
        self.assertNothingBooked(booked)


@tagged("post_install", "-at_install")
class TestCoreWritePathsBalance(TrustBoundaryMixin, LoyaltyRefundMixin, ClientRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls.pos_front_desk = new_test_user(
            cls.env,
            login="tb_pos_front_desk",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "point_of_sale.group_pos_user",
            company_id=cls.company.id,
        )
        cls._setup_cash_and_deposits()
        cls.haircut = cls._create_product(
            name="Haircut", type="service", lst_price=920.0, taxes_id=[Command.clear()]
        )
        cls.gift_card_product = cls._create_product(
            name="Gift Card", type="service", lst_price=900.0, taxes_id=[Command.clear()]
        )
        cls.gift_cards = cls._program("Gift Cards", "gift_card", cls.gift_card_product)
        deposit_top_up = cls._create_product(
            name="Deposit", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        cls.deposit_wallet = cls._program("Deposits", "ewallet", deposit_top_up)

    # 3. one sale, two kinds of refund -------------------------------------------

    def _card_and_haircut(self):
        """An invoice of 1820.00: a gift card (900.00) and a haircut (920.00)."""
        self.company.client_refund_approval_threshold = 1000.0
        invoice = self._sell([(self.gift_card_product, 900.0), (self.haircut, 920.0)])
        card = self._issue(self.gift_cards, 900.0)
        haircut_line = invoice.invoice_line_ids.filtered(lambda line: line.product_id == self.haircut)
        return invoice, card, haircut_line

    def _cancel_card_sale(self, card):
        return self._wizard_over_rpc(
            self.refund_user,
            {"card_id": card.id, "reason_id": self.reason.id, "refund_option": "cancel_sale"},
            model="client.refund.balance.wizard",
        )

    def _haircut_refund(self, invoice, line):
        return self._wizard_over_rpc(
            self.refund_user,
            {
                "source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id,
                "refund_mode": "lines", "payout_method": "journal",
                "payout_journal_id": self.cash_journal.id,
                "line_ids": [Command.create({"move_line_id": line.id, "quantity": 1.0})],
            },
        )

    def test_card_sale_then_its_invoice_add_up_against_the_threshold(self):
        """Attack: threshold 1000.00; the card's sale cancelled from the card
        (900.00), then the haircut from the invoice (920.00): the second waits
        for a manager, the sum of the sale being 1820.00, and books nothing."""
        invoice, card, haircut_line = self._card_and_haircut()
        first = self._cancel_card_sale(card)
        self.assertEqual(first.state, "done")
        self.assertEqual(first.sale_move_ids, invoice)
        booked = self._booked()
        second = self._haircut_refund(invoice, haircut_line)
        self.assertEqual(second.state, "to_approve")
        self.assertIn("1,820.00", second.message_ids[0].body)
        self.assertFalse(second.credit_note_ids)
        self.assertFalse(second.payment_ids)
        self.assertNothingBooked(booked, client_refund=1, client_refund_line=1)

    def test_invoice_then_its_card_sale_add_up_against_the_threshold(self):
        """The same in the other order: the haircut first, then the card."""
        invoice, card, haircut_line = self._card_and_haircut()
        first = self._haircut_refund(invoice, haircut_line)
        self.assertEqual(first.state, "done")
        booked = self._booked()
        second = self._cancel_card_sale(card)
        self.assertEqual(second.state, "to_approve")
        self.assertAlmostEqual(card.points, 900.0)
        self.assertTrue(card.active)
        self.assertNothingBooked(booked, client_refund=1, client_refund_line=1)

    # 7. store credit -------------------------------------------------------------

    def test_store_credit_entry_is_not_undone_then_paid_again(self):
        """Attack: after a refund onto the eWallet (115.00), the refund user
        resets and cancels its eWallet entry over JSON-RPC, then refunds the
        client's payment in cash: refused, the eWallet keeps 115.00 and the
        payment has nothing left."""
        invoice = self._sell([(self._create_product(name="Colour", type="service", lst_price=100.0), 100.0)])
        payment = invoice.line_ids.matched_credit_ids.credit_move_id.payment_id
        refund = self._refund_to_ewallet({"default_source_type": "invoice", "default_move_id": invoice.id})
        self.assertEqual(refund.state, "done")
        entry = refund.ewallet_move_id
        booked = self._booked()
        for method, args in (
            ("button_draft", ()),
            ("button_cancel", ()),
            ("write", ({"state": "cancel"},)),
        ):
            with self.subTest(method=method):
                with self.assertRpcRefused("UserError", pattern="belongs to refund"):
                    self._rpc(self.refund_user, "account.move", method, [entry.id], *args)
        with self.assertRpcRefused("UserError", pattern="belongs to refund"):
            self._rpc(self.refund_user, "account.move.line", "remove_move_reconcile", entry.line_ids.ids)
        with self.assertRpcRefused("UserError", pattern="must be positive|unused client credit"):
            self._wizard_over_rpc(
                self.refund_user,
                {"source_type": "payment", "payment_id": payment.id, "reason_id": self.reason.id,
                 "payout_method": "journal", "payout_journal_id": self.cash_journal.id},
            )
        self.assertEqual(entry.state, "posted")
        self.assertAlmostEqual(refund.ewallet_card_id.points, 115.0)
        self.assertNothingBooked(booked)

    # the rest of the family: a spent card given its balance back by hand -----

    def test_history_lines_made_by_hand_do_not_refund_a_spent_card(self):
        """Attack (found in review): a 100.00 deposit fully spent; the Point of
        Sale user adds a history line that uses -100 points, or one that names
        an order, and writes the points back: refused, nothing is refundable."""
        top_up = self.deposit_wallet.trigger_product_ids
        self._sell([(top_up, 100.0)])
        wallet = self._issue(self.deposit_wallet, 100.0)
        self._change_balance(wallet, 0.0, "Spent at the salon")
        booked = self._booked()
        history = len(wallet.history_ids)
        for pattern, vals in (
            ("never less than none", {"used": -100.0}),
            ("never less than none", {"issued": -5.0}),
            ("till records", {"issued": 100.0, "order_model": "pos.order", "order_id": 1}),
            ("till records", {"issued": 100.0, "order_model": "client.refund", "order_id": 1}),
        ):
            with self.subTest(vals=vals):
                with self.assertRpcRefused("UserError", pattern=pattern):
                    self._rpc(self.pos_front_desk, "loyalty.history", "create",
                              {"card_id": wallet.id, "description": "correction", **vals})
        self.assertEqual(len(wallet.history_ids), history)
        self._rpc(self.pos_front_desk, "loyalty.card", "write", wallet.ids, {"points": 100.0})
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 0.0)
        self.assertNothingBooked(booked, **{"loyalty.card points": 100.0})

    def test_card_history_is_written_once(self):
        """Attack: a Point of Sale user rewrites a history line of a card (its
        points used, its card): refused."""
        wallet = self._issue(self.deposit_wallet, 100.0)
        line = wallet.history_ids
        for vals in ({"issued": 500.0}, {"used": 0.0}, {"card_id": wallet.id}, {"order_id": 1}):
            with self.subTest(vals=vals):
                with self.assertRpcRefused("UserError", pattern="written once"):
                    self._rpc(self.pos_front_desk, "loyalty.history", "write", line.ids, vals)
        self.assertAlmostEqual(line.issued, 100.0)



@tagged("post_install", "-at_install")
class TestCoreWritePathsPos(TrustBoundaryMixin, LoyaltyRefundMixin, TestPoSCommon, HttpCase):
    """Cards and points of orders paid at the till, attacked by a front desk
    with Point of Sale rights."""

    @classmethod
    def default_env_context(cls):
        return {}

    def setUp(self):
        super().setUp()
        self.config = self.basic_config
        self.reason = self.env.ref("client_refund.reason_client_request")
        self.front_desk = new_test_user(
            self.env,
            login="tb_pos_desk",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "point_of_sale.group_pos_user,account.group_account_invoice",
            company_id=self.company.id,
        )
        self.haircut = self.create_product("Haircut", self.categ_basic, 107.0)
        self.gift_card_product = self.create_product("Gift Card", self.categ_basic, 50.0)
        (self.haircut | self.gift_card_product).write({"is_storable": False, "type": "service"})
        self.gift_cards = self._program("Gift Cards", "gift_card", self.gift_card_product)
        self.gift_cards.write(
            {
                "mail_template_id": self.env.ref("loyalty.mail_template_gift_card").id,
                "pos_report_print_id": self.env.ref("loyalty.report_gift_card").id,
            }
        )
        self.open_new_session()

    def _refund_at_the_till(self, order):
        """The front desk refunds what is left of `order` at the till, over JSON-RPC."""
        return self._wizard_over_rpc(
            self.front_desk,
            {"source_type": "pos_order", "pos_order_id": order.id, "reason_id": self.reason.id,
             "payout_method": "pos", "pos_config_id": self.config.id},
        )

    # 5. a free card tied to another client's sale ---------------------------

    def test_free_card_tied_to_a_sale_gets_nothing_of_it(self):
        """Attack: a gift card given for free is tied, over JSON-RPC, to a paid
        order that sold another card (its order written; a history line naming
        the order is refused), then paid out as a refund expense: refused; the
        card the order sold stays refundable; the order that sold it cannot be
        taken from it."""
        order = self._order([(self.gift_card_product, 1)])
        sold = self._confirm_cards(order, self.gift_cards, 50.0)
        # stands for the minutes between the sale and the attack
        sold.sudo().client_refund_tied_on = fields.Datetime.now() - timedelta(minutes=5)
        free = self._issue(self.gift_cards, 50.0, partner=self.customer)
        booked = self._booked()
        self._rpc(self.front_desk, "loyalty.card", "write", free.ids, {"source_pos_order_id": order.id})
        with self.assertRpcRefused("UserError", pattern="till records"):
            self._rpc(self.front_desk, "loyalty.history", "create", {
                "card_id": free.id, "order_model": "pos.order", "order_id": order.id,
                "issued": 50.0, "description": "sold",
            })
        # writing the same order on the sold card again, a minute later, does
        # not move it behind the free card
        free.sudo().client_refund_tied_on = fields.Datetime.now() - timedelta(minutes=1)
        self._rpc(self.front_desk, "loyalty.card", "write", sold.ids, {"source_pos_order_id": order.id})
        self.assertEqual(free._client_refund_get_sales(), [])
        with self.assertRpcRefused("UserError", pattern="No sale of"):
            self._wizard_over_rpc(
                self.front_desk,
                {"card_id": free.id, "reason_id": self.reason.id, "refund_option": "expense",
                 "amount": 50.0, "payout_journal_id": self.cash_pm1.journal_id.id},
                model="client.refund.balance.wizard",
            )
        # the sold card keeps its sale, which nobody moves to another order
        self.assertEqual([sale["line"] for sale in sold._client_refund_get_sales()], [order.lines])
        other = self._order([(self.haircut, 1)])
        for vals in ({"source_pos_order_id": other.id}, {"program_id": self._program(
                "Other", "gift_card", self.haircut).id}, {"client_refund_tied_on": fields.Datetime.to_string(fields.Datetime.now())}):
            with self.subTest(vals=list(vals)):
                with self.assertRpcRefused("UserError", pattern="recorded when it is sold"):
                    self._rpc(self.front_desk, "loyalty.card", "write", sold.ids, vals)
        self.assertAlmostEqual(sold._client_refund_get_refundable_amount(), 50.0)
        self.assertNothingBooked(booked)

    def test_paid_order_and_its_loyalty_history_are_not_rewritten(self):
        """Attack (found in review): after an order was refunded at the till
        through the register, the Point of Sale user unlinks the refund
        order's lines from the sale, rewrites a payment of the paid order, or
        records points again for an order the till recorded already: refused,
        and the order has nothing left to refund."""
        order = self._order([(self.haircut, 1)])
        points_program = self._program("Salon points", "loyalty", self.haircut)
        card = self._confirm_cards(order, points_program, 107.0)
        refund = self._refund_at_the_till(order)
        self.assertEqual(refund.state, "done")
        booked = self._booked()
        paid = "is paid: what it sold and how it was paid are not changed"
        attacks = [
            (paid, "pos.order.line", "write", refund.pos_order_ids.lines.ids,
             {"refunded_orderline_id": False}),
            (paid, "pos.order.line", "write", order.lines.ids, {"qty": 5.0}),
            (paid, "pos.payment", "write", order.payment_ids.ids, {"amount": 500.0}),
            (paid, "pos.payment", "unlink", refund.pos_order_ids.payment_ids.ids),
            ("is recorded once, by its till", "pos.order", "add_loyalty_history_lines", order.ids,
             [{"card_id": str(card.id), "won": 100.0, "spent": 0}], []),
        ]
        for pattern, model, method, *args in attacks:
            with self.subTest(model=model, method=method):
                with self.assertRpcRefused("UserError", pattern=pattern):
                    self._rpc(self.front_desk, model, method, *args)
        self.assertEqual(refund.pos_order_ids.lines.refunded_orderline_id, order.lines)
        self.assertEqual(order._client_refund_get_refundable_amount(), 0.0)
        self.assertNothingBooked(booked)

    def test_draft_order_naming_a_sold_line_does_not_reopen_it(self):
        """Attack (found in the second review): after a paid order was refunded
        at the till, the Point of Sale user creates a draft order whose line
        names the sold line as the one it refunds, with a positive quantity (or
        a positive amount and no quantity), then refunds the order onto the
        eWallet: refused, or harmless; the order has nothing left."""
        order = self._order([(self.haircut, 1)])
        refund = self._refund_at_the_till(order)
        self.assertEqual(refund.state, "done")
        booked = self._booked()
        line = order.lines

        def fake_order(qty):
            return self._rpc(self.front_desk, "pos.order", "create", {
                "session_id": self.config.current_session_id.id, "partner_id": self.customer.id,
                "amount_tax": 0.0, "amount_total": 0.0, "amount_paid": 0.0, "amount_return": 0.0,
                "lines": [Command.create({
                    "product_id": self.haircut.id, "qty": qty, "price_unit": line.price_unit,
                    "price_subtotal": line.price_subtotal,
                    "price_subtotal_incl": line.price_subtotal_incl,
                    "refunded_orderline_id": line.id,
                })],
            })

        with self.assertRpcRefused("UserError", pattern="quantity is negative"):
            fake_order(1.0)
        fake_order(0.0)
        self.assertEqual(order._client_refund_get_refundable_amount(), 0.0)
        with self.assertRpcRefused("UserError", pattern="refunded in full already"):
            self._refund_at_the_till(order)
        self.assertNothingBooked(booked)

    def test_spent_card_topped_up_by_hand_pays_nothing_out(self):
        """Attack: a 100.00 eWallet top-up sold at the till and fully spent; the
        front desk gives the points back with core's Update Balance (open to
        Point of Sale users), then pays the eWallet out as a refund expense:
        refused, nothing was left paid (the sale is the till's order line, so
        only what was spent stands between the card and a payout)."""
        top_up = self.create_product("Top-up", self.categ_basic, 100.0)
        top_up.write({"is_storable": False, "type": "service"})
        ewallet = self._program("eWallet", "ewallet", top_up)
        order = self._order([(top_up, 1)])
        wallet = self._confirm_cards(order, ewallet, 100.0)
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 100.0)
        self._change_balance(wallet, 0.0, "Spent at the salon")
        self._change_balance(wallet, 100.0, "Given back by hand")
        self.assertAlmostEqual(wallet._client_refund_get_balance_value(), 100.0)
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 0.0)
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern="nothing left to refund"):
            self._wizard_over_rpc(
                self.front_desk,
                {"card_id": wallet.id, "reason_id": self.reason.id, "refund_option": "expense",
                 "amount": 100.0, "payout_journal_id": self.cash_pm1.journal_id.id},
                model="client.refund.balance.wizard",
            )
        self.assertNothingBooked(booked)

    # 6. points written by hand ------------------------------------------------

    def test_points_written_after_the_sale_do_not_skip_the_deduction(self):
        """Attack: an order earned 107 points, 100 of them spent; the front desk
        writes the card's points back to 107 (over JSON-RPC), or adds 100 with
        core's Update Balance, then refunds the order in full: 7 points come
        back, 100 are a shortfall, and their value is kept from the money."""
        self.company.client_refund_deduct_points = True
        for attack in ("write", "update balance"):
            with self.subTest(attack=attack):
                points_program = self._program(f"Salon points ({attack})", "loyalty", self.haircut)
                order = self._order([(self.haircut, 1)])
                card = self._confirm_cards(order, points_program, 107.0)
                self._change_balance(card, 7.0, "Spent on a reward")
                if attack == "write":
                    self._rpc(self.front_desk, "loyalty.card", "write", card.ids, {"points": 107.0})
                else:
                    wizard_id = self._rpc(
                        self.front_desk, "loyalty.card.update.balance", "create",
                        {"card_id": card.id, "new_balance": 107.0, "description": "gift"},
                    )
                    self._rpc(self.front_desk, "loyalty.card.update.balance",
                              "action_update_card_point", [wizard_id])
                self.assertAlmostEqual(card.points, 107.0)
                refund = self._refund_at_the_till(order)
                self.assertEqual(refund.state, "done")
                self.assertAlmostEqual(refund.points_shortfall, 100.0)
                self.assertAlmostEqual(refund.amount_paid_back, 7.0)
                taken = card.history_ids.filtered(
                    lambda line, refund=refund: line.order_id in refund.pos_order_ids.ids
                )
                self.assertAlmostEqual(taken.used, 7.0)
