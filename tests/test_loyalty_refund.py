from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from odoo.addons.point_of_sale.tests.common import TestPoSCommon

from .common import ClientRefundCommon, LoyaltyRefundMixin


@tagged("post_install", "-at_install")
class TestLoyaltyRefund(LoyaltyRefundMixin, ClientRefundCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_cash_and_deposits()
        cls.revenue = cls.company_data["default_account_revenue"]
        cls.refund_account = cls.company.client_refund_account_id
        cls.gift_card_product = cls._create_product(
            name="Gift Card", type="service", lst_price=50.0, taxes_id=[Command.clear()]
        )
        cls.top_up = cls._create_product(
            name="Top-up", type="service", lst_price=100.0, taxes_id=[Command.clear()]
        )
        cls.deposit_top_up = cls._create_product(
            name="Deposit", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        # 10 yoga classes, 200 + 15% tax
        cls.pack_product = cls._create_product(name="10 Yoga Classes", type="service", lst_price=200.0)
        cls.haircut = cls._create_product(name="Haircut", type="service", lst_price=100.0)
        cls.gift_cards = cls._program("Gift Cards", "gift_card", cls.gift_card_product)
        cls.ewallet = cls._program("eWallet", "ewallet", cls.top_up)
        cls.deposit_wallet = cls._program("Deposits", "ewallet", cls.deposit_top_up)
        cls.yoga_pack = cls._program(
            "Yoga pack", "loyalty", cls.pack_product, visit_pack=True, points=10.0
        )

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _written(self):
        """Everything a refund writes, to check that a refused one wrote nothing."""
        return (
            self.env["account.move"].search_count([]),
            self.env["account.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
            self.env["loyalty.history"].search_count([]),
            self.env["loyalty.card"].search_count([]),
        )

    def _assert_refused(self, pattern, card, **values):
        written = self._written()
        points = card.points
        with self.assertRefused(pattern):
            self._refund(card, user=self.refund_user, **values)
        self.assertEqual(self._written(), written)
        self.assertEqual(card.points, points)

    def _assert_paid_out_on(self, refund, account, amount):
        """An outbound client payment dated today, out of cash, booked on `account`."""
        payment = refund.payment_ids
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.payment_type, "outbound")
        self.assertEqual(payment.partner_type, "customer")
        self.assertEqual(payment.partner_id, self.client)
        self.assertEqual(payment.date, fields.Date.today())
        self.assertEqual(payment.journal_id, self.cash_journal)
        self.assertIn(refund.name, payment.memo)
        self.assertIn(refund.reason_id.name, payment.memo)
        self.assertAlmostEqual(payment.amount, amount)
        debit = payment.move_id.line_ids.filtered(lambda line: line.debit)
        credit = payment.move_id.line_ids.filtered(lambda line: line.credit)
        self.assertEqual(debit.account_id, account)
        self.assertAlmostEqual(debit.debit, amount)
        self.assertEqual(credit.account_id, payment.outstanding_account_id)
        self.assertAlmostEqual(credit.credit, amount)
        self.assertEqual(refund.payout_method, "refund_account")
        self.assertAlmostEqual(refund.amount_paid_back, amount)
        self.assertFalse(refund.credit_note_ids)

    # ------------------------------------------------------------------
    # gift cards
    # ------------------------------------------------------------------

    def test_gift_card_cancel_the_sale(self):
        invoice = self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        cash_before = self._cash()
        wizard = self._wizard(card, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        self.assertEqual(wizard.partner_id, self.client)
        self.assertEqual(wizard.payout_method, "journal")
        self.assertAlmostEqual(wizard.amount, 50.0)
        self.assertAlmostEqual(wizard.amount_refundable, 50.0)
        self.assertEqual(wizard.sale_date, fields.Date.today())
        self.assertFalse(wizard.sale_warning, "sold today: no till to warn about")
        self.assertFalse(wizard.cancel_blocker)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=50.0)
        self.assertEqual((refund.source_type, refund.scope), ("gift_card", "full"))
        self.assertAlmostEqual(refund.amount, 50.0)
        self.assertEqual(refund.line_ids.move_line_id, invoice.invoice_line_ids)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertEqual(credit_note.state, "posted")
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertEqual(self._account_balance(self.revenue), 0.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        # closed: the Point of Sale and the card lists no longer find it
        self.assertFalse(self.env["loyalty.card"].search([("code", "=", card.code)]))
        with self.assertRefused("is closed"):
            card.action_client_refund()

    def test_gift_card_cancel_the_sale_of_another_day_warns_about_the_tills(self):
        self._sell([(self.gift_card_product, 50.0)], invoice_date=fields.Date.today() - timedelta(days=3))
        card = self._issue(self.gift_cards, 50.0)
        wizard = self._wizard(card, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        self.assertIn("over by", wizard.sale_warning)
        self.assertIn("short", wizard.sale_warning)
        wizard.refund_option = "expense"
        self.assertFalse(wizard.sale_warning)

    def test_gift_card_refund_expense(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        revenue_before = self._account_balance(self.revenue)
        cash_before = self._cash()
        refund = self._refund(card, user=self.refund_user, refund_option="expense")

        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=50.0)
        self.assertEqual(refund.scope, "full")
        self._assert_paid_out_on(refund, self.refund_account, 50.0)
        self.assertEqual(self._account_balance(self.refund_account), 50.0)
        self.assertEqual(self._account_balance(self.revenue), revenue_before, "the sale stands")
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        self.assertFalse(refund.line_ids)

    def test_gift_card_partial_refund(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        self._change_balance(card, 30.0)
        wizard = self._wizard(card, user=self.refund_user)
        # used: its sale cannot be cancelled, the partial refund is offered
        self.assertEqual(wizard.refund_option, "expense")
        self.assertIn("has been used", wizard.cancel_blocker)
        self.assertAlmostEqual(wizard.amount, 30.0)
        wizard.amount = 25.0
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=30.0)
        self.assertEqual(refund.scope, "partial")
        self.assertAlmostEqual(refund.amount, 25.0)
        self._assert_paid_out_on(refund, self.refund_account, 25.0)

    # ------------------------------------------------------------------
    # eWallet
    # ------------------------------------------------------------------

    def test_ewallet_cancel_the_top_up(self):
        self._sell([(self.top_up, 50.0)], invoice_date=fields.Date.today() - timedelta(days=10))
        wallet = self._issue(self.ewallet, 50.0)
        invoice = self._sell([(self.top_up, 100.0)])
        self._change_balance(wallet, 150.0, "Top-up")
        cash_before = self._cash()
        wizard = self._wizard(wallet, user=self.refund_user)
        # topped up twice: what is proposed is the cash-out of the whole balance
        self.assertEqual(wizard.refund_option, "expense")
        self.assertAlmostEqual(wizard.amount, 150.0)
        self.assertIn("cancel_sale", wizard.option_choices)
        wizard.refund_option = "cancel_sale"
        self.assertAlmostEqual(wizard.amount, 100.0, msg="the last top-up")
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, wallet, 50.0, closed=False, points_taken=100.0)
        self.assertEqual((refund.source_type, refund.scope), ("ewallet", "full"))
        self.assertEqual(refund.credit_note_ids.reversed_entry_id, invoice)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(refund.amount_paid_back, 100.0)
        self.assertAlmostEqual(self._cash() - cash_before, -100.0)
        self.assertEqual(self._account_balance(self.revenue), -50.0, "the first top-up stands")

    def test_ewallet_partial_refund(self):
        self._sell([(self.top_up, 100.0)])
        wallet = self._issue(self.ewallet, 100.0)
        cash_before = self._cash()
        refund = self._refund(wallet, user=self.refund_user, refund_option="expense", amount=40.0)

        self._assert_balance_refunded(refund, wallet, 60.0, closed=False, points_taken=40.0)
        self.assertEqual(refund.scope, "partial")
        self._assert_paid_out_on(refund, self.refund_account, 40.0)
        self.assertAlmostEqual(self._cash() - cash_before, -40.0)
        # profit and loss: the 40 paid out nets out 40 of the top-up, the rest
        # stays what the wallet still holds
        self.assertAlmostEqual(
            self._account_balance(self.revenue) + self._account_balance(self.refund_account),
            -60.0,
        )

    def test_ewallet_sold_on_a_liability_is_paid_back_out_of_it(self):
        self._sell([(self.deposit_top_up, 100.0)])
        wallet = self._issue(self.deposit_wallet, 100.0)
        self.assertEqual(self._account_balance(self.deposits), -100.0)
        refund = self._refund(wallet, user=self.refund_user, refund_option="expense", amount=40.0)

        self._assert_paid_out_on(refund, self.deposits, 40.0)
        self.assertEqual(self._account_balance(self.deposits), -60.0)
        self.assertEqual(self._account_balance(self.refund_account), 0.0)
        self.assertEqual(self._account_balance(self.revenue), 0.0, "no effect on profit and loss")
        self.assertAlmostEqual(wallet.points, 60.0)

    def test_gift_card_sold_on_a_liability_closed_by_a_partial_refund(self):
        product = self._create_product(
            name="Gift Card (deposit)", type="service", lst_price=50.0,
            taxes_id=[Command.clear()], property_account_income_id=self.deposits.id,
        )
        program = self._program("Deposit gift cards", "gift_card", product)
        breakage = product.categ_id.property_account_income_categ_id
        self.assertTrue(breakage)
        self.assertNotEqual(breakage, self.deposits)
        self._sell([(product, 50.0)])
        card = self._issue(program, 50.0)
        self._change_balance(card, 30.0)
        breakage_before = self._account_balance(breakage)
        cash_before = self._cash()
        refund = self._refund(card, user=self.refund_user, refund_option="expense", amount=25.0)

        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=30.0)
        self._assert_paid_out_on(refund, self.deposits, 25.0)
        self.assertAlmostEqual(self._cash() - cash_before, -25.0)
        # the card is closed: nothing of it is owed any more; what was not paid
        # back is released to income
        self.assertEqual(self._account_balance(self.deposits), 0.0)
        self.assertAlmostEqual(self._account_balance(breakage) - breakage_before, -25.0)
        release = self.env["account.move.line"].search(
            [("account_id", "=", breakage.id), ("move_id.ref", "ilike", refund.name)]
        ).move_id
        self.assertEqual(release.state, "posted")
        self.assertEqual(release.date, fields.Date.today())
        self.assertEqual(release.line_ids.partner_id, self.client)
        self.assertTrue(any(release.name in (m.body or "") for m in refund.message_ids))
        # a card sold on an income account releases nothing
        self._sell([(self.gift_card_product, 50.0)])
        other = self._issue(self.gift_cards, 50.0)
        moves = self.env["account.move"].search_count([])
        self._refund(other, user=self.refund_user, refund_option="expense", amount=20.0)
        self.assertEqual(self.env["account.move"].search_count([]), moves + 1, "the payment only")

    # ------------------------------------------------------------------
    # visit packs
    # ------------------------------------------------------------------

    def test_visit_pack_cancel_the_sale(self):
        invoice = self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        wizard = self._wizard(pack, user=self.refund_user)
        self.assertEqual(wizard.source_type, "visit_pack")
        self.assertEqual(wizard.refund_option, "cancel_sale")
        self.assertAlmostEqual(wizard.amount, 230.0)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=10.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(refund.amount_paid_back, 230.0)
        self.assertEqual(self._account_balance(self.revenue), 0.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_visit_pack_partial_refund_by_credit_note(self):
        invoice = self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._change_balance(pack, 6.0, "4 classes")
        cash_before = self._cash()
        wizard = self._wizard(pack, user=self.refund_user)
        self.assertIn("has been used", wizard.cancel_blocker)
        self.assertEqual(wizard.refund_option, "credit_note", "the default")
        # price paid × unused visits / visits bought
        self.assertAlmostEqual(wizard.amount_suggested, 138.0)
        self.assertAlmostEqual(wizard.amount, 138.0)
        wizard.amount = 115.0
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=6.0)
        self.assertEqual(refund.scope, "partial")
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        self.assertAlmostEqual(credit_note.amount_total, 115.0)
        self.assertAlmostEqual(credit_note.amount_untaxed, 100.0)
        self.assertEqual(invoice.payment_state, "paid", "the rest stays paid")
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertAlmostEqual(self._cash() - cash_before, -115.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertEqual(self._account_balance(self.revenue), -100.0)

    def test_visit_pack_partial_refund_paid_out_on_the_refund_account(self):
        self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._change_balance(pack, 6.0, "4 classes")
        refund = self._refund(pack, user=self.refund_user, refund_option="expense")

        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=6.0)
        self._assert_paid_out_on(refund, self.refund_account, 138.0)
        self.assertEqual(self._account_balance(self.revenue), -200.0, "the sale stands")

    # ------------------------------------------------------------------
    # from the client, approval
    # ------------------------------------------------------------------

    def test_refund_from_the_client(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        client = self.client.with_user(self.refund_user)
        self.assertIn(card, client.client_refund_card_ids)
        action = client.client_refund_card_ids.filtered(lambda c: c == card).action_client_refund()
        self.assertEqual(action["res_model"], "client.refund.balance.wizard")
        self.assertEqual(action["context"]["default_card_id"], card.id)
        refund = self._refund(card, user=self.refund_user, refund_option="expense")
        self.assertEqual(self.client.client_refund_count, 1)
        self.assertNotIn(card, client.client_refund_card_ids, "closed")
        self.assertEqual(card.with_user(self.refund_user).client_refund_ids, refund)

    def test_above_the_threshold_waits_for_a_manager(self):
        self.company.client_refund_approval_threshold = 20.0
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        refund = self._refund(card, user=self.refund_user, refund_option="expense")
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(card.points, 50.0)
        self.assertFalse(refund.payment_ids)
        refund.with_user(self.refund_manager).action_approve()
        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=50.0)

    # ------------------------------------------------------------------
    # bad input: a clear error, nothing written
    # ------------------------------------------------------------------

    def test_bad_input_amount_above_the_balance_or_what_was_paid(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        self._assert_refused(
            "Only .*50.00.* left to refund, not .*50.01", card, refund_option="expense", amount=50.01
        )
        self._assert_refused("must be positive", card, refund_option="expense", amount=0.0)
        self._assert_refused("must be positive", card, refund_option="expense", amount=-5.0)
        self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._assert_refused(
            "Only .*230.00.* left to refund, not .*230.01",
            pack,
            refund_option="credit_note",
            amount=230.01,
        )

    def test_bad_input_program_without_the_flag(self):
        card = self._issue(self.gift_cards, 50.0)
        self.gift_cards.client_refund_allow_balance = False
        with self.assertRefused("Refunds May Change Balances"):
            card.with_user(self.refund_user).action_client_refund()
        self._assert_refused("Refunds May Change Balances", card, refund_option="expense")

    def test_bad_input_expired_or_closed_card(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        card.expiration_date = fields.Date.today() - timedelta(days=1)
        self._assert_refused("expired on", card, refund_option="expense")
        card.expiration_date = fields.Date.today()
        self._refund(card, user=self.refund_user, refund_option="expense")
        self._assert_refused("is closed", card, refund_option="expense")

    def test_bad_input_cancel_the_sale_of_a_used_card(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        self._change_balance(card, 49.0)
        self._assert_refused("has been used: its sale cannot be cancelled", card, refund_option="cancel_sale")
        self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._change_balance(pack, 9.0)
        self._assert_refused("has been used", pack, refund_option="cancel_sale")
        self._sell([(self.top_up, 100.0)])
        wallet = self._issue(self.ewallet, 100.0)
        self._change_balance(wallet, 99.0)
        self._assert_refused("less than the top-up", wallet, refund_option="cancel_sale")

    def test_bad_input_card_of_another_company(self):
        program = self._program("Other gift cards", "gift_card", self.gift_card_product)
        program.company_id = self.company_2
        card = self._issue(program, 50.0)
        written = self._written()
        with self.assertRefused("Incompatible companies"):
            self.env["client.refund.balance.wizard"].create(
                {
                    "card_id": card.id,
                    "refund_option": "expense",
                    "payout_journal_id": self.cash_journal.id,
                    "reason_id": self.reason.id,
                }
            ).action_confirm()
        refund = self.env["client.refund"].new(
            {
                "company_id": self.company.id,
                "source_type": "gift_card",
                "source_card_id": card.id,
                "amount": 50.0,
                "payout_method": "refund_account",
                "payout_journal_id": self.cash_journal.id,
                "reason_id": self.reason.id,
            }
        )
        with self.assertRefused("belongs to .*, not to"):
            card._client_refund_check_request(refund)
        self.assertEqual(self._written(), written)
        # nor can a user of the other company see it
        with self.assertRaises(AccessError):
            self.env["client.refund.balance.wizard"].with_user(self.company_2_user).create(
                {"card_id": self._issue(self.gift_cards, 10.0).id, "reason_id": self.reason.id}
            )

    def test_bad_input_credit_note_or_cancel_where_it_does_not_apply(self):
        self._sell([(self.gift_card_product, 50.0)])
        card = self._issue(self.gift_cards, 50.0)
        self._assert_refused(
            "only visit packs are credited", card, refund_option="credit_note", amount=10.0
        )
        # a pack sold with other things: part of it cannot be credited alone
        self._sell([(self.pack_product, 200.0), (self.haircut, 100.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._assert_refused("also bills other things", pack, refund_option="credit_note")
        # no sale known: nothing to cancel, the expense is offered
        gift = self._issue(self.gift_cards, 20.0, partner=self.env["res.partner"].create({"name": "Bob"}))
        wizard = self._wizard(gift, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "expense")
        self.assertIn("No sale of", wizard.cancel_blocker)
        self._assert_refused("No sale of", gift, refund_option="cancel_sale")

    def test_two_gift_cards_are_each_refunded_from_their_own_sale(self):
        small_invoice = self._sell([(self.gift_card_product, 50.0)])
        small = self._issue(self.gift_cards, 50.0)
        big_invoice = self._sell([(self.gift_card_product, 100.0)])
        big = self._issue(self.gift_cards, 100.0)
        cash_before = self._cash()
        wizard = self._wizard(small, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        self.assertAlmostEqual(wizard.amount, 50.0)
        self.assertAlmostEqual(wizard.amount_refundable, 50.0)
        self.assertIn(small_invoice.name, wizard.sale_description)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, small, 0.0, closed=True, points_taken=50.0)
        self.assertEqual(refund.credit_note_ids.reversed_entry_id, small_invoice)
        self.assertEqual(small_invoice.payment_state, "reversed")
        self.assertEqual(big_invoice.payment_state, "paid", "the other card's sale stands")
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        # the other card is still sold by its own invoice
        wizard = self._wizard(big, user=self.refund_user)
        self.assertIn(big_invoice.name, wizard.sale_description)
        self.assertAlmostEqual(wizard.amount, 100.0)

    def test_two_visit_packs_of_the_same_price_each_have_their_sale(self):
        first_invoice = self._sell([(self.pack_product, 200.0)])
        first = self._issue(self.yoga_pack, 10.0)
        second_invoice = self._sell([(self.pack_product, 200.0)])
        second = self._issue(self.yoga_pack, 10.0)
        self._change_balance(first, 6.0, "4 classes")
        wizard = self._wizard(first, user=self.refund_user)
        self.assertAlmostEqual(wizard.amount_refundable, 230.0, msg="its own sale only")
        self.assertAlmostEqual(wizard.amount_suggested, 138.0)
        self.assertIn(first_invoice.name, wizard.sale_description)
        self.assertIn(second_invoice.name, self._wizard(second, user=self.refund_user).sale_description)

    def test_bad_input_visit_pack_paid_out_twice_from_one_sale(self):
        self._sell([(self.pack_product, 200.0)])
        first = self._issue(self.yoga_pack, 10.0)
        self._sell([(self.pack_product, 200.0)])
        second = self._issue(self.yoga_pack, 10.0)
        self._assert_refused(
            "Only .*230.00.* left to refund, not .*460.00", first, refund_option="expense", amount=460.0
        )
        cash_before = self._cash()
        self._refund(first, user=self.refund_user, refund_option="expense", amount=230.0)
        self._assert_refused(
            "Only .*230.00.* left to refund, not .*460.00", second, refund_option="expense", amount=460.0
        )
        refund = self._refund(second, user=self.refund_user, refund_option="expense", amount=230.0)
        self._assert_balance_refunded(refund, second, 0.0, closed=True, points_taken=10.0)
        self.assertAlmostEqual(self._cash() - cash_before, -460.0, msg="each pack its own price")

    def test_bad_input_card_given_for_free_is_not_paid_out(self):
        # an old card, sold and used up, and a card given for free
        self._sell([(self.gift_card_product, 100.0)])
        old = self._issue(self.gift_cards, 100.0)
        self._change_balance(old, 0.0)
        free = self._issue(self.gift_cards, 20.0)
        wizard = self._wizard(free, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "expense")
        self.assertIn("No sale of", wizard.cancel_blocker)
        self.assertAlmostEqual(wizard.amount_refundable, 0.0)
        cash_before = self._cash()
        self._assert_refused("No sale of .* given for free", free, refund_option="cancel_sale")
        self._assert_refused("No sale of .* given for free", free, refund_option="expense", amount=20.0)
        self.assertAlmostEqual(self._cash(), cash_before)
        # a free card beside a sold one of the same value: which one was sold
        # cannot be told, neither is paid out
        self._sell([(self.gift_card_product, 50.0)])
        sold = self._issue(self.gift_cards, 50.0)
        gift = self._issue(self.gift_cards, 50.0)
        cash_before = self._cash()
        self._assert_refused("No sale of", sold, refund_option="expense", amount=50.0)
        self._assert_refused("No sale of", gift, refund_option="expense", amount=50.0)
        self.assertAlmostEqual(self._cash(), cash_before)

    def test_bad_input_ewallet_paid_out_above_its_paid_top_ups(self):
        self._sell([(self.top_up, 100.0)])
        wallet = self._issue(self.ewallet, 100.0)
        self._change_balance(wallet, 150.0, "Goodwill")  # 50 given, not sold
        cash_before = self._cash()
        self.assertAlmostEqual(self._wizard(wallet, user=self.refund_user).amount_refundable, 100.0)
        self._assert_refused(
            "Only .*100.00.* left to refund, not .*120.00", wallet, refund_option="expense", amount=120.0
        )
        refund = self._refund(wallet, user=self.refund_user, refund_option="expense", amount=60.0)
        self._assert_balance_refunded(refund, wallet, 90.0, closed=False, points_taken=60.0)
        self._assert_refused(
            "Only .*40.00.* left to refund, not .*40.01", wallet, refund_option="expense", amount=40.01
        )
        self._refund(wallet, user=self.refund_user, refund_option="expense", amount=40.0)
        self.assertAlmostEqual(wallet.points, 50.0, msg="the goodwill stays on the wallet")
        self._assert_refused("nothing left to refund", wallet, refund_option="expense", amount=10.0)
        self.assertAlmostEqual(self._cash() - cash_before, -100.0)

    def test_bad_input_points_written_on_a_spent_ewallet(self):
        """Points are a field Point of Sale users may write: a spent eWallet whose
        points are written back by hand is not paid out."""
        self._sell([(self.top_up, 100.0)])
        wallet = self._issue(self.ewallet, 100.0)
        self._change_balance(wallet, 0.0, "Spent at the shop")
        wallet.write({"points": 100.0})  # a plain write: no history says so
        cash_before = self._cash()
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 0.0)
        self._assert_refused("nothing left to refund", wallet, refund_option="expense", amount=100.0)
        self.assertAlmostEqual(self._cash(), cash_before)

    def test_bad_input_card_sold_on_an_unpaid_invoice_is_not_paid_out(self):
        invoice = self._sell([(self.gift_card_product, 50.0)], pay=False)
        card = self._issue(self.gift_cards, 50.0)
        cash_before = self._cash()
        self._assert_refused("is not paid in full", card, refund_option="expense", amount=50.0)
        # its sale can be cancelled: the credit note settles the invoice, no cash
        refund = self._refund(card, user=self.refund_user, refund_option="cancel_sale")
        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=50.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(self._cash(), cash_before)

    def test_bad_input_card_sold_by_another_company(self):
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.client,
            invoice_date=fields.Date.today(),
            products=[self.gift_card_product],
            company=self.company_2,
            post=False,
        )
        invoice.invoice_line_ids.write({"price_unit": 50.0, "tax_ids": [Command.clear()]})
        invoice.action_post()
        card = self._issue(self.gift_cards, 50.0)
        self.assertEqual(card.company_id, self.company)
        self.assertIn("No sale of", self._wizard(card, user=self.refund_user).cancel_blocker)
        self._assert_refused("No sale of", card, refund_option="cancel_sale")
        self.assertFalse(invoice.reversal_move_ids)
        self.assertEqual(invoice.payment_state, "not_paid")

    def test_bad_input_not_a_refundable_card(self):
        loyalty = self._program("Points", "loyalty", self.haircut)
        card = self._issue(loyalty, 30.0)
        with self.assertRefused("neither a gift card, an eWallet nor a visit pack"):
            card.with_user(self.refund_user).action_client_refund()
        with self.assertRaises(AccessError):
            self.env["client.refund.balance.wizard"].with_user(self.internal_user).create(
                {"card_id": card.id, "reason_id": self.reason.id}
            )

    def test_bad_input_a_visit_pack_cannot_be_a_gift_card(self):
        with self.assertRefused("cannot be a visit pack"):
            self.gift_cards.client_refund_is_visit_pack = True


@tagged("post_install", "-at_install")
class TestLoyaltyPosRefund(LoyaltyRefundMixin, TestPoSCommon):
    """Cards sold at the till: their sale is reversed through a till."""

    @classmethod
    def default_env_context(cls):
        # the chatter is part of the outcome
        return {}

    def setUp(self):
        super().setUp()
        self.config = self.basic_config
        self.reason = self.env.ref("client_refund.reason_client_request")
        self.haircut = self.create_product(
            "Haircut", self.categ_basic, 100.0, tax_ids=self.taxes["tax7"].ids
        )
        self.gift_card_product = self.create_product("Gift Card", self.categ_basic, 50.0)
        self.top_up = self.create_product("Top-up", self.categ_basic, 50.0)
        # 200 + 7% tax
        self.pack_product = self.create_product(
            "10 Yoga Classes", self.categ_basic, 200.0, tax_ids=self.taxes["tax7"].ids
        )
        (self.haircut | self.gift_card_product | self.top_up | self.pack_product).write(
            {"is_storable": False, "type": "service"}
        )
        self.gift_cards = self._program("Gift Cards", "gift_card", self.gift_card_product)
        # what the till needs to sell gift cards
        self.gift_cards.write(
            {
                "mail_template_id": self.env.ref("loyalty.mail_template_gift_card").id,
                "pos_report_print_id": self.env.ref("loyalty.report_gift_card").id,
            }
        )
        self.ewallet = self._program("eWallet", "ewallet", self.top_up)
        self.yoga_pack = self._program(
            "Yoga pack", "loyalty", self.pack_product, visit_pack=True, points=10.0
        )
        self.open_new_session()

    def _written(self):
        return (
            self.env["pos.order"].search_count([]),
            self.env["pos.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
            self.env["loyalty.history"].search_count([]),
            self.env["account.move"].search_count([]),
        )

    def test_gift_card_sold_at_the_till_cancelled_at_the_till(self):
        order = self._order([(self.gift_card_product, 1), (self.haircut, 1)])
        card = self._confirm_cards(order, self.gift_cards, 50.0)
        self.assertFalse(card.partner_id, "an anonymous gift card")
        gift_line = order.lines.filtered(lambda line: line.product_id == self.gift_card_product)
        wizard = self._wizard(card)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        self.assertEqual(wizard.partner_id, self.customer, "who bought it")
        self.assertEqual(wizard.payout_method, "pos")
        self.assertEqual(wizard.pos_config_id, self.config)
        self.assertAlmostEqual(wizard.amount, 50.0)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, card, 0.0, closed=True, points_taken=50.0)
        self.assertEqual((refund.scope, refund.payout_method), ("full", "pos"))
        self.assertEqual(refund.line_ids.pos_order_line_id, gift_line)
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.lines.refunded_orderline_id, gift_line)
        self.assertEqual(refund_order.session_id, self.pos_session)
        self.assertAlmostEqual(refund_order.amount_total, -50.0)
        self.assertAlmostEqual(refund_order.amount_paid, -50.0, msg="the card only, not the haircut")
        self.assertEqual(refund_order.payment_ids.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(refund.amount, 50.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertTrue(order.has_refundable_lines, "the haircut stays refundable")
        # the till closes balanced: 157 in, 50 out
        self._assert_session_closes_balanced(107.0)

    def _assert_session_closes_balanced(self, counted):
        """The session expects `counted` in the till, closes with no difference,
        and its entry balances."""
        session = self.pos_session
        session.invalidate_recordset()
        self.assertAlmostEqual(session.cash_register_balance_end, counted)
        session.post_closing_cash_details(counted)
        session.invalidate_recordset()
        session.close_session_from_ui()
        self.assertEqual(session.state, "closed")
        self.assertAlmostEqual(session.cash_register_difference, 0.0)
        move = session.move_id
        self.assertAlmostEqual(sum(move.line_ids.mapped("debit")), sum(move.line_ids.mapped("credit")))

    def test_bad_input_anonymous_gift_card_paid_to_someone_else(self):
        """A gift card without holder goes back to who bought it: not to another
        client's bank account."""
        order = self._order([(self.gift_card_product, 1)])
        card = self._confirm_cards(order, self.gift_cards, 50.0)
        self.assertFalse(card.partner_id)
        mallory = self.env["res.partner"].create({"name": "Mallory"})
        written = self._written()
        # as a hand-made RPC call sends it: the form shows the buyer, read-only
        wizard = self.env["client.refund.balance.wizard"].create(
            {
                "card_id": card.id,
                "refund_option": "expense",
                "amount": 50.0,
                "partner_id": mallory.id,
                "payout_journal_id": self.company_data["default_journal_bank"].id,
                "reason_id": self.reason.id,
            }
        )
        with self.assertRaisesRegex(UserError, "was paid by .*, not by Mallory"):
            wizard.action_confirm()
        self.assertEqual(self._written(), written)
        self.assertAlmostEqual(card.points, 50.0)

    def test_ewallet_top_up_at_the_till_cancelled_at_the_till(self):
        first = self._order([(self.top_up, 2)])
        wallet = self._confirm_cards(first, self.ewallet, 100.0)
        second = self._order([(self.top_up, 1)])
        self._confirm_cards(second, self.ewallet, 50.0, card=wallet)
        self.assertAlmostEqual(wallet.points, 150.0)
        # topped up twice: the cash-out is proposed; cancelling the last top-up is chosen
        self.assertEqual(self._wizard(wallet).refund_option, "expense")
        refund = self._refund(wallet, refund_option="cancel_sale")

        self._assert_balance_refunded(refund, wallet, 100.0, closed=False, points_taken=50.0)
        self.assertEqual(refund.pos_order_ids.refunded_order_id, second, "the last top-up")
        self.assertAlmostEqual(refund.pos_order_ids.amount_paid, -50.0)
        self.assertEqual(refund.partner_id, self.customer)

    def test_visit_pack_partial_credit_at_the_till(self):
        order = self._order([(self.pack_product, 1)])
        pack = self._confirm_cards(order, self.yoga_pack, 10.0)
        self.env["loyalty.card.update.balance"].create(
            {"card_id": pack.id, "new_balance": 6.0, "description": "4 classes"}
        ).action_update_card_point()
        wizard = self._wizard(pack)
        self.assertEqual(wizard.refund_option, "credit_note")
        self.assertAlmostEqual(wizard.amount, 128.4, msg="214 × 6 / 10")
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=6.0)
        self.assertEqual((refund.scope, refund.payout_method), ("partial", "pos"))
        refund_order = refund.pos_order_ids
        self.assertEqual(refund_order.refunded_order_id, order)
        self.assertAlmostEqual(refund_order.amount_total, -128.4)
        self.assertAlmostEqual(refund_order.amount_paid, -128.4)

    def test_bad_input_no_open_session(self):
        order = self._order([(self.gift_card_product, 1)])
        card = self._confirm_cards(order, self.gift_cards, 50.0)
        session = self.pos_session
        session.post_closing_cash_details(session.cash_register_balance_end)
        result = session.close_session_from_ui()
        self.assertEqual(session.state, "closed", result)
        written = self._written()
        self.assertIn("No session of PoS Shop Test is open", self._wizard(card).cancel_blocker)
        with self.assertRaises(UserError) as caught:
            self._refund(card, refund_option="cancel_sale")
        self.assertIn("No session of PoS Shop Test is open", str(caught.exception))
        self.assertEqual(self._written(), written)
        self.assertAlmostEqual(card.points, 50.0)
        self.assertTrue(card.active)

    # ------------------------------------------------------------------
    # the loyalty points a refunded order earned go back with it
    # ------------------------------------------------------------------

    def _earned(self, quantity=1):
        """An order of `quantity` haircuts (107.00 each, tax included) that
        earned a point per unit of money on the client's loyalty card."""
        points_program = self._program("Salon points", "loyalty", self.haircut)
        order = self._order([(self.haircut, quantity)])
        card = self._confirm_cards(order, points_program, order.amount_total)
        self.assertAlmostEqual(card.points, order.amount_total)
        return order, card

    def _refund_order(self, order, **values):
        with Form(
            self.env["client.refund.wizard"].with_context(
                default_source_type="pos_order", default_pos_order_id=order.id
            )
        ) as wizard:
            wizard.reason_id = self.reason
            for name, value in values.items():
                setattr(wizard, name, value)
        return self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])

    def _taken_back(self, card, refund):
        return card.history_ids.filtered(
            lambda line: line.order_model == "pos.order" and line.order_id in refund.pos_order_ids.ids
        )

    def test_full_refund_takes_back_every_point(self):
        order, card = self._earned()
        refund = self._refund_order(order)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(card.points, 0.0)
        history = self._taken_back(card, refund)
        self.assertAlmostEqual(history.used, 107.0)
        self.assertIn(refund.name, history.description)
        self.assertFalse(any("could not be taken back" in str(m.body) for m in refund.message_ids))

    def test_refunds_in_parts_take_back_in_proportion_never_twice(self):
        order, card = self._earned(quantity=2)  # 214.00, 214 points
        first = self._refund_order(order, refund_mode="amount", amount=53.5)
        self.assertAlmostEqual(self._taken_back(card, first).used, 53.5)
        self.assertAlmostEqual(card.points, 160.5)
        second = self._refund_order(order, refund_mode="amount", amount=53.5)
        self.assertAlmostEqual(self._taken_back(card, second).used, 53.5)
        rest = self._refund_order(order)
        self.assertAlmostEqual(self._taken_back(card, rest).used, 107.0)
        self.assertAlmostEqual(card.points, 0.0)
        used = sum(card.history_ids.mapped("used"))
        self.assertAlmostEqual(used, 214.0, msg="the points came back once in total")

    def test_points_already_spent_are_a_shortfall_said_in_points_and_money(self):
        order, card = self._earned()
        self._change_balance(card, 7.0, "Spent on a reward")  # 100 of the 107 spent
        refund = self._refund_order(order)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(card.points, 0.0)
        self.assertAlmostEqual(self._taken_back(card, refund).used, 7.0)
        for document in (refund, card):
            self.assertTrue(
                any(
                    "100.0 of the 107.0 points" in str(m.body) and "100.00" in str(m.body)
                    for m in document.message_ids
                ),
                f"no shortfall on {document}",
            )
        self.assertAlmostEqual(refund.amount_paid_back, 107.0, msg="the money is not cut")

    def test_points_spent_deducted_from_the_money_when_the_company_says_so(self):
        self.env.company.client_refund_deduct_points = True
        order, card = self._earned()
        self._change_balance(card, 7.0, "Spent on a reward")  # 100 of the 107 spent
        cash_before = self.pos_session.cash_register_balance_end
        with Form(
            self.env["client.refund.wizard"].with_context(
                default_source_type="pos_order", default_pos_order_id=order.id
            )
        ) as wizard:
            wizard.reason_id = self.reason
            # said before confirming
            self.assertAlmostEqual(wizard.amount_paid_back, 7.0)
            self.assertIn("100.00 is deducted", wizard.points_note)
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount, 107.0, msg="the sale is credited whole")
        self.assertAlmostEqual(refund.amount_paid_back, 7.0)
        refund_order = refund.pos_order_ids
        kept = refund_order.lines.filtered(
            lambda line: line.product_id == self.env.ref("client_refund.product_points_not_returned")
        )
        self.assertAlmostEqual(kept.price_subtotal_incl, 100.0)
        self.assertAlmostEqual(refund_order.amount_total, -7.0)
        self.assertAlmostEqual(card.points, 0.0)
        self.assertTrue(any("is deducted from the money" in str(m.body) for m in refund.message_ids))
        # the till pays out 7 and closes balanced
        self._assert_session_closes_balanced(cash_before - 7.0)


    def test_pos_order_refunded_onto_the_ewallet_leaves_the_till_alone(self):
        deposits = self.env["account.account"].create(
            {"name": "Client deposits", "code": "DEP02", "account_type": "liability_current"}
        )
        self.top_up.property_account_income_id = deposits
        order = self._order([(self.haircut, 1)])  # 107.00 in cash
        with Form(
            self.env["client.refund.wizard"].with_context(
                default_source_type="pos_order", default_pos_order_id=order.id
            )
        ) as wizard:
            wizard.reason_id = self.reason
        wizard.record.payout_method = "ewallet"
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "ewallet")
        self.assertAlmostEqual(refund.amount, 107.0)
        self.assertAlmostEqual(refund.amount_ewallet, 107.0)
        self.assertAlmostEqual(refund.amount_paid_back, 0.0)
        refund_order = refund.pos_order_ids
        self.assertFalse(refund_order.payment_ids, "the till is untouched")
        self.assertAlmostEqual(refund_order.amount_total, 0.0)
        self.assertEqual(refund_order.lines.refunded_orderline_id, order.lines)
        card = refund.ewallet_card_id
        self.assertEqual(card.program_id, self.ewallet)
        self.assertAlmostEqual(card.points, 107.0)
        self.assertIn(refund.name, card.history_ids.description)
        self.assertFalse(order.has_refundable_lines)
        # spendable at once: the client pays a new haircut with it at the till,
        # as pos_loyalty records an eWallet payment (a reward line, the card's
        # points and history)
        reward = self.ewallet.reward_ids[:1]
        # a salon books the eWallet's payments on its liability too
        reward.discount_line_product_id.property_account_income_id = deposits
        data = self.create_ui_order_data([(self.haircut, 1)], customer=self.customer, payments=[])
        data["lines"].append(
            Command.create(
                {
                    "product_id": reward.discount_line_product_id.id,
                    "qty": 1.0,
                    "price_unit": -107.0,
                    "price_subtotal": -107.0,
                    "price_subtotal_incl": -107.0,
                    "tax_ids": [],
                    "pack_lot_ids": [],
                    "is_reward_line": True,
                    "reward_id": reward.id,
                    "coupon_id": card.id,
                    "points_cost": 107.0,
                }
            )
        )
        data.update(amount_total=0.0, amount_tax=0.0, amount_paid=0.0)
        [synced] = self.env["pos.order"].sync_from_ui([data])["pos.order"]
        spent_order = self.env["pos.order"].browse(synced["id"])
        spent_order.confirm_coupon_programs(
            {card.id: {"points": -107.0, "program_id": self.ewallet.id, "coupon_id": card.id, "barcode": False}}
        )
        spent_order.add_loyalty_history_lines([{"card_id": str(card.id), "won": 0, "spent": 107.0}], [])
        self.assertEqual(spent_order.state, "paid")
        self.assertAlmostEqual(card.points, 0.0)
        # the till closes with what the first sale brought in; the liability the
        # refund put the credit on is used up by the second sale
        self._assert_session_closes_balanced(107.0)
        liability = self.pos_session.move_id.line_ids.filtered(lambda line: line.account_id == deposits)
        self.assertAlmostEqual(sum(liability.mapped("balance")), 0.0)

    def _refund_lines_of(self, order, quantities, **values):
        """A refund of `order` by lines ({line index: quantity}), then `values`
        set on the wizard as a hand-made call would."""
        with Form(
            self.env["client.refund.wizard"].with_context(
                default_source_type="pos_order", default_pos_order_id=order.id
            )
        ) as wizard:
            wizard.reason_id = self.reason
            wizard.refund_mode = "lines"
            for index, quantity in quantities.items():
                with wizard.line_ids.edit(index) as line:
                    line.quantity = quantity
        wizard.record.write(values)
        return self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])

    def _deposits(self):
        deposits = self.env["account.account"].create(
            {"name": "Client deposits", "code": "DEP09", "account_type": "liability_current"}
        )
        self.top_up.property_account_income_id = deposits
        return deposits

    def test_points_come_back_whole_after_a_refund_onto_the_ewallet(self):
        """The store credit line of a refund order is no refund of the sale: the
        points of a fully refunded order all come back."""
        self._deposits()
        order, card = self._earned(quantity=2)  # 214 points
        first = self._refund_lines_of(order, {0: 1.0}, payout_method="ewallet")
        self.assertEqual(first.state, "done")
        self.assertAlmostEqual(card.points, 107.0)
        self._refund_lines_of(order, {0: 1.0})
        self.assertAlmostEqual(card.points, 0.0)

    def test_full_refund_after_a_split_one(self):
        self._deposits()
        order = self._order([(self.haircut, 2)])  # 214.00 in cash
        first = self._refund_lines_of(order, {0: 1.0}, amount_ewallet=50.0)
        self.assertAlmostEqual((first.amount_paid_back, first.amount_ewallet), (57.0, 50.0))
        rest = self._refund_order(order)
        self.assertEqual(rest.state, "done")
        self.assertAlmostEqual(rest.amount_paid_back, 107.0)

    def test_points_deducted_in_parts_count_the_earlier_shortfall(self):
        """A point worth 0.50, 150 of 214 points spent (75.00): two refunds of
        half the order pay back 214 - 75 in total, not more or less."""
        self.env.company.client_refund_deduct_points = True
        points_program = self._program("Salon points", "loyalty", self.haircut)
        points_program.reward_ids.discount = 0.5
        order = self._order([(self.haircut, 2)])
        card = self._confirm_cards(order, points_program, order.amount_total)
        self._change_balance(card, 64.0, "Spent 150 points")
        first = self._refund_lines_of(order, {0: 1.0})
        second = self._refund_lines_of(order, {0: 1.0})
        self.assertAlmostEqual(first.amount_paid_back + second.amount_paid_back, 139.0)
        self.assertAlmostEqual(first.points_shortfall + second.points_shortfall, 150.0)
        self.assertAlmostEqual(card.points, 0.0)


