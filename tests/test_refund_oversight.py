"""The manager's view of refunds that look wrong: each flag set at confirm on
refunds made through the wizard as the front desk, the register's filters,
the graph by flag and staff, the daily digest, and who may touch them."""

from datetime import timedelta

from freezegun import freeze_time
from lxml import etree

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools.misc import format_date
from odoo.tools.safe_eval import safe_eval

from .common import LocalStripeMixin, LoyaltyRefundMixin
from . import test_pos_refund
from .test_pos_refund import PosRefundCommon
from .test_refund_policy import RefundPolicyInvoiceCommon

FLAGS = (
    "flag_card_to_cash",
    "flag_own_sale",
    "flag_past_window",
    "flag_policy_waived",
    "flag_unusual_day",
    "flag_frequent_client",
)


@tagged("post_install", "-at_install")
class TestRefundOversight(LocalStripeMixin, RefundPolicyInvoiceCommon, LoyaltyRefundMixin):
    """A haircut (100.00 + 15 % tax = 115.00) under the services policy, a
    shampoo under the 30-day retail policy; the company's day in UTC, flags
    at a factor of 3 and after 3 refunds of a client in 90 days. The loyalty
    mixin comes last: it lends its eWallet program and wizard, while the
    invoice helpers (_refund...) stay the invoice tests'."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.bank_journal)
        cls.company.write(
            {
                "client_refund_tz": "UTC",
                "client_refund_unusual_factor": 3.0,
                "client_refund_frequent_refunds": 3,
            }
        )
        cls._setup_cash_and_deposits()
        top_up = cls._create_product(
            name="Top-up", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        cls.ewallet = cls._program("eWallet", "ewallet", top_up)
        cls.other_client = cls.env["res.partner"].create({"name": "Client Bob"})
        cls.other_client.property_account_receivable_id = cls.receivable

    def _flags(self, refund):
        return {fname: refund[fname] for fname in FLAGS if refund[fname]}

    def _small_refund(self, invoice, user=None):
        """11.50 of `invoice` back in cash."""
        refund = self._refund(
            invoice, mode="amount", user=user, partial_by="amount", amount=11.5,
            payout_journal_id=self.cash_journal,
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 11.5)
        return refund

    def _backdate(self, refunds, days):
        # sudo: the register's dates are the addon's own; the history is set up
        refunds.sudo().write({"date": fields.Datetime.now() - timedelta(days=days)})

    # ------------------------------------------------------------------
    # each flag, on real refunds
    # ------------------------------------------------------------------

    def test_refund_without_any_flag(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, payout_journal_id=self.cash_journal)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(self._flags(refund), {})
        self.assertEqual(refund.flag_count, 0)
        self.assertFalse(refund.is_flagged)
        self.assertFalse(refund.flag_names)

    def test_card_sale_refunded_in_cash(self):
        invoice, transaction = self._paid_by_card()
        refund = self._refund(
            invoice, payout_method="journal", payout_journal_id=self.cash_journal
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(refund.payment_ids.journal_id, self.cash_journal)
        self.assertEqual(self._flags(refund), {"flag_card_to_cash": True})
        self.assertEqual(refund.flag_count, 1)
        self.assertEqual(refund.flag_names, "Card Sale Refunded in Cash or eWallet")
        self.assertEqual(self._stripe_refunds(transaction.provider_reference), [])

    def test_card_sale_refunded_onto_the_ewallet(self):
        invoice, __ = self._paid_by_card()
        refund = self._refund_to_ewallet(
            {"default_source_type": "invoice", "default_move_id": invoice.id}
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payout_method, "ewallet")
        self.assertEqual(refund.amount_ewallet, 115.0)
        self.assertAlmostEqual(refund.ewallet_card_id.points, 115.0)
        self.assertEqual(self._flags(refund), {"flag_card_to_cash": True})

    def test_card_sale_refunded_to_the_card_or_by_bank_is_not_flagged(self):
        invoice, __ = self._paid_by_card()
        to_card = self._card_refund(invoice, mode="amount", partial_by="amount", amount=15.0)
        self.assertEqual(to_card.state, "pending")
        self.assertFalse(to_card.is_flagged)
        by_bank = self._refund(
            invoice, mode="amount", partial_by="amount", amount=20.0,
            payout_method="journal", payout_journal_id=self.bank_journal,
        )
        self.assertEqual(by_bank.state, "done")
        self.assertFalse(by_bank.is_flagged)

    def test_cash_sale_refunded_in_cash_is_not_flagged(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, payout_journal_id=self.cash_journal)
        self.assertFalse(refund.flag_card_to_cash)

    def test_refund_by_the_seller(self):
        sold_by_user = self._paid_invoice([(self.haircut, 1, 100.0)])
        sold_by_user.invoice_user_id = self.refund_user
        own = self._refund(sold_by_user, payout_journal_id=self.cash_journal)
        self.assertEqual(own.user_id, self.refund_user)
        self.assertEqual(self._flags(own), {"flag_own_sale": True})

        sold_by_manager = self._paid_invoice([(self.haircut, 1, 100.0)])
        sold_by_manager.invoice_user_id = self.refund_manager
        other = self._refund(sold_by_manager, payout_journal_id=self.cash_journal)
        self.assertFalse(other.flag_own_sale)

    def test_refund_past_the_window_is_flagged_at_confirm(self):
        self._set_policy(self.shampoo, self.retail_approval_policy)
        invoice = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=45)
        refund = self._refund(invoice, reason_id=self.reason_returned)
        self.assertEqual(refund.state, "to_approve")
        # the manager approving it sees it flagged
        self.assertEqual(self._flags(refund), {"flag_past_window": True})
        refund.with_user(self.refund_manager).action_approve()
        self.assertEqual(refund.state, "done")
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertTrue(refund.flag_past_window)

        within = self._paid_invoice([(self.shampoo, 1, 20.0)], days_ago=30)
        self.assertFalse(self._refund(within, reason_id=self.reason_returned).flag_past_window)

    def test_fee_waived_by_a_manager(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(
            invoice, user=self.refund_manager, reason_id=self.reason_late,
            waive_policy=True, waiver_reason="Family emergency",
        )
        self.assertEqual(refund.state, "done")
        self.assertRecordValues(refund.fee_ids, [{"amount": 0.0, "amount_waived": 57.5}])
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(self._flags(refund), {"flag_policy_waived": True})

    def test_fee_kept_is_not_flagged(self):
        invoice = self._paid_invoice([(self.haircut, 1, 100.0)])
        refund = self._refund(invoice, reason_id=self.reason_late)
        self.assertEqual(refund.amount_fee, 57.5)
        self.assertEqual(refund.amount_paid_back, 57.5)
        self.assertFalse(refund.is_flagged)

    def test_unusual_number_of_refunds_today(self):
        """No history: a usual day is one refund; the fourth of the day is
        more than 3 times that."""
        invoice = self._paid_invoice([(self.haircut, 10, 100.0)])
        refunds = [self._small_refund(invoice) for __ in range(4)]
        self.assertEqual([refund.flag_unusual_day for refund in refunds], [False] * 3 + [True])
        # another user's day is their own
        self.assertFalse(self._small_refund(invoice, user=self.refund_manager).flag_unusual_day)

    def test_unusual_day_is_the_company_day(self):
        """At noon UTC in a UTC company, refunds made at 5 in the morning are of
        the company's day, though the requester's own time zone (UTC-11) puts
        them on the day before: they count, and the fourth is flagged."""
        self.refund_user.tz = "Pacific/Pago_Pago"
        noon = fields.Datetime.to_datetime(fields.Date.today()).replace(hour=12)
        with freeze_time(noon):
            invoice = self._paid_invoice([(self.haircut, 10, 100.0)])
            morning = self.env["client.refund"].concat(
                *(self._small_refund(invoice) for __ in range(3))
            )
            morning.sudo().write({"date": noon.replace(hour=5)})
            yesterday = fields.Date.today() - timedelta(days=1)
            self.assertEqual(morning.mapped("request_date"), [yesterday] * 3)
            self.assertTrue(self._small_refund(invoice).flag_unusual_day)

    def test_unusual_amount_of_refunds_today(self):
        """Three refunds of 11.50 in the last 30 days: a usual day is one refund
        of 11.50; 126.50 today is more than 3 times that, 23.00 is not."""
        invoice = self._paid_invoice([(self.haircut, 10, 100.0)])
        history = self.env["client.refund"].concat(
            *(self._small_refund(invoice) for __ in range(3))
        )
        self._backdate(history, 10)
        # the previous 30 days of the company, not before
        self._backdate(self._small_refund(invoice), 31)
        self.assertFalse(self._small_refund(invoice).flag_unusual_day)
        self.assertFalse(self._small_refund(invoice).flag_unusual_day)
        large = self._refund(
            invoice, mode="amount", partial_by="amount", amount=103.5,
            payout_journal_id=self.cash_journal,
        )
        self.assertEqual(large.amount_paid_back, 103.5)
        self.assertTrue(large.flag_unusual_day)

    def test_unusual_day_follows_the_company_factor(self):
        self.company.client_refund_unusual_factor = 5.0
        invoice = self._paid_invoice([(self.haircut, 10, 100.0)])
        refunds = [self._small_refund(invoice) for __ in range(6)]
        self.assertEqual([refund.flag_unusual_day for refund in refunds], [False] * 5 + [True])

    def test_client_refunded_often(self):
        invoice = self._paid_invoice([(self.haircut, 10, 100.0)])
        old = self._small_refund(invoice)
        self._backdate(old, 90)
        refunds = [self._small_refund(invoice) for __ in range(4)]
        self.assertEqual(
            [refund.flag_frequent_client for refund in refunds], [False] * 3 + [True]
        )
        self.assertFalse(old.flag_frequent_client)
        bob = self._invoice([(self.haircut, 1, 100.0)], partner=self.other_client)
        self._pay(bob)
        other_client = self._refund(bob, payout_journal_id=self.cash_journal)
        self.assertEqual(other_client.partner_id, self.other_client)
        self.assertFalse(other_client.flag_frequent_client)

    def test_bad_input_settings(self):
        with self.assertRefused("a factor of 1 or more", ValidationError):
            self.company.client_refund_unusual_factor = 0.5
        with self.assertRefused("one refund in 90 days at least", ValidationError):
            self.company.client_refund_frequent_refunds = 0

    # ------------------------------------------------------------------
    # filters and the graph
    # ------------------------------------------------------------------

    def _make_flagged_refunds(self):
        """A clean refund, a card sale paid back in cash, a seller's refund."""
        clean = self._refund(
            self._paid_invoice([(self.haircut, 1, 100.0)]), payout_journal_id=self.cash_journal
        )
        card_invoice, __ = self._paid_by_card()
        card_to_cash = self._refund(
            card_invoice, payout_method="journal", payout_journal_id=self.cash_journal
        )
        sold_by_user = self._paid_invoice([(self.haircut, 1, 100.0)])
        sold_by_user.invoice_user_id = self.refund_user
        own_sale = self._refund(sold_by_user, payout_journal_id=self.cash_journal)
        return clean, card_to_cash, own_sale

    def _filter_domain(self, name):
        arch = self.env["client.refund"].with_user(self.refund_manager).get_views(
            [(False, "search")]
        )["views"]["search"]["arch"]
        node = etree.fromstring(arch).xpath(f"//filter[@name='{name}']")[0]
        return safe_eval(node.get("domain"), {"uid": self.refund_manager.id})

    def test_filters_return_the_flagged_refunds(self):
        clean, card_to_cash, own_sale = self._make_flagged_refunds()
        Refund = self.env["client.refund"].with_user(self.refund_manager)
        mine = [("id", "in", (clean | card_to_cash | own_sale).ids)]
        self.assertEqual(
            Refund.search(mine + self._filter_domain("filter_flagged")), card_to_cash | own_sale
        )
        self.assertEqual(
            Refund.search(mine + self._filter_domain("filter_flag_card_to_cash")), card_to_cash
        )
        self.assertEqual(
            Refund.search(mine + self._filter_domain("filter_flag_own_sale")), own_sale
        )
        for name in ("past_window", "policy_waived", "unusual_day", "frequent_client"):
            self.assertFalse(Refund.search(mine + self._filter_domain(f"filter_flag_{name}")))

    def test_graph_by_flag_and_staff(self):
        clean, card_to_cash, own_sale = self._make_flagged_refunds()
        Report = self.env["client.refund.flag.report"].with_user(self.refund_manager)
        refunds = clean | card_to_cash | own_sale
        groups = Report._read_group(
            [("refund_id", "in", refunds.ids)], ["flag", "user_id"], ["__count", "amount:sum"]
        )
        self.assertEqual(
            sorted(groups),
            [
                ("flag_card_to_cash", self.refund_user, 1, 115.0),
                ("flag_own_sale", self.refund_user, 1, 115.0),
            ],
        )
        action = self.env.ref("client_refund.client_refund_flag_report_action")
        self.assertTrue(action.view_mode.startswith("graph"))
        menu = self.env.ref("client_refund.menu_client_refund_flag_report")
        self.assertEqual(menu.groups_id, self.env.ref("client_refund.group_client_refund_manager"))

    # ------------------------------------------------------------------
    # the daily digest
    # ------------------------------------------------------------------

    def _digests(self):
        return self.env["mail.mail"].search(
            [("subject", "like", f"{self.company.name}: flagged refunds of")]
        )

    def test_digest_of_the_previous_day_sent_once(self):
        self.refund_manager.with_user(self.refund_manager).write({"client_refund_digest": True})
        self.assertTrue(self.refund_manager.client_refund_digest)
        clean, card_to_cash, own_sale = self._make_flagged_refunds()
        self.company.client_refund_digest_date = False
        Refund = self.env["client.refund"]

        # today's refunds wait for tomorrow's digest
        Refund._cron_send_oversight_digest()
        self.assertFalse(self._digests())
        self.assertEqual(self.company.client_refund_digest_date, fields.Date.today())

        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            Refund._cron_send_oversight_digest()
            Refund._cron_send_oversight_digest()
        digest = self._digests()
        self.assertEqual(len(digest), 1)
        self.assertEqual(digest.recipient_ids, self.refund_manager.partner_id)
        self.assertEqual(
            digest.subject,
            f"{self.company.name}: flagged refunds of {format_date(self.env, fields.Date.today())}",
        )
        body = digest.body_html
        self.assertIn("2 refunds of", body)
        for refund, why in (
            (card_to_cash, "Card Sale Refunded in Cash or eWallet"),
            (own_sale, "Refunded by the Seller"),
        ):
            self.assertIn(refund.name, body)
            self.assertIn(why, body)
        self.assertNotIn(clean.name, body)
        self.assertEqual(
            self.company.client_refund_digest_date, fields.Date.today() + timedelta(days=1)
        )

    def test_digest_skips_a_company_another_server_is_sending(self):
        """Another server's run holds the company's row: this run skips the
        company instead of sending its digest a second time."""
        # a company committed in the database, which another cursor can lock
        company = self.env.ref("base.main_company")
        today = company._client_refund_today()
        Refund = self.env["client.refund"]
        with self.registry.cursor() as other_server:
            other_server.execute("SET LOCAL lock_timeout = '5s'")
            other_server.execute(
                "SELECT id FROM res_company WHERE id = %s FOR NO KEY UPDATE", [company.id]
            )
            self.assertFalse(Refund._take_digest_day(company, today))
            other_server.rollback()
        self.assertTrue(Refund._take_digest_day(company, today))

    def test_digest_for_subscribed_managers_only(self):
        self._make_flagged_refunds()
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            self.env["client.refund"]._cron_send_oversight_digest()
        self.assertFalse(self._digests())

    # ------------------------------------------------------------------
    # who may touch them
    # ------------------------------------------------------------------

    def test_refund_user_cannot_write_the_flags(self):
        __, card_to_cash, own_sale = self._make_flagged_refunds()
        for user in (self.refund_user, self.refund_manager):
            with self.assertRefused("A confirmed refund cannot be changed", UserError):
                own_sale.with_user(user).write({"flag_own_sale": False})
            with self.assertRefused("A confirmed refund cannot be changed", UserError):
                card_to_cash.with_user(user).write({"flag_card_to_cash": False, "note": "fine"})
        self.assertTrue(own_sale.flag_own_sale)
        self.assertTrue(card_to_cash.flag_card_to_cash)
        self.assertFalse(card_to_cash.note)

    def test_refund_user_cannot_read_the_digest_settings_of_others(self):
        with self.assertRaises(AccessError):
            self.refund_manager.with_user(self.refund_user).read(["client_refund_digest"])
        with self.assertRefused("for refund managers", ValidationError):
            self.refund_user.with_user(self.refund_user).write({"client_refund_digest": True})
        with self.assertRaises(AccessError):
            self.env["client.refund.flag.report"].with_user(self.refund_user).search([])
        # a manager subscribes in their preferences, not for another manager
        other_manager = self.refund_manager.copy({"login": "other_refund_manager"})
        with self.assertRaises(AccessError):
            other_manager.with_user(self.refund_manager).write({"client_refund_digest": True})
        self.refund_manager.with_user(self.refund_manager).write({"client_refund_digest": True})
        self.assertTrue(self.refund_manager.client_refund_digest)


