import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import stripe

from odoo import Command, api, fields
from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.payment_stripe.controllers.main import StripeController


class QueryCountMixin:
    def _count_queries(self, function):
        """Queries run by `function`, with the cache as a new request has it."""
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        function()
        self.env.flush_all()
        return self.env.cr.sql_log_count - before


class LocalStripeMixin:
    """localstripe on 127.0.0.1 and a free port for the test class, with a
    Stripe provider of `company` whose API base URL points at it."""

    WEBHOOK_SECRET = "whsec_client_refund_tests"

    @classmethod
    def _setup_local_stripe(cls, company, journal):
        url = cls._start_localstripe()
        cls.env["ir.config_parameter"].sudo().set_param("client_refund.stripe_api_base", url)
        cls.stripe = stripe.StripeClient(
            "sk_test_client_refund", base_addresses={"api": url}, stripe_version="2019-05-16"
        )
        # sudo: the stock provider belongs to the main company, not the test one
        cls.provider = (
            cls.env.ref("payment.payment_provider_stripe")
            .sudo()
            .copy(
                {
                    "company_id": company.id,
                    "state": "test",
                    "stripe_secret_key": "sk_test_client_refund",
                    "stripe_publishable_key": "pk_test_client_refund",
                    "stripe_webhook_secret": cls.WEBHOOK_SECRET,
                    "journal_id": journal.id,
                }
            )
            .sudo(False)
        )
        cls.card_method = cls.env.ref("payment.payment_method_card")
        cls.provider.payment_method_ids = [Command.link(cls.card_method.id)]

    @classmethod
    def _start_localstripe(cls):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        script = os.path.join(os.path.dirname(__file__), "localstripe_server.py")
        server = subprocess.Popen(
            [sys.executable, script, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cls.addClassCleanup(server.wait, timeout=10)
        cls.addClassCleanup(server.terminate)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("localstripe did not start")

    def _captured_intent(self, amount, currency):
        """A card payment captured at Stripe: its PaymentIntent."""
        intent = self.stripe.v1.payment_intents.create(
            params={
                "amount": round(amount * 100),
                "currency": currency.name.lower(),
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
        self.assertEqual(intent.status, "succeeded")
        return intent

    def _card_payment(self, amount, invoice=None):
        """A payment online: a PaymentIntent captured at Stripe, and its
        transaction and payment in Odoo, as core's flow leaves them."""
        intent = self._captured_intent(amount, self.company.currency_id)
        transaction = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card_method.id,
                "amount": amount,
                "currency_id": self.company.currency_id.id,
                "partner_id": self.client.id,
                "operation": "online_direct",
                "invoice_ids": [Command.set(invoice.ids)] if invoice else [],
                "provider_reference": intent.id,
            }
        )
        transaction._set_done()
        transaction._post_process()
        self.assertTrue(transaction.payment_id)
        return transaction

    def _paid_by_card(self, lines=None):
        invoice = self._invoice(lines or [(self.haircut, 1, 100.0)])
        transaction = self._card_payment(invoice.amount_total, invoice)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        return invoice, transaction

    def _card_refund(self, invoice, mode="full", **values):
        # the card is proposed when it paid the most; these tests always choose it
        refund = self._refund(invoice, mode=mode, **{"payout_method": "card", **values})
        self.assertEqual(refund.payout_method, "card")
        self.assertEqual(refund.state, "pending")
        return refund

    def _post_stripe_event(self, event, secret=None):
        """`event` posted to the webhook over HTTP, signed with `secret` (the
        provider's webhook secret by default) as Stripe signs it."""
        payload = json.dumps(event)
        secret = secret or self.WEBHOOK_SECRET
        timestamp = int(time.time())
        signature = hmac.new(
            secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
        ).hexdigest()
        return self.url_open(
            "/payment/stripe/webhook",
            data=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": f"t={timestamp},v1={signature}",
            },
        )

    def _stripe_dashboard_refund(self, transaction, amount):
        """A refund of `transaction` made in the Stripe Dashboard, mirrored by
        core's webhook as a refund transaction."""
        dashboard_refund = self.stripe.v1.refunds.create(
            params={"payment_intent": transaction.provider_reference, "amount": round(amount * 100)}
        ).to_dict()
        StripeController._create_refund_tx_from_refund(
            transaction.sudo(), dashboard_refund
        )._handle_notification_data("stripe", {"refund": dashboard_refund})
        return dashboard_refund

    def _stripe_refunds(self, payment_intent_id):
        return self.stripe.v1.refunds.list(
            params={"payment_intent": payment_intent_id, "limit": 100}
        ).data


class CommittedDataMixin:
    """Tests that race real cursors need their data committed, where every
    cursor sees it, and deleted afterwards."""

    @contextmanager
    def _committed(self, build):
        """Commit what `build(env, created)` makes as the administrator (the
        records to delete go in created["cleanup"], [(model, ids)]); delete it
        afterwards with _delete_committed."""
        created = {}
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            admin_env = env(user=env.ref("base.user_admin"))
            build(admin_env, created)
            # The year's first refund number creates its date range: two first
            # refunds would queue on that row instead of racing on the document.
            admin_env["ir.sequence"].next_by_code("client.refund")
            cr.commit()  # pylint: disable=invalid-commit
        try:
            yield created
        finally:
            self._delete_committed(created)

    def _delete_committed(self, created):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {MODULE_UNINSTALL_FLAG: True})
            self._unlink_created(env, created)
            cr.commit()  # pylint: disable=invalid-commit

    @staticmethod
    def _unlink_created(env, created):
        """Delete created["cleanup"], the newest records first."""
        for model, ids in reversed(created.get("cleanup", [])):
            records = env[model].browse(ids).exists()
            if model == "account.move":
                records.line_ids.remove_move_reconcile()
                records.filtered(lambda m: m.state == "posted").button_draft()
            records.unlink()


