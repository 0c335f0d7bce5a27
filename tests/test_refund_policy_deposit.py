from datetime import timedelta

from odoo import Command, fields
from odoo.tests import Form, tagged

from .common import ClientRefundCommon, LoyaltyRefundMixin, RefundPolicyMixin


@tagged("post_install", "-at_install")
class TestRefundPolicyDeposit(RefundPolicyMixin, LoyaltyRefundMixin, ClientRefundCommon):
    """Deposits, cards and memberships under the salon's policies, refunded
    through the wizards by the front desk: the business cancels (all back),
    the client cancels late (50 %, at least 10.00, kept) or does not show
    (all kept). A kept fee is invoiced on the fee product (its income
    account, 15 % tax) and settled from what the client paid, or stays on the
    client's eWallet as store credit where the policy says so."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_cash_and_deposits()
        cls._setup_policies()
        cls.fee_tax_account = cls.env["account.account"].create(
            {"name": "Tax on fees", "code": "DEPFEETAX", "account_type": "liability_current"}
        )
        cls.fee_tax.invoice_repartition_line_ids.filtered(
            lambda line: line.repartition_type == "tax"
        ).account_id = cls.fee_tax_account
        cls.refund_account = cls.company.client_refund_account_id
        cls.store_credit_policy = cls.service_policy.copy(
            {"name": "Salon deposits, kept as store credit", "deposit_kept": "store_credit"}
        )
        # an advance payment has no product: the company's default policy
        cls.company.client_refund_policy_id = cls.service_policy
        # eWallet top-ups are deposits, on a liability account
        cls.deposit_top_up = cls._create_product(
            name="Deposit", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        cls.deposit_wallet = cls._program("Deposits", "ewallet", cls.deposit_top_up)
        cls._set_policy(cls.deposit_top_up, cls.service_policy)
        # a booking deposit invoiced on its own, on the same liability
        cls.booking_deposit = cls._create_product(
            name="Booking deposit", type="service", lst_price=100.0, taxes_id=[Command.clear()],
            property_account_income_id=cls.deposits.id,
        )
        cls._set_policy(cls.booking_deposit, cls.service_policy)
        # 10 yoga classes, 200 + 15 % tax
        cls.pack_product = cls._create_product(name="10 Yoga Classes", type="service", lst_price=200.0)
        cls.yoga_pack = cls._program(
            "Yoga pack", "loyalty", cls.pack_product, visit_pack=True, points=10.0
        )
        cls._set_policy(cls.pack_product, cls.service_policy)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _advance_payment(self, amount, days_ago=0):
        """A deposit paid in cash before the visit, no invoice."""
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": amount,
                "date": fields.Date.today() - timedelta(days=days_ago),
                "journal_id": self.cash_journal.id,
            }
        )
        payment.action_post()
        return payment

    def _refund_payment(self, payment, reason, **values):
        """The payment's Refund button, as the front desk; returns the refund
        and the money line the wizard said before Confirm."""
        action = payment.with_user(self.refund_user).action_client_refund()
        with Form(
            self.env["client.refund.wizard"].with_user(self.refund_user).with_context(**action["context"])
        ) as wizard:
            wizard.reason_id = reason
            for name, value in values.items():
                setattr(wizard, name, value)
            money_line = wizard.money_line
        return self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"]), money_line

    def _fee_invoice(self, refund):
        return refund.fee_move_ids.filtered(lambda move: move.move_type == "out_invoice")

    def _assert_fee(self, refund, policy, fault, base, fee):
        """The register keeps `fee` of `base` under `policy` for `fault`."""
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, policy)
        self.assertAlmostEqual(refund.amount_fee, fee)
        self.assertEqual(len(refund.fee_ids), 1)
        self.assertEqual(refund.fee_ids.policy_id, policy)
        self.assertEqual(refund.fee_ids.fault, fault)
        self.assertAlmostEqual(refund.fee_ids.base, base)
        self.assertAlmostEqual(refund.fee_ids.amount, fee)
        self.assertFalse(refund.fee_ids.amount_waived)

    def _assert_fee_invoiced(self, refund, untaxed, tax):
        """The fee is invoiced on the fee product, its income account and tax
        book it, and it is settled from what the client had paid."""
        fee_invoice = self._fee_invoice(refund)
        self.assertEqual(len(fee_invoice), 1)
        self.assertEqual(fee_invoice.state, "posted")
        self.assertEqual(fee_invoice.partner_id, self.client)
        self.assertEqual(fee_invoice.invoice_line_ids.product_id, self.fee_product)
        self.assertAlmostEqual(fee_invoice.amount_total, untaxed + tax)
        self.assertTrue(fee_invoice.currency_id.is_zero(fee_invoice.amount_residual))
        receivable = fee_invoice.line_ids.filtered(lambda line: line.account_id == self.receivable)
        self.assertTrue(receivable.reconciled)
        self.assertAlmostEqual(self._account_balance(self.fee_income), -untaxed)
        self.assertAlmostEqual(self._account_balance(self.fee_tax_account), -tax)
        return fee_invoice

    def _assert_no_fee_income(self, refund):
        self.assertFalse(refund.fee_move_ids)
        self.assertEqual(self._account_balance(self.fee_income), 0.0)
        self.assertEqual(self._account_balance(self.fee_tax_account), 0.0)

    # ------------------------------------------------------------------
    # an advance payment, no invoice
    # ------------------------------------------------------------------

    def test_advance_payment_late_cancellation_keeps_the_fee_as_income(self):
        payment = self._advance_payment(100.0)
        cash_before = self._cash()
        refund, money_line = self._refund_payment(payment, self.reason_late)
        self.assertEqual(
            money_line,
            f"The client gets back {self._fmt(50.0)} in cash; {self._fmt(50.0)} "
            f"late-cancellation fee kept (Salon services: 50 %, at least {self._fmt(10.0)}).",
        )

        self._assert_fee(refund, self.service_policy, "late_cancel", 100.0, 50.0)
        self.assertAlmostEqual(refund.amount, 100.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(refund.payment_ids.amount, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        fee_invoice = self._assert_fee_invoiced(refund, 43.48, 6.52)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        # the fee invoice and the payout both settle the advance payment
        credit = payment.move_id.line_ids.filtered(lambda line: line.account_id == self.receivable)
        self.assertTrue(credit.reconciled)
        settled_by = credit.matched_debit_ids.debit_move_id.move_id
        self.assertEqual(settled_by, fee_invoice | refund.payment_ids.move_id)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertAlmostEqual(payment._client_refund_get_refundable_amount(), 0.0)

    def test_advance_payment_refund_cancelled_by_a_manager_undoes_the_fee(self):
        payment = self._advance_payment(100.0)
        refund, __ = self._refund_payment(payment, self.reason_late)
        fee_invoice = self._fee_invoice(refund)
        refund.with_user(self.refund_manager).action_cancel()

        self.assertEqual(refund.state, "cancel")
        self.assertEqual(fee_invoice.state, "cancel")
        self.assertEqual(refund.payment_ids.state, "canceled")
        self.assertEqual(self._account_balance(self.fee_income), 0.0)
        # the client's deposit is theirs again, whole
        self.assertAlmostEqual(self._account_balance(self.receivable), -100.0)
        self.assertAlmostEqual(payment._client_refund_get_refundable_amount(), 100.0)

    def test_advance_payment_business_cancels_refunds_in_full(self):
        payment = self._advance_payment(100.0)
        cash_before = self._cash()
        refund, money_line = self._refund_payment(payment, self.reason_business)

        self.assertEqual(money_line, f"The client gets back {self._fmt(100.0)} in cash.")
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.policy_ids, self.service_policy)
        self.assertFalse(refund.fee_ids)
        self.assertEqual(refund.amount_fee, 0.0)
        self.assertAlmostEqual(refund.amount_paid_back, 100.0)
        self.assertAlmostEqual(self._cash() - cash_before, -100.0)
        self._assert_no_fee_income(refund)
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_advance_payment_no_show_keeps_it_all(self):
        payment = self._advance_payment(100.0)
        cash_before = self._cash()
        refund, money_line = self._refund_payment(payment, self.reason_no_show)

        self.assertTrue(money_line.startswith("Nothing goes back to the client;"), money_line)
        self._assert_fee(refund, self.service_policy, "no_show", 100.0, 100.0)
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertEqual(self._cash(), cash_before)
        fee_invoice = self._assert_fee_invoiced(refund, 86.96, 13.04)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertTrue(
            payment.move_id.line_ids.filtered(lambda line: line.account_id == self.receivable).reconciled
        )

    def test_advance_payment_kept_as_store_credit(self):
        self.company.client_refund_policy_id = self.store_credit_policy
        payment = self._advance_payment(100.0)
        cash_before = self._cash()
        refund, __ = self._refund_payment(payment, self.reason_late)

        self._assert_fee(refund, self.store_credit_policy, "late_cancel", 100.0, 50.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        self._assert_no_fee_income(refund)
        # the fee part moved from the client's receivable onto the eWallet's liability
        wallet = refund.ewallet_card_id
        self.assertEqual(wallet.program_id, self.deposit_wallet)
        self.assertEqual(wallet.partner_id, self.client)
        self.assertAlmostEqual(refund.amount_ewallet, 50.0)
        self.assertAlmostEqual(wallet.points, 50.0)
        self.assertAlmostEqual(wallet.history_ids.issued, 50.0)
        self.assertIn(refund.name, wallet.history_ids.description)
        self.assertAlmostEqual(self._account_balance(self.deposits), -50.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertTrue(
            payment.move_id.line_ids.filtered(lambda line: line.account_id == self.receivable).reconciled
        )

    def test_advance_payment_past_the_window_is_refused(self):
        self.company.client_refund_policy_id = self.retail_policy
        payment = self._advance_payment(100.0, days_ago=40)
        moves = self.env["account.move"].search_count([])
        with self.assertRefused("more than 30 days ago"):
            self._refund_payment(payment, self.reason_returned)
        self.assertEqual(self.env["account.move"].search_count([]), moves)
        self.assertFalse(self.env["client.refund"].search([]))

    # ------------------------------------------------------------------
    # an eWallet top-up
    # ------------------------------------------------------------------

    def _top_up(self, amount=100.0):
        """A deposit topped up on the client's eWallet, invoiced and paid in cash."""
        self._sell([(self.deposit_top_up, amount)])
        wallet = self._issue(self.deposit_wallet, amount)
        self.assertEqual(self._account_balance(self.deposits), -amount)
        return wallet

    def test_ewallet_deposit_late_cancellation_paid_out_keeps_the_fee_as_income(self):
        wallet = self._top_up()
        cash_before = self._cash()
        refund = self._refund(
            wallet, user=self.refund_user, reason_id=self.reason_late, refund_option="expense"
        )

        self._assert_fee(refund, self.service_policy, "late_cancel", 100.0, 50.0)
        self._assert_balance_refunded(refund, wallet, 0.0, closed=False, points_taken=100.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        # the wallet's liability goes down by all it held: 50.00 paid out, 50.00 the fee
        self.assertEqual(self._account_balance(self.deposits), 0.0)
        self.assertEqual(refund.payment_ids.destination_account_id, self.deposits)
        fee_invoice = self._assert_fee_invoiced(refund, 43.48, 6.52)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        # the fee moved out of the liability onto the receivable, paying the fee invoice
        settlement = refund.fee_move_ids - fee_invoice
        self.assertEqual(settlement.state, "posted")
        debit = settlement.line_ids.filtered(lambda line: line.account_id == self.deposits)
        self.assertAlmostEqual(debit.balance, 50.0)
        credit = settlement.line_ids - debit
        self.assertEqual(credit.account_id, self.receivable)
        self.assertTrue(credit.reconciled)
        self.assertEqual(credit.matched_debit_ids.debit_move_id.move_id, fee_invoice)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        self.assertEqual(self._account_balance(self.refund_account), 0.0)
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 0.0)
        # a manager's Cancel undoes the fee with the payout
        refund.with_user(self.refund_manager).action_cancel()
        self.assertEqual(set(refund.fee_move_ids.mapped("state")), {"cancel"})
        self.assertEqual(self._account_balance(self.fee_income), 0.0)
        self.assertAlmostEqual(self._account_balance(self.deposits), -100.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_ewallet_deposit_late_cancellation_cancels_the_top_up(self):
        wallet = self._top_up()
        cash_before = self._cash()
        wizard = self._wizard(wallet, user=self.refund_user, reason_id=self.reason_late)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_fee(refund, self.service_policy, "late_cancel", 100.0, 50.0)
        self._assert_balance_refunded(refund, wallet, 0.0, closed=False, points_taken=100.0)
        self.assertEqual(refund.credit_note_ids.state, "posted")
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        self.assertEqual(self._account_balance(self.deposits), 0.0)
        self._assert_fee_invoiced(refund, 43.48, 6.52)
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_ewallet_deposit_kept_as_store_credit_stays_on_the_wallet(self):
        self._set_policy(self.deposit_top_up, self.store_credit_policy)
        wallet = self._top_up()
        cash_before = self._cash()
        wizard = self._wizard(wallet, user=self.refund_user)
        self.assertEqual(wizard.refund_option, "cancel_sale")
        # the policy keeps part of the top-up on the wallet: its sale is not cancelled
        wizard.reason_id = self.reason_late
        self.assertEqual(wizard.refund_option, "expense")
        self.assertIn("store credit", wizard.cancel_blocker)
        self.assertNotIn("cancel_sale", wizard.option_choices)
        self.assertAlmostEqual(wizard.amount, 100.0)
        refund = self.env["client.refund"].browse(wizard.save().action_confirm()["res_id"])

        self._assert_fee(refund, self.store_credit_policy, "late_cancel", 100.0, 50.0)
        self._assert_balance_refunded(refund, wallet, 50.0, closed=False, points_taken=50.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        self._assert_no_fee_income(refund)
        # only what was paid out leaves the liability: the fee part is still owed, as store credit
        self.assertAlmostEqual(self._account_balance(self.deposits), -50.0)
        self.assertEqual(self._account_balance(self.receivable), 0.0)
        # spent at the salon, not cashed out
        self.assertAlmostEqual(wallet._client_refund_get_refundable_amount(), 0.0)

    def test_bad_input_ewallet_deposit_kept_as_store_credit_is_not_cancelled(self):
        self._set_policy(self.deposit_top_up, self.store_credit_policy)
        wallet = self._top_up()
        sale_line = wallet._client_refund_get_sales()[0]
        written = self._written()
        with self.assertRefused("is not cancelled"):
            self.env["client.refund"].with_user(self.refund_user)._check_new_request(
                {
                    "partner_id": self.client.id,
                    "company_id": self.company.id,
                    "currency_id": self.company.currency_id.id,
                    "source_type": "ewallet",
                    "scope": "full",
                    "source_card_id": wallet.id,
                    "amount": 100.0,
                    "line_ids": [Command.create(wallet._client_refund_prepare_sale_line_vals(sale_line))],
                    "payout_method": "journal",
                    "payout_journal_id": self.cash_journal.id,
                    "reason_id": self.reason_late.id,
                }
            )
        self.assertEqual(self._written(), written)
        self.assertAlmostEqual(wallet.points, 100.0)

    def _written(self):
        return (
            self.env["account.move"].search_count([]),
            self.env["account.payment"].search_count([]),
            self.env["client.refund"].search_count([]),
            self.env["loyalty.history"].search_count([]),
        )

    # ------------------------------------------------------------------
    # an invoice for a deposit product
    # ------------------------------------------------------------------

    def test_booking_deposit_invoice_late_cancellation(self):
        invoice = self._sell([(self.booking_deposit, 100.0)])
        cash_before = self._cash()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            wizard.reason_id = self.reason_late
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])

        self._assert_fee(refund, self.service_policy, "late_cancel", 100.0, 50.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 100.0)
        self.assertAlmostEqual(refund.amount_paid_back, 50.0)
        self.assertAlmostEqual(self._cash() - cash_before, -50.0)
        # booked from the deposits' liability to the fee's income
        self.assertEqual(self._account_balance(self.deposits), 0.0)
        self._assert_fee_invoiced(refund, 43.48, 6.52)
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    # ------------------------------------------------------------------
    # a visit pack, a membership
    # ------------------------------------------------------------------

    def _yoga_pack_with_six_visits_left(self):
        invoice = self._sell([(self.pack_product, 200.0)])
        pack = self._issue(self.yoga_pack, 10.0)
        self._change_balance(pack, 6.0, "4 classes")
        return invoice, pack

    def test_visit_pack_late_cancellation_credited(self):
        invoice, pack = self._yoga_pack_with_six_visits_left()
        cash_before = self._cash()
        revenue = self.company_data["default_account_revenue"]
        refund = self._refund(pack, user=self.refund_user, reason_id=self.reason_late)

        # 230.00 × 6 / 10 unused, of which the policy keeps half
        self._assert_fee(refund, self.service_policy, "late_cancel", 138.0, 69.0)
        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=6.0)
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 138.0)
        self.assertEqual(invoice.payment_state, "paid", "the rest stays paid")
        self.assertAlmostEqual(refund.amount_paid_back, 69.0)
        self.assertAlmostEqual(self._cash() - cash_before, -69.0)
        self._assert_fee_invoiced(refund, 60.0, 9.0)
        self.assertEqual(self._account_balance(revenue), -80.0, "200.00 sold, 120.00 credited")
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_visit_pack_no_show_paid_out_keeps_it_all(self):
        __, pack = self._yoga_pack_with_six_visits_left()
        cash_before = self._cash()
        refund = self._refund(
            pack, user=self.refund_user, reason_id=self.reason_no_show, refund_option="expense"
        )

        self._assert_fee(refund, self.service_policy, "no_show", 138.0, 138.0)
        self._assert_balance_refunded(refund, pack, 0.0, closed=True, points_taken=6.0)
        self.assertFalse(refund.payment_ids)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertEqual(self._cash(), cash_before)
        # the Refund account takes what is refunded, the fee is income of its own
        self.assertAlmostEqual(self._account_balance(self.refund_account), 138.0)
        fee_invoice = self._assert_fee_invoiced(refund, 120.0, 18.0)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._account_balance(self.receivable), 0.0)

    def test_visit_pack_sold_past_the_window_is_refused(self):
        self._set_policy(self.pack_product, self.retail_policy)
        self._sell([(self.pack_product, 200.0)], invoice_date=fields.Date.today() - timedelta(days=40))
        pack = self._issue(self.yoga_pack, 10.0)
        written = self._written()
        with self.assertRefused("more than 30 days ago"):
            self._refund(pack, user=self.refund_user, reason_id=self.reason_returned)
        self.assertEqual(self._written(), written)
        self.assertAlmostEqual(pack.points, 10.0)

    def test_membership_follows_its_product_late_cancellation_paid_out(self):
        today = fields.Date.today()
        # 30 days, today the 10th: 20 days left; 300 + 15 % tax
        gold = self._create_product(
            name="Gold Membership", type="service", lst_price=300.0, membership=True,
            membership_date_from=today - timedelta(days=9),
            membership_date_to=today + timedelta(days=20),
        )
        self.company.client_refund_policy_id = False
        self._set_policy(gold, self.service_policy)
        # core's membership invoice, paid in cash
        invoice = self.client.create_membership_invoice(gold, 300.0)
        invoice.action_post()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.cash_journal.id})._create_payments()
        line = self.env["membership.membership_line"].search(
            [("account_invoice_line", "in", invoice.invoice_line_ids.ids)]
        )
        cash_before = self._cash()
        refund = self._refund(
            membership_line=line, user=self.refund_user, reason_id=self.reason_late,
            refund_option="expense",
        )

        self._assert_fee(refund, self.service_policy, "late_cancel", 230.0, 115.0)
        self.assertEqual(line.date_to, today, "ends today")
        self.assertAlmostEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(refund.payment_ids.destination_account_id, self.refund_account)
        self.assertAlmostEqual(self._cash() - cash_before, -115.0)
        self.assertAlmostEqual(self._account_balance(self.refund_account), 230.0)
        fee_invoice = self._assert_fee_invoiced(refund, 100.0, 15.0)
        self.assertIn(fee_invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._account_balance(self.receivable), 0.0)