@tagged("post_install", "-at_install")
class TestRefundOversightPos(test_pos_refund.StripeTerminalMixin, PosRefundCommon):
    """At the till: the cashier who rang the sale up refunds it, and a sale
    paid on the Stripe terminal is paid back in cash."""

    def test_terminal_sale_refunded_in_cash_by_its_cashier(self):
        self.open_new_session(opening_cash=100.0)
        order, intent = self._paid_on_terminal([(self.haircut, 1)], 107.0)
        self.assertEqual(order.user_id, self.env.user)
        refund = self._refund(order, payout_method="pos")
        self.assertEqual(refund.state, "done")
        payout = refund.pos_order_ids.payment_ids
        self.assertEqual(payout.payment_method_id, self.cash_pm1)
        self.assertAlmostEqual(payout.amount, -107.0)
        self.assertEqual(self._stripe_refunds(intent.id), [])
        self.assertEqual(
            {fname: refund[fname] for fname in FLAGS if refund[fname]},
            {"flag_card_to_cash": True, "flag_own_sale": True},
        )
        self.assertEqual(refund.flag_count, 2)

    def test_cash_sale_refunded_by_another_cashier(self):
        self.open_new_session(opening_cash=100.0)
        order = self._order([(self.haircut, 1)])
        # sudo: stands for the till of another cashier, who rang the sale up
        order.sudo().user_id = new_test_user(
            self.env, login="other_cashier", groups="base.group_user,point_of_sale.group_pos_user"
        )
        refund = self._refund(order)
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount_paid_back, 107.0)
        self.assertFalse(refund.is_flagged)