class ClientRefundCommon(QueryCountMixin, AccountTestInvoicingCommon):
    @classmethod
    def default_env_context(cls):
        # the register and the chatter are the audit trail: keep tracking on
        return {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        cls.company_data_2 = cls.setup_other_company()
        cls.company_2 = cls.company_data_2["company"]
        cls.reason = cls.env.ref("client_refund.reason_client_request")
        cls.client = cls.env["res.partner"].create(
            {"name": "Client Alice", "email": "alice@example.com", "phone": "+32 470 11 22 33"}
        )
        both_companies = [Command.set((cls.company + cls.company_2).ids)]
        cls.refund_user = new_test_user(
            cls.env,
            login="refund_user",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=both_companies,
        )
        cls.refund_manager = new_test_user(
            cls.env,
            login="refund_manager",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=both_companies,
        )
        cls.internal_user = new_test_user(
            cls.env, login="no_refund_group", groups="base.group_user",
            company_id=cls.company.id,
        )
        cls.portal_user = new_test_user(
            cls.env, login="refund_portal", groups="base.group_portal",
            company_id=cls.company.id,
        )
        cls.company_2_user = new_test_user(
            cls.env,
            login="refund_user_company_2",
            groups="base.group_user,client_refund.group_client_refund_user",
            company_id=cls.company_2.id,
            company_ids=[Command.set(cls.company_2.ids)],
        )

    @classmethod
    def _create_register_entry(cls, company=None, **values):
        """A bare register entry, as the refund flows create them."""
        company = company or cls.company
        return (
            cls.env["client.refund"]
            .with_company(company)
            .sudo()  # as the refund's own methods record one
            .create(
                {
                    "partner_id": cls.client.id,
                    "company_id": company.id,
                    "currency_id": company.currency_id.id,
                    "source_type": "invoice",
                    "amount": 50.0,
                    "reason_id": cls.reason.id,
                    **values,
                }
            )
        )

    def _fmt(self, amount):
        """An amount as the screens write it, in the company's currency."""
        return self.company.currency_id.format(amount)

    @contextmanager
    def assertRefused(self, pattern, exception=UserError):
        """Like assertRaisesRegex, but in a savepoint that is rolled back, as the
        request that hit the error would be."""
        with self.assertRaises(exception) as caught:
            yield caught
        self.assertRegex(str(caught.exception), pattern)


class RefundPolicyMixin:
    """The owner's refund policies, as a salon sets them up: a cancellation
    fee product with its own income account and 15 % tax; services that keep
    50 % (at least 10.00) of a late cancellation and all of a no-show; retail
    returned within 30 days (refused after) or with a manager's approval
    after; opened cosmetics as final sale."""

    @classmethod
    def _setup_policies(cls, company=None):
        company = company or cls.company
        cls.fee_income = cls.env["account.account"].create(
            {
                "name": "Cancellation fees",
                "code": "FEE01",
                "account_type": "income_other",
                "company_ids": [Command.set(company.ids)],
            }
        )
        cls.fee_tax_account = cls.env["account.account"].create(
            {
                "name": "Fee tax payable",
                "code": "FEETAX",
                "account_type": "liability_current",
                "company_ids": [Command.set(company.ids)],
            }
        )
        repartition = [
            Command.create({"repartition_type": "base"}),
            Command.create({"repartition_type": "tax", "account_id": cls.fee_tax_account.id}),
        ]
        cls.fee_tax = cls.env["account.tax"].create(
            {
                "name": "Fee tax 15 %",
                "amount": 15.0,
                "type_tax_use": "sale",
                "company_id": company.id,
                "invoice_repartition_line_ids": repartition,
                "refund_repartition_line_ids": repartition,
            }
        )
        cls.fee_product = cls.env["product.product"].create(
            {
                "name": "Cancellation fee",
                "type": "service",
                "property_account_income_id": cls.fee_income.id,
                "taxes_id": [Command.set(cls.fee_tax.ids)],
            }
        )
        Policy = cls.env["client.refund.policy"].with_company(company)
        cls.service_policy = Policy.create(
            {
                "name": "Salon services",
                "company_id": company.id,
                "late_fee_percent": 50.0,
                "late_fee_min": 10.0,
                "no_show_fee_percent": 100.0,
                "fee_product_id": cls.fee_product.id,
                "client_text": "Late cancellations keep 50 %, no-shows the full price.",
            }
        )
        cls.retail_policy = Policy.create(
            {
                "name": "Retail",
                "company_id": company.id,
                "window_days": 30,
                "past_window": "refuse",
                "client_text": "Products are returned within 30 days.",
            }
        )
        cls.retail_approval_policy = Policy.create(
            {"name": "Retail, late with approval", "company_id": company.id,
             "window_days": 30, "past_window": "approval"}
        )
        cls.final_sale_policy = Policy.create(
            {"name": "Opened cosmetics", "company_id": company.id, "final_sale": True}
        )
        cls.reason_business = cls.env.ref("client_refund.reason_cancelled_by_business")
        cls.reason_late = cls.env.ref("client_refund.reason_late_cancellation")
        cls.reason_no_show = cls.env.ref("client_refund.reason_no_show")
        cls.reason_returned = cls.env.ref("client_refund.reason_product_returned")

    @classmethod
    def _set_policy(cls, product, policy):
        """`policy` on `product`, for the policy's company."""
        product.product_tmpl_id.with_company(policy.company_id).client_refund_policy_id = policy


class ClientRefundHttpFixtures:
    """What the browser tours refund, as a salon has it: a client with an
    invoice paid in cash (no tax), a paid order at an open till, a gift card
    sold on an invoice, and a front-desk user who invoices and works the till
    but has no accounting rights.

    HttpCase cannot build on AccountTestInvoicingCommon (it makes its own
    companies in a way the browser does not see), so the fixtures are minimal:
    the current company and its chart of accounts."""

    @classmethod
    def _setup_refund_fixtures(cls, price=100.0):
        cls.company = cls.env.company
        if not cls.company.chart_template:
            cls.env["account.chart.template"].try_loading(
                "generic_coa", company=cls.company, install_demo=False
            )
        Journal = cls.env["account.journal"]
        cls.cash_journal = Journal.search(
            [("company_id", "=", cls.company.id), ("type", "=", "cash")], limit=1
        )
        cls.company.write(
            {
                "client_refund_journal_id": cls.cash_journal.id,
                # made at once, whatever the database's own threshold
                "client_refund_approval_threshold": 0.0,
            }
        )
        cls.reason = cls.env.ref("client_refund.reason_client_request")
        cls.refund_user = new_test_user(
            cls.env,
            login="client_refund_tour_user",
            name="Tour Front Desk",
            groups="base.group_user,client_refund.group_client_refund_user,"
            "account.group_account_invoice,point_of_sale.group_pos_user",
            company_id=cls.company.id,
        )
        cls.client = cls.env["res.partner"].create(
            {"name": "Tour Client", "email": "tour.client@example.com"}
        )
        cls.invoice = cls._paid_invoice([("Haircut and colour", price)])

    @classmethod
    def _paid_invoice(cls, lines, product=None):
        """An invoice to the client paid in cash; lines: [(label, price)]."""
        invoice = cls.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": cls.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": name,
                            "product_id": product and product.id,
                            "price_unit": price,
                            "tax_ids": [],
                        }
                    )
                    for name, price in lines
                ],
            }
        )
        invoice.action_post()
        cls.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": cls.cash_journal.id})._create_payments()
        return invoice

    @classmethod
    def _setup_pos_order(cls):
        """A till with its own cash journal, open, and an order of a haircut and
        two shampoos paid in cash, made as the till makes them."""
        till_cash = cls.env["account.journal"].create(
            {"name": "Tour Till Cash", "type": "cash", "code": "TCSH"}
        )
        cash = cls.env["pos.payment.method"].create(
            {"name": "Tour Cash", "journal_id": till_cash.id, "is_cash_count": True}
        )
        cls.pos_config = cls.env["pos.config"].create(
            {"name": "Tour Till", "payment_method_ids": [Command.set(cash.ids)]}
        )
        session = cls.env["pos.session"].create({"config_id": cls.pos_config.id})
        session.set_opening_control(0.0, "")
        Product = cls.env["product.product"]
        cls.haircut = Product.create({"name": "Tour Haircut", "type": "service", "lst_price": 30.0,
                                      "taxes_id": [], "available_in_pos": True})
        cls.shampoo = Product.create({"name": "Tour Shampoo", "type": "consu", "lst_price": 12.0,
                                      "taxes_id": [], "available_in_pos": True})
        order = cls.env["pos.order"].create(
            {
                "session_id": session.id,
                "partner_id": cls.client.id,
                "amount_tax": 0.0,
                "amount_total": 0.0,
                "amount_paid": 0.0,
                "amount_return": 0.0,
                "lines": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "full_product_name": product.name,
                            "qty": qty,
                            "price_unit": product.lst_price,
                            "price_subtotal": 0.0,
                            "price_subtotal_incl": 0.0,
                        }
                    )
                    for product, qty in ((cls.haircut, 1), (cls.shampoo, 2))
                ],
            }
        )
        order.lines._onchange_amount_line_all()
        order._onchange_amount_all()
        cls.env["pos.make.payment"].with_context(active_id=order.id).create(
            {"payment_method_id": cash.id}
        ).check()
        cls.pos_order = order

    @classmethod
    def _setup_gift_card(cls):
        """A 50.00 gift card sold on an invoice paid in cash, then given out."""
        product = cls.env["product.product"].create(
            {"name": "Tour Gift Card", "type": "service", "lst_price": 50.0, "taxes_id": []}
        )
        program = cls.env["loyalty.program"].create(
            {
                "name": "Tour Gift Cards",
                "program_type": "gift_card",
                "applies_on": "future",
                "trigger": "auto",
                "client_refund_allow_balance": True,
                "rule_ids": [
                    Command.create(
                        {
                            "reward_point_mode": "money",
                            "reward_point_amount": 1.0,
                            "product_ids": [Command.set(product.ids)],
                        }
                    )
                ],
            }
        )
        cls.gift_card_invoice = cls._paid_invoice([("Tour Gift Card", 50.0)], product=product)
        cls.env["loyalty.generate.wizard"].create(
            {
                "program_id": program.id,
                "mode": "selected",
                "customer_ids": [Command.set(cls.client.ids)],
                "points_granted": 50.0,
            }
        ).generate_coupons()
        cls.gift_card = program.coupon_ids