@tagged("post_install", "-at_install")
class TestRefundToEwallet(LoyaltyRefundMixin, ClientRefundCommon):
    """Store credit: a refund paid back onto the client's eWallet."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_cash_and_deposits()
        cls.haircut = cls._create_product(name="Haircut", type="service", lst_price=100.0)
        top_up = cls._create_product(
            name="Top-up", type="service", lst_price=100.0, taxes_id=[Command.clear()]
        )
        deposit_top_up = cls._create_product(
            name="Deposit", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        cls.ewallet = cls._program("eWallet", "ewallet", top_up)
        cls.deposit_wallet = cls._program("Deposits", "ewallet", deposit_top_up)
        cls.gift_card_product = cls._create_product(
            name="Gift Card", type="service", lst_price=50.0, taxes_id=[Command.clear()]
        )
        cls.gift_cards = cls._program("Gift Cards", "gift_card", cls.gift_card_product)

    def _refund_invoice(self, invoice, **values):
        return self._refund_to_ewallet(
            {"default_source_type": "invoice", "default_move_id": invoice.id}, **values
        )

    def _counts(self):
        return [
            self.env[model].sudo().search_count([])
            for model in ("account.move", "account.payment", "client.refund", "loyalty.card")
        ]

    def test_paid_invoice_refunded_onto_the_ewallet(self):
        self.ewallet.active = False  # the company keeps deposits on a liability account
        invoice = self._sell([(self.haircut, 100.0)])  # 115.00 with tax, paid in cash
        cash_before = self._cash()
        wizard = Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        )
        self.assertTrue(wizard.ewallet_offered, "a part of the money may go onto the eWallet")
        refund = self._refund_invoice(invoice)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "ewallet")
        self.assertFalse(refund.payment_ids, "no cash, bank or card moves")
        self.assertAlmostEqual(self._cash(), cash_before)
        self.assertAlmostEqual(refund.amount_ewallet, 115.0)
        self.assertAlmostEqual(refund.amount_paid_back, 0.0, msg="store credit is no money")
        self.assertEqual(invoice.payment_state, "reversed")
        # the client's receivable nets to 0; the eWallet's liability grows by 115;
        # the sale's income and tax are credited back whole
        self.assertAlmostEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -115.0)
        revenue = self.company_data["default_account_revenue"]
        tax_account = self.company_data["default_tax_sale"].invoice_repartition_line_ids.account_id
        self.assertAlmostEqual(self._account_balance(revenue), 0.0)
        self.assertAlmostEqual(self._account_balance(tax_account), 0.0)
        entry = refund.ewallet_move_id
        receivable_line = entry.line_ids.filtered(lambda line: line.account_id == self.receivable)
        self.assertTrue(receivable_line.reconciled)
        # spendable at once: the points are on the client's card, with history
        card = refund.ewallet_card_id
        self.assertEqual(card.program_id, self.deposit_wallet)
        self.assertEqual(card.partner_id, self.client)
        self.assertAlmostEqual(card.points, 115.0)
        self.assertIn(refund.name, card.history_ids.description)
        self.assertAlmostEqual(card.history_ids.issued, 115.0)
        self.assertTrue(any("eWallet" in str(m.body) for m in refund.message_ids))

    def test_unused_payment_kept_as_store_credit_on_the_existing_ewallet(self):
        self.ewallet.active = False
        wallet = self._issue(self.deposit_wallet, 20.0)
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": 50.0,
                "journal_id": self.cash_journal.id,
            }
        )
        payment.action_post()
        refund = self._refund_to_ewallet(
            {"default_source_type": "payment", "default_payment_id": payment.id}
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.ewallet_card_id, wallet, "the client's own eWallet")
        self.assertAlmostEqual(wallet.points, 70.0)
        self.assertFalse(payment.move_id.line_ids.filtered(lambda line: line.account_id == self.receivable and not line.reconciled))
        self.assertAlmostEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -50.0)

    def test_bad_input_no_ewallet_program_or_one_booked_on_income(self):
        invoice = self._sell([(self.haircut, 100.0)])
        self.deposit_wallet.active = False  # left: an eWallet whose top-ups are income
        counts = self._counts()
        with self.assertRefused("not on a liability account"):
            self._refund_invoice(invoice)
        self.assertEqual(self._counts(), counts)
        self.ewallet.active = False
        with self.assertRefused("has no eWallet program"):
            self._refund_invoice(invoice)
        self.assertEqual(self._counts(), counts)

    def test_cancel_takes_the_store_credit_back_unless_spent(self):
        self.ewallet.active = False
        invoice = self._sell([(self.haircut, 100.0)])
        refund = self._refund_invoice(invoice)
        card = refund.ewallet_card_id
        manager = refund.with_user(self.refund_manager)
        credit_note = refund.credit_note_ids
        # spent: refused, nothing changes
        self._change_balance(card, 15.0, "Spent at the shop")
        with self.assertRefused("100.0 were spent"):
            manager.action_cancel()
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(card.points, 15.0)
        # topped up again: the credit is on the wallet, and comes back off it
        self._change_balance(card, 115.0, "Top-up")
        self.assertEqual(credit_note.state, "posted")
        manager.action_cancel()
        self.assertEqual(refund.state, "cancel")
        self.assertAlmostEqual(card.points, 0.0)
        self.assertEqual(refund.ewallet_move_id.reversal_move_ids.state, "posted")
        self.assertAlmostEqual(self._account_balance(self.deposits), 0.0)
        # the cancellation undid its credit note too: the invoice is paid again
        # by the payment the store credit came from
        self.assertEqual(credit_note.state, "cancel")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_gift_card_sale_cancelled_onto_the_ewallet(self):
        self.ewallet.active = False
        invoice = self._sell([(self.gift_card_product, 50.0)])
        gift = self._issue(self.gift_cards, 50.0)
        cash_before = self._cash()
        wizard = self._wizard(gift, user=self.refund_user, payout_method="ewallet")
        self.assertEqual(wizard.refund_option, "cancel_sale")
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(gift.points, 0.0)
        self.assertFalse(gift.active, "the gift card is closed")
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(refund.ewallet_card_id.points, 50.0)
        self.assertAlmostEqual(self._cash(), cash_before, msg="no cash moves")
        self.assertAlmostEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -50.0)

    def test_split_between_cash_and_the_ewallet(self):
        self.ewallet.active = False
        invoice = self._sell([(self.haircut, 100.0)])  # 115.00, paid in cash
        cash_before = self._cash()
        refund = self._refund_invoice(invoice, payout_method="journal", amount_ewallet=40.0)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "journal")
        self.assertAlmostEqual(refund.amount_paid_back, 75.0)
        self.assertAlmostEqual(refund.amount_ewallet, 40.0)
        self.assertAlmostEqual(self._cash() - cash_before, -75.0)
        self.assertAlmostEqual(refund.ewallet_card_id.points, 40.0)
        self.assertAlmostEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -40.0)
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertTrue(any("Put" in str(m.body) and "eWallet" in str(m.body) for m in refund.message_ids))

    def test_bad_input_split_above_what_each_way_takes(self):
        self.ewallet.active = False
        invoice = self._sell([(self.haircut, 100.0)])
        counts = self._counts()
        for part in (115.0, 200.0, -5.0):
            with self.subTest(part=part), self.assertRefused("part onto the eWallet"):
                self._refund_invoice(invoice, payout_method="journal", amount_ewallet=part)
        self.assertEqual(self._counts(), counts)

    def test_bad_input_invoice_paid_in_another_currency(self):
        self.ewallet.active = False
        eur = self.setup_other_currency("EUR", rates=[("1900-01-01", 2.0)])
        invoice = self._sell([(self.haircut, 100.0)], pay=False)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.cash_journal.id, "currency_id": eur.id})._create_payments()
        counts = self._counts()
        with self.assertRefused("paid in another currency"):
            self._refund_invoice(invoice)
        self.assertEqual(self._counts(), counts)

    def test_store_credit_is_no_top_up_of_the_wallet(self):
        """A paid top-up stays refundable once store credit joined it."""
        self.ewallet.active = False
        self._sell([(self.deposit_wallet.trigger_product_ids[:1], 115.0)])
        wallet = self._issue(self.deposit_wallet, 115.0)
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 115.0)
        refund = self._refund_invoice(self._sell([(self.haircut, 100.0)]))
        self.assertEqual(refund.ewallet_card_id, wallet)
        self.assertTrue(wallet._client_refund_get_sales(), "the paid top-up is still its sale")
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 115.0)

    def test_bad_input_ewallet_split_onto_itself(self):
        self.ewallet.active = False
        self._sell([(self.deposit_wallet.trigger_product_ids[:1], 100.0)])
        wallet = self._issue(self.deposit_wallet, 100.0)
        counts = self._counts()
        # the form does not offer it; a crafted call is refused
        self.assertFalse(self._wizard(wallet, user=self.refund_user).ewallet_offered)
        wizard = self.env["client.refund.balance.wizard"].with_user(self.refund_user).create(
            {
                "card_id": wallet.id,
                "refund_option": "cancel_sale",
                "payout_method": "journal",
                "amount_ewallet": 99.0,
                "reason_id": self.reason.id,
            }
        )
        with self.assertRefused("not onto itself"):
            wizard.action_confirm()
        self.assertEqual(self._counts(), counts)

    def test_bad_input_the_ewallet_entry_is_not_undone_by_hand(self):
        """Core's buttons on the refund's entries are closed, even to an
        administrator: only the refund's cancellation undoes them."""
        self.ewallet.active = False
        refund = self._refund_invoice(self._sell([(self.haircut, 100.0)]))
        entry = refund.ewallet_move_id
        for undo in (
            lambda: entry._reverse_moves([{"ref": "by hand"}], cancel=True),
            entry.button_draft,
            entry.button_cancel,
            refund.credit_note_ids.button_draft,
            entry.line_ids.remove_move_reconcile,
        ):
            with self.assertRefused("belongs to refund RF/"):
                undo()
        self.assertFalse(entry.reversal_move_ids)
        self.assertEqual(entry.state, "posted")
        self.assertAlmostEqual(refund.ewallet_card_id.points, 115.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -115.0)