class LoyaltyRefundMixin:
    """Programs as a salon sets them up, and the refund wizard as staff use it."""

    @classmethod
    def _setup_cash_and_deposits(cls):
        """Refunds paid out of the company's cash journal, the client's
        receivable, and a liability account for deposits."""
        cls.cash_journal = cls.company_data["default_journal_cash"]
        cls.company.client_refund_journal_id = cls.cash_journal
        cls.receivable = cls.company_data["default_account_receivable"]
        cls.client.property_account_receivable_id = cls.receivable
        cls.deposits = cls.env["account.account"].create(
            {"name": "Client deposits", "code": "DEP01", "account_type": "liability_current"}
        )

    @classmethod
    def _program(cls, name, program_type, product, allow=True, visit_pack=False, points=1.0):
        """A program whose product gives `points` per unit of money (or per unit
        bought, for a visit pack), refunds allowed by default."""
        return cls.env["loyalty.program"].create(
            {
                "name": name,
                "program_type": program_type,
                "applies_on": "future" if program_type != "loyalty" else "both",
                "trigger": "auto",
                "client_refund_is_visit_pack": visit_pack,
                "client_refund_allow_balance": allow,
                "rule_ids": [
                    Command.create(
                        {
                            "reward_point_mode": "unit" if visit_pack else "money",
                            "reward_point_amount": points,
                            "product_ids": [Command.set(product.ids)],
                        }
                    )
                ],
                "reward_ids": [
                    Command.create(
                        {
                            "reward_type": "discount",
                            "discount_mode": "per_point",
                            "discount": 1.0,
                            "discount_applicability": "order",
                            "required_points": 1.0,
                        }
                    )
                ],
            }
        )

    def _change_balance(self, card, new_balance, description="Visit"):
        """A use or a top-up, through core's Update Balance wizard."""
        self.env["loyalty.card.update.balance"].create(
            {"card_id": card.id, "new_balance": new_balance, "description": description}
        ).action_update_card_point()

    def _issue(self, program, points, partner=None):
        """A card given out with core's generate wizard, history included."""
        self.env["loyalty.generate.wizard"].create(
            {
                "program_id": program.id,
                "mode": "selected",
                "customer_ids": [Command.set((partner or self.client).ids)],
                "points_granted": points,
            }
        ).generate_coupons()
        return program.coupon_ids.sorted("id")[-1:]

    def _wizard(self, card=None, membership_line=None, user=None, **values):
        form = Form(
            self.env["client.refund.balance.wizard"]
            .with_user(user or self.env.user)
            .with_context(
                default_card_id=card and card.id,
                default_membership_line_id=membership_line and membership_line.id,
            )
        )
        form.reason_id = self.reason
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def _refund(self, card=None, membership_line=None, user=None, **values):
        wizard = self._wizard(card, membership_line, user=user, **values).save()
        action = wizard.action_confirm()
        return self.env["client.refund"].browse(action["res_id"])

    def _assert_balance_refunded(self, refund, card, points_left, closed, points_taken):
        """The card, its history and the register say what the refund did."""
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.source_card_id, card)
        self.assertAlmostEqual(card.points, points_left)
        self.assertEqual(card.active, not closed)
        history = self.env["loyalty.history"].search([("card_id", "=", card.id)], limit=1)
        self.assertAlmostEqual(history.used, points_taken)
        self.assertFalse(history.issued)
        self.assertIn(refund.name, history.description)
        self.assertIn(refund.user_id.name, history.description)
        self.assertIn(refund.reason_id.name, history.description)
        for document in (refund, card, refund.partner_id):
            if document:
                self.assertTrue(
                    any(refund.name in (m.body or "") for m in document.message_ids),
                    f"no refund message on {document}",
                )

    def _sell(self, lines, invoice_date=None, pay=True):
        """An invoice to the client, paid in cash. lines: [(product, price)]."""
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.client,
            invoice_date=invoice_date or fields.Date.today(),
            products=[product for product, __ in lines],
            post=False,
        )
        for line, (__, price) in zip(invoice.invoice_line_ids, lines):
            line.price_unit = price
        invoice.action_post()
        if pay:
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"journal_id": self.cash_journal.id})._create_payments()
        return invoice

    def _account_balance(self, account):
        groups = self.env["account.move.line"]._read_group(
            [("account_id", "=", account.id), ("parent_state", "=", "posted")],
            aggregates=["balance:sum"],
        )
        return self.company.currency_id.round(groups[0][0])

    def _cash(self):
        """What the cash and bank payments moved in and out."""
        payments = self.env["account.payment"].search([("state", "in", ("in_process", "paid"))])
        return self.company.currency_id.round(
            sum(sum(payment._seek_for_lines()[0].mapped("balance")) for payment in payments)
        )

    def _refund_to_ewallet(self, context, **values):
        """A refund made with the wizard opened with `context`, onto the eWallet
        unless `values` say otherwise."""
        with Form(
            self.env["client.refund.wizard"].with_user(self.refund_user).with_context(**context)
        ) as wizard:
            wizard.reason_id = self.reason
            wizard.payout_method = "ewallet"
            for name, value in values.items():
                setattr(wizard, name, value)
        return self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])

    def _order(self, lines):
        params = {"pos_order_lines_ui_args": lines, "customer": self.customer}
        return next(iter(self._create_orders([params]).values()))

    def _confirm_cards(self, order, program, points, card=None):
        """What the till sends once the order is paid (pos_loyalty): the card it
        made or topped up, and its history line when the program is nominative."""
        key = card.id if card else -1
        order.confirm_coupon_programs(
            {
                key: {
                    "points": points,
                    "program_id": program.id,
                    "coupon_id": key,
                    "barcode": False,
                    "partner_id": self.customer.id if program.is_nominative else False,
                }
            }
        )
        card = card or self.env["loyalty.card"].search([("source_pos_order_id", "=", order.id)])
        if program.is_nominative:
            order.add_loyalty_history_lines(
                [{"card_id": str(card.id), "won": points, "spent": 0}], []
            )
        return card
