"""The trust boundary: what a logged-in user sends over JSON-RPC.

Every test stands for an attack: a request crafted by hand against
/web/dataset/call_kw (or the Stripe webhook), as a refund user, a billing user
without refund groups, a portal user or another company's refund manager. Each
asserts that the request is refused (or that the refund waits for a manager's
approval) and that nothing was booked: the moves, payments, register rows and
lines, and the loyalty points, are counted before and after.
"""

import json
from contextlib import contextmanager
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_stripe.controllers.main import StripeController
from odoo.addons.payment_stripe.models.payment_provider import (
    PaymentProvider as StripePaymentProvider,
)

from .common import ClientRefundCommon, LocalStripeMixin, LoyaltyRefundMixin
from .test_invoice_refund import InvoiceRefundCommon

NAN = float("nan")
INFINITY = float("inf")

# the context keys the addon once read as parameters: none may do anything now
LEGACY_CONTEXT_KEYS = (
    "client_refund_register",
    "client_refund_sending_id",
    "client_refund_id",
    "client_refund_link_origin",
)


class RpcError(Exception):
    """The error of a JSON-RPC response: its `data.name` and `data.message`."""

    def __init__(self, data):
        self.name = data.get("name")
        self.message = data.get("message") or ""
        super().__init__(f"{self.name}: {self.message}")


class TrustBoundaryMixin:
    """JSON-RPC as the web client sends it, and the count of what was booked."""

    BOOKED_MODELS = ("account.move", "account.payment", "client.refund", "client.refund.line")

    @classmethod
    def _setup_trust_boundary_users(cls):
        cls.billing_user = new_test_user(
            cls.env,
            login="tb_billing",
            groups="base.group_user,account.group_account_invoice",
            company_id=cls.company.id,
        )
        cls.company_2_manager = new_test_user(
            cls.env,
            login="tb_manager_company_2",
            groups="base.group_user,client_refund.group_client_refund_manager,"
            "account.group_account_invoice",
            company_id=cls.company_2.id,
            company_ids=[Command.set(cls.company_2.ids)],
        )

    def setUp(self):
        super().setUp()
        self._rpc_login = None

    # ------------------------------------------------------------------
    # JSON-RPC
    # ------------------------------------------------------------------

    def _rpc(self, user, model, method, *args, context=None, **kwargs):
        """`model.method(*args, **kwargs)` through /web/dataset/call_kw, logged in
        as `user` (new_test_user's password is its login). Like HttpCase's
        make_jsonrpc_request, but an error response raises RpcError with the
        error's name AND message, and an HTTP error (a 500) fails the test."""
        if self._rpc_login != user.login:
            self.authenticate(user.login, user.login)
            self._rpc_login = user.login
        payload = json.dumps(  # NaN and Infinity are written as JSON literals
            {
                "id": 0,
                "jsonrpc": "2.0",
                "method": "call",
                "params": {
                    "model": model,
                    "method": method,
                    "args": list(args),
                    "kwargs": {**kwargs, "context": context or {}},
                },
            }
        )
        response = self.url_open(
            f"/web/dataset/call_kw/{model}/{method}",
            data=payload,
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(
            response.status_code,
            200,
            f"{model}.{method} answered HTTP {response.status_code}: {response.text[:1000]}",
        )
        body = response.json()
        # the request ran in its own savepoint: read the database again
        self.env.invalidate_all()
        if "error" in body:
            raise RpcError(body["error"]["data"])
        # a method that returns None gets a response without "result"
        return body.get("result")

    @contextmanager
    def assertRpcRefused(self, *exceptions, pattern=None):
        """The request gets an error response named one of `exceptions`
        (e.g. "UserError"), whose message matches `pattern`."""
        with self.assertRaises(RpcError) as caught:
            yield caught
        self.assertIn(
            caught.exception.name,
            [f"odoo.exceptions.{name}" for name in exceptions],
            f"unexpected error: {caught.exception}",
        )
        if pattern:
            self.assertRegex(caught.exception.message, pattern)

    def _wizard_over_rpc(self, user, vals, context=None, model="client.refund.wizard"):
        """Create the refund wizard with `vals` and confirm it, as a hand-made
        client would: the register refund made, or RpcError."""
        wizard_id = self._rpc(user, model, "create", vals, context=context)
        action = self._rpc(user, model, "action_confirm", [wizard_id], context=context)
        return self.env["client.refund"].browse(action["res_id"])

    # ------------------------------------------------------------------
    # what was booked
    # ------------------------------------------------------------------

    def _booked(self):
        self.env.invalidate_all()
        counts = {
            model: self.env[model].sudo().with_context(active_test=False).search_count([])
            for model in self.BOOKED_MODELS
        }
        cards = self.env["loyalty.card"].sudo().with_context(active_test=False).search([])
        counts["loyalty.card points"] = round(sum(cards.mapped("points")), 2)
        return counts

    def assertNothingBooked(self, before, **changes):
        """Nothing was booked since `before` but `changes` ({model: added})."""
        expected = dict(before)
        for key, added in changes.items():
            expected[key.replace("_", ".")] += added
        self.assertEqual(self._booked(), expected, "something was booked")


# ----------------------------------------------------------------------
# invoices: the register, the wizard, approval, context keys, numbers
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestTrustBoundary(TrustBoundaryMixin, InvoiceRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls.company.client_refund_approval_threshold = 1000.0
        cls.mallory = cls.env["res.partner"].create({"name": "Mallory"})

    # helpers ----------------------------------------------------------

    def _untaxed_invoice(self, prices, currency=None):
        """A posted invoice to the client, one Haircut line per price, no tax."""
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "currency_id": (currency or self.company.currency_id).id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": self.haircut.id,
                            "quantity": 1.0,
                            "price_unit": price,
                            "tax_ids": [Command.clear()],
                        }
                    )
                    for price in prices
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _vals(self, invoice, **values):
        return {
            "source_type": "invoice",
            "move_id": invoice.id,
            "reason_id": self.reason.id,
            **values,
        }

    def _done_lines_refund(self, invoice, line, quantity=1.0):
        """A refund of `quantity` of `line`, made by the refund user."""
        wizard = (
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .create(
                self._vals(
                    invoice,
                    refund_mode="lines",
                    line_ids=[Command.create({"move_line_id": line.id, "quantity": quantity})],
                )
            )
        )
        refund = self.env["client.refund"].browse(wizard.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertTrue(refund.line_ids)
        return refund

    # 1. the register ---------------------------------------------------

    def test_register_rows_cannot_be_created_over_rpc(self):
        """Attack: a refund user or manager writes a register row by hand,
        state done and a number of their own, to record a refund nobody made
        (with each context key that once opened the register)."""
        invoice = self._untaxed_invoice([100.0])
        booked = self._booked()
        vals = {
            "partner_id": self.client.id,
            "source_type": "invoice",
            "source_move_id": invoice.id,
            "scope": "full",
            "amount": 1.0,
            "currency_id": self.company.currency_id.id,
            "reason_id": self.reason.id,
            "payout_method": "credit",
            "state": "done",
            "name": "RF/2000/00001",
        }
        context = {key: True for key in LEGACY_CONTEXT_KEYS}
        for user in (self.refund_user, self.refund_manager):
            with self.subTest(user=user.login):
                with self.assertRpcRefused("AccessError"):
                    self._rpc(user, "client.refund", "create", vals)
                with self.assertRpcRefused("AccessError"):
                    self._rpc(user, "client.refund", "create", vals, context=context)
        self.assertNothingBooked(booked)
        self.assertFalse(invoice.reversal_move_ids)

    def test_register_only_the_note_can_be_written(self):
        """Attack: a manager rewrites a done refund over RPC (its amount, state,
        number, client, approver), with and without the context keys that once
        let the addon's own code write it."""
        invoice = self._untaxed_invoice([100.0, 50.0])
        refund = self._done_lines_refund(invoice, invoice.invoice_line_ids[1])
        booked = self._booked()
        name, amount = refund.name, refund.amount
        forged = {
            "amount": 0.01,
            "state": "draft",
            "name": "RF/2000/00001",
            "partner_id": self.mallory.id,
            "approver_id": self.refund_manager.id,
            "currency_id": self.env.ref("base.EUR").id,
        }
        for user in (self.refund_user, self.refund_manager):
            for fname, value in forged.items():
                for context in ({}, {key: refund.id for key in LEGACY_CONTEXT_KEYS}):
                    with self.subTest(user=user.login, field=fname, context=bool(context)):
                        with self.assertRpcRefused("UserError", pattern="cannot be changed"):
                            self._rpc(
                                user, "client.refund", "write", [refund.id], {fname: value},
                                context=context,
                            )
        # the note may be written, alone, and with nothing else
        with self.assertRpcRefused("UserError", pattern="cannot be changed"):
            self._rpc(
                self.refund_user, "client.refund", "write", [refund.id],
                {"note": "ok", "amount": 0.01},
            )
        self.assertTrue(
            self._rpc(
                self.refund_user, "client.refund", "write", [refund.id],
                {"note": "Client called back."},
            )
        )
        self.assertEqual(refund.note, "Client called back.")
        self.assertEqual((refund.name, refund.amount, refund.state), (name, amount, "done"))
        self.assertEqual(refund.partner_id, self.client)
        self.assertFalse(refund.approver_id)
        self.assertNothingBooked(booked)

    def test_register_cannot_be_unlinked_or_copied(self):
        """Attack: a manager deletes a refund from the register, done or draft,
        to erase the record of a refund, or duplicates one to get a second row
        to confirm or to show. Nobody deletes a row, and nobody creates one, so
        nobody copies one."""
        invoice = self._untaxed_invoice([100.0, 50.0])
        done = self._done_lines_refund(invoice, invoice.invoice_line_ids[0])
        draft = self._create_register_entry(source_move_id=invoice.id, amount=5.0)
        booked = self._booked()
        for method in ("unlink", "copy"):
            for user in (self.refund_user, self.refund_manager):
                for refund in (done, draft):
                    with self.subTest(method=method, user=user.login, state=refund.state):
                        with self.assertRpcRefused("AccessError"):
                            self._rpc(user, "client.refund", method, [refund.id])
        self.assertTrue(done.exists() and draft.exists())
        self.assertEqual(done.state, "done")
        self.assertNothingBooked(booked)

    def test_register_lines_are_read_only(self):
        """Attack: a manager adds, changes or removes a line of a done refund
        (what was refunded, and the quantities the next refund is offered)."""
        invoice = self._untaxed_invoice([100.0, 50.0])
        refund = self._done_lines_refund(invoice, invoice.invoice_line_ids[1])
        line = refund.line_ids
        booked = self._booked()
        for user in (self.refund_user, self.refund_manager):
            with self.subTest(user=user.login):
                with self.assertRpcRefused("AccessError"):
                    self._rpc(
                        user, "client.refund.line", "create",
                        {
                            "refund_id": refund.id,
                            "move_line_id": invoice.invoice_line_ids[0].id,
                            "quantity": 1.0,
                            "amount": 100.0,
                        },
                    )
                with self.assertRpcRefused("AccessError"):
                    self._rpc(
                        user, "client.refund.line", "write", [line.id],
                        {"quantity": 0.0, "amount": 0.0},
                    )
                with self.assertRpcRefused("AccessError"):
                    self._rpc(user, "client.refund.line", "unlink", [line.id])
        self.assertEqual((line.quantity, line.amount), (1.0, 50.0))
        self.assertNothingBooked(booked)

    def test_numbers_come_from_the_sequence_and_are_unique_per_company(self):
        """Attack: a refund recorded under a number of the caller's choosing, or
        two refunds of a company sharing a number."""
        booked = self._booked()
        first = self._create_register_entry(name="RF/2000/00001")
        second = self._create_register_entry(name="RF/2000/00001")
        other_company = self._create_register_entry(company=self.company_2, name="RF/2000/00001")
        for refund in (first, second, other_company):
            self.assertRegex(refund.name, r"^RF/\d{4}/\d{5}$")
            self.assertNotEqual(refund.name, "RF/2000/00001")
        self.assertNotEqual(first.name, second.name)
        with self.assertRpcRefused("UserError", pattern="cannot be changed"):
            self._rpc(self.refund_manager, "client.refund", "write", [second.id], {"name": first.name})
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                second.sudo().write({"name": first.name})
                self.env.flush_all()
        self.assertNothingBooked(booked, client_refund=3)

    # 2. amounts derived from the source ----------------------------------

    def test_token_amount_left_on_a_wizard_line_does_not_dodge_the_threshold(self):
        """Attack: a "Some lines" wizard sent with amount_left 0.01 on a line of
        1,500.00 (threshold 1,000.00), so that the refund looks like a cent."""
        invoice = self._untaxed_invoice([1500.0])
        line = invoice.invoice_line_ids
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(
                invoice,
                refund_mode="lines",
                amount=0.01,
                line_ids=[
                    Command.create(
                        {
                            "move_line_id": line.id,
                            "quantity": 1.0,
                            "quantity_left": 1.0,
                            "amount_left": 0.01,
                        }
                    )
                ],
            ),
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 1500.0)
        self.assertAlmostEqual(refund.amount_company_currency, 1500.0)
        self.assertFalse(refund.credit_note_ids)
        self.assertFalse(invoice.reversal_move_ids, "nothing is credited before approval")
        self.assertNothingBooked(booked, client_refund=1, client_refund_line=1)

    def test_token_amount_on_a_full_refund_does_not_dodge_the_threshold(self):
        """Attack: a full refund of a 1,500.00 invoice sent with amount 0.01."""
        invoice = self._untaxed_invoice([1500.0])
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user, self._vals(invoice, refund_mode="full", amount=0.01)
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 1500.0)
        self.assertFalse(invoice.reversal_move_ids)
        self.assertNothingBooked(booked, client_refund=1)

    def test_split_refunds_add_up_against_the_threshold(self):
        """Attack: a 1,200.00 invoice (threshold 1,000.00) refunded in two halves
        of 600.00, each below the threshold: the second waits."""
        invoice = self._untaxed_invoice([1200.0])
        first = self._wizard_over_rpc(
            self.refund_user, self._vals(invoice, refund_mode="amount", amount=600.0)
        )
        self.assertEqual(first.state, "done")
        self.assertAlmostEqual(first.credit_note_ids.amount_total, 600.0)
        booked = self._booked()
        second = self._wizard_over_rpc(
            self.refund_user, self._vals(invoice, refund_mode="amount", amount=600.0)
        )
        self.assertEqual(second.state, "to_approve")
        self.assertFalse(second.credit_note_ids)
        self.assertAlmostEqual(invoice._client_refund_get_credited_amount(), 600.0)
        self.assertNothingBooked(booked, client_refund=1)

    def test_daily_cap_makes_the_rest_of_the_day_wait(self):
        """Attack: many small refunds in a day, each below the threshold: beyond
        the daily cap (100.00), the requester's refunds wait."""
        self.company.client_refund_daily_cap = 100.0
        first = self._wizard_over_rpc(
            self.refund_user, self._vals(self._untaxed_invoice([80.0]))
        )
        self.assertEqual(first.state, "done")
        invoice = self._untaxed_invoice([30.0])
        booked = self._booked()
        second = self._wizard_over_rpc(self.refund_user, self._vals(invoice))
        self.assertEqual(second.state, "to_approve")
        self.assertIn("daily", " ".join(second.message_ids.mapped("body")))
        self.assertFalse(invoice.reversal_move_ids)
        self.assertNothingBooked(booked, client_refund=1)

    def test_context_defaults_do_not_backdate_or_preset_a_refund(self):
        """Attack: the wizard confirmed with default_date (yesterday's refunds do
        not count against today's cap), default_user_id, default_approver_id in
        the context: the register records none of them, and the cap holds."""
        self.company.client_refund_daily_cap = 100.0
        context = {
            "default_date": "2000-01-01 00:00:00",
            "default_user_id": self.refund_manager.id,
            "default_approver_id": self.refund_manager.id,
            "default_date_approved": "2000-01-01 00:00:00",
        }
        first = self._wizard_over_rpc(
            self.refund_user, self._vals(self._untaxed_invoice([80.0])), context=context
        )
        self.assertEqual(first.state, "done")
        self.assertEqual(first.user_id, self.refund_user)
        self.assertFalse(first.approver_id)
        self.assertFalse(first.date_approved)
        self.assertEqual(first.date.date(), fields.Date.today())
        invoice = self._untaxed_invoice([30.0])
        booked = self._booked()
        second = self._wizard_over_rpc(self.refund_user, self._vals(invoice), context=context)
        self.assertEqual(second.state, "to_approve", "the backdated refund counts today")
        self.assertFalse(invoice.reversal_move_ids)
        self.assertNothingBooked(booked, client_refund=1)

    def test_lines_refund_above_the_threshold_is_approved_then_made(self):
        """Attack foiled, then the honest path: a "Some lines" refund of 1,200.00
        waits; another manager approves it over RPC and it is made."""
        invoice = self._untaxed_invoice([1200.0, 300.0])
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(
                invoice,
                refund_mode="lines",
                line_ids=[
                    Command.create(
                        {"move_line_id": invoice.invoice_line_ids[0].id, "quantity": 1.0}
                    )
                ],
            ),
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 1200.0)
        self.assertNothingBooked(booked, client_refund=1, client_refund_line=1)
        # the requester cannot approve it
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund", "action_approve", [refund.id])
        self.assertEqual(refund.state, "to_approve")
        self.assertTrue(
            self._rpc(self.refund_manager, "client.refund", "action_approve", [refund.id])
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.approver_id, self.refund_manager)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.state, "posted")
        self.assertAlmostEqual(credit_note.amount_total, 1200.0)
        self.assertEqual(credit_note.invoice_line_ids.origin_line_id, invoice.invoice_line_ids[0])
        self.assertAlmostEqual(invoice.amount_residual, 300.0)
        self.assertNothingBooked(booked, account_move=1, client_refund=1, client_refund_line=1)

    def test_currency_other_than_the_invoices_does_not_lower_the_amount(self):
        """Attack: a 1,500.00 USD invoice refunded with the wizard (and the
        context's default) saying EUR at 1,000 EUR per USD: 1,500 EUR is 1.50 USD,
        far below the threshold."""
        eur = self.setup_other_currency("EUR", rates=[("2000-01-01", 1000.0)])
        invoice = self._untaxed_invoice([1500.0])
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(invoice, currency_id=eur.id),
            context={"default_currency_id": eur.id},
        )
        self.assertEqual(refund.currency_id, self.company.currency_id)
        self.assertAlmostEqual(refund.amount_company_currency, 1500.0)
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(invoice.reversal_move_ids)
        self.assertNothingBooked(booked, client_refund=1)

    # 4. checks on the model path ---------------------------------------------

    def test_model_path_refuses_what_the_form_would_not_offer(self):
        """Attack: wizard values the form never sends: another company, another
        client, no client, a till payout for an invoice."""
        invoice = self._untaxed_invoice([100.0])
        self._pay(invoice)
        both_companies = {"allowed_company_ids": (self.company + self.company_2).ids}
        booked = self._booked()
        cases = {
            "another company": (
                {"company_id": self.company_2.id},
                both_companies,
                # the addon's own check, or core's check_company on the invoice
                "belongs to .*, not to company_2|Incompatible companies",
            ),
            "another client": ({"partner_id": self.mallory.id}, {}, "not by Mallory"),
            "no client": ({"partner_id": False}, {}, "was paid by Client Alice"),
            "till payout": (
                {"payout_method": "pos"},
                {},
                # "Only Point of Sale orders are paid back through a till", or
                # "<invoice> is not paid back by Point of Sale: choose ..."
                "Point of Sale",
            ),
        }
        for label, (values, context, pattern) in cases.items():
            with self.subTest(label):
                with self.assertRpcRefused("UserError", pattern=pattern):
                    self._wizard_over_rpc(
                        self.refund_user, self._vals(invoice, **values), context=context
                    )
        self.assertEqual(invoice.payment_state, "paid")
        self.assertNothingBooked(booked)

    def test_outsiders_cannot_refund_or_approve(self):
        """Attack: a portal user, a billing user without refund groups and
        another company's refund manager call the wizard and the register."""
        invoice = self._untaxed_invoice([1500.0])
        waiting = self._wizard_over_rpc(self.refund_user, self._vals(invoice))
        self.assertEqual(waiting.state, "to_approve")
        booked = self._booked()
        for user in (self.portal_user, self.billing_user, self.company_2_manager):
            with self.subTest(user=user.login):
                with self.assertRpcRefused("AccessError"):
                    self._wizard_over_rpc(user, self._vals(invoice))
                with self.assertRpcRefused("AccessError"):
                    self._rpc(user, "client.refund", "action_approve", [waiting.id])
                with self.assertRpcRefused("AccessError"):
                    self._rpc(user, "client.refund", "write", [waiting.id], {"note": "x"})
        self.assertEqual(waiting.state, "to_approve")
        self.assertFalse(waiting.note)
        self.assertNothingBooked(booked)

    # 3. context keys ----------------------------------------------------------

    def test_line_named_twice_is_checked_against_what_is_left(self):
        """Attack: a refund by lines names the same invoice line twice, one unit
        each, to credit it twice and refund the other line's money."""
        invoice = self._untaxed_invoice([100.0, 100.0])
        line = invoice.invoice_line_ids[0]
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern="left to refund, not 1.0"):
            self._wizard_over_rpc(
                self.refund_user,
                self._vals(
                    invoice,
                    refund_mode="lines",
                    payout_method="credit",
                    line_ids=[
                        Command.create({"move_line_id": line.id, "quantity": 1.0}),
                        Command.create({"move_line_id": line.id, "quantity": 1.0}),
                    ],
                ),
            )
        self.assertNothingBooked(booked)

    def test_copy_with_link_origin_does_not_make_the_invoice_look_credited(self):
        """Attack: a billing user copies an invoice with client_refund_link_origin
        in the context and posts the copy, so that its lines claim to credit the
        original's: the original still has everything left to refund."""
        invoice = self._invoice([(self.haircut, 1, 100.0), (self.shampoo, 2, 25.0)])
        self._pay(invoice)
        booked = self._booked()
        context = {key: True for key in LEGACY_CONTEXT_KEYS}
        copy_id = self._rpc(self.billing_user, "account.move", "copy", [invoice.id], context=context)
        copy_id = copy_id[0] if isinstance(copy_id, list) else copy_id
        self._rpc(self.billing_user, "account.move", "action_post", [copy_id], context=context)
        copy = self.env["account.move"].browse(copy_id)
        self.assertEqual(copy.state, "posted")
        self.assertFalse(copy.invoice_line_ids.origin_line_id)
        self.assertNothingBooked(booked, account_move=1)

        with self._wizard_form(invoice) as wizard:
            self.assertAlmostEqual(wizard.amount_refundable, 172.5)
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
        left = {line.move_line_id: line.quantity_left for line in wizard.record.line_ids}
        self.assertEqual(left, {line: line.quantity for line in invoice.invoice_line_ids})
        refund = self._refund(invoice)
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 172.5)
        self.assertEqual(invoice.payment_state, "reversed")

    # 5. numbers that are not numbers ---------------------------------------

    def test_nan_and_infinity_are_validation_errors_over_json_rpc(self):
        """Attack: NaN, Infinity and 1e20 (JSON-RPC parses the literals) as the
        wizard's amount, discount, amount kept and line quantity, on create,
        write and onchange: a ValidationError, never a ValueError or a 500."""
        invoice = self._untaxed_invoice([100.0, 50.0])
        wizard_id = self._rpc(
            self.refund_user, "client.refund.wizard", "create",
            self._vals(
                invoice,
                refund_mode="lines",
                line_ids=[
                    Command.create({"move_line_id": invoice.invoice_line_ids[0].id, "quantity": 0.0})
                ],
            ),
        )
        line_id = self.env["client.refund.wizard"].browse(wizard_id).line_ids.id
        booked = self._booked()
        partial = {"refund_mode": "amount"}
        calls = {
            "create amount NaN": ("create", [self._vals(invoice, amount=NAN, **partial)]),
            "create discount Infinity": (
                "create",
                [self._vals(invoice, partial_by="discount", discount_percent=INFINITY, **partial)],
            ),
            "create amount kept 1e20": (
                "create",
                [self._vals(invoice, partial_by="kept", amount_kept=1e20, **partial)],
            ),
            "create line quantity NaN": (
                "create",
                [
                    self._vals(
                        invoice,
                        refund_mode="lines",
                        line_ids=[
                            Command.create(
                                {"move_line_id": invoice.invoice_line_ids[0].id, "quantity": NAN}
                            )
                        ],
                    )
                ],
            ),
            "write amount -Infinity": ("write", [[wizard_id], {"amount": -INFINITY}]),
            "write line quantity Infinity": (
                "write",
                [[wizard_id], {"line_ids": [Command.update(line_id, {"quantity": INFINITY})]}],
            ),
            "onchange amount NaN": (
                "onchange",
                [
                    [],
                    {**self._vals(invoice, amount=NAN, **partial)},
                    ["amount"],
                    {"amount": {}, "discount_percent": {}, "amount_kept": {}},
                ],
            ),
        }
        for label, (method, args) in calls.items():
            with self.subTest(label):
                with self.assertRpcRefused("ValidationError"):
                    self._rpc(self.refund_user, "client.refund.wizard", method, *args)
        with self.subTest("wizard line write quantity NaN"):
            with self.assertRpcRefused("ValidationError"):
                self._rpc(
                    self.refund_user, "client.refund.wizard.line", "write", [line_id],
                    {"quantity": NAN},
                )
        self.assertEqual(self.env["client.refund.wizard.line"].browse(line_id).quantity, 0.0)
        self.assertNothingBooked(booked)

    # the front desk's forms (issue 16) -----------------------------------

    ONCHANGE_SPEC = {"refusal": {}, "money_line": {}, "payout_choices": {}, "tender_summary": {}}

    def _paid_untaxed(self, price=100.0):
        invoice = self._untaxed_invoice([price])
        self._pay(invoice)
        return invoice

    def test_wizard_onchange_answers_only_who_may_refund(self):
        """The form's answers (what is left, how it was paid, what the register
        would say) are not for a billing user without refund groups, nor for a
        portal user, though core's onchange checks no access."""
        invoice = self._paid_untaxed()
        values = {"source_type": "invoice", "move_id": invoice.id}
        for user in (self.billing_user, self.portal_user):
            for model in ("client.refund.wizard", "client.refund.balance.wizard"):
                with self.subTest(user=user.login, model=model):
                    with self.assertRpcRefused("AccessError"):
                        self._rpc(user, model, "onchange", [], values, [], self.ONCHANGE_SPEC)
        answer = self._rpc(self.refund_user, "client.refund.wizard", "onchange", [], values, [],
                           self.ONCHANGE_SPEC)
        self.assertIn("in cash", answer["value"]["money_line"])

    def test_wizard_does_not_name_another_companys_refund(self):
        """Naming another company's refund as the one to replace is refused as
        an access error, without its number."""
        other = self._create_register_entry(company=self.company, source_move_id=self._paid_untaxed().id)
        invoice = self.env["account.move"].with_company(self.company_2).create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "company_id": self.company_2.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [Command.create({"name": "x", "price_unit": 50.0, "tax_ids": []})],
            }
        )
        invoice.action_post()
        answer = self._rpc(
            self.company_2_manager, "client.refund.wizard", "onchange", [],
            {"source_type": "invoice", "move_id": invoice.id, "failed_refund_id": other.id},
            ["failed_refund_id"], {"refusal": {}},
        )
        self.assertTrue(answer["value"]["refusal"])
        self.assertNotIn(other.name, answer["value"]["refusal"])

    def test_wizard_crafted_selections_and_sources_are_user_errors(self):
        invoice = self._paid_untaxed()
        before = self._booked()
        for values in (
            {"source_type": False, "move_id": invoice.id},
            {"source_type": "invoice", "move_id": invoice.id, "payout_method": "bogus"},
            {"source_type": "invoice", "move_id": invoice.id, "refund_mode": "everything"},
        ):
            with self.subTest(values=values):
                with self.assertRpcRefused("UserError", "ValidationError"):
                    self._rpc(self.refund_user, "client.refund.wizard", "onchange", [], values,
                              list(values), self.ONCHANGE_SPEC)
                with self.assertRpcRefused("UserError", "ValidationError"):
                    self._wizard_over_rpc(self.refund_user, self._vals(invoice, **values))
        self.assertNothingBooked(before)

    def test_wizard_refuses_another_companys_journal_before_confirm(self):
        invoice = self._paid_untaxed()
        journal = self.company_data_2["default_journal_cash"]
        answer = self._rpc(
            self.refund_user, "client.refund.wizard", "onchange", [],
            {"source_type": "invoice", "move_id": invoice.id, "payout_journal_id": journal.id},
            ["payout_journal_id"], {"refusal": {}, "money_line": {}},
        )
        self.assertRegex(answer["value"]["refusal"], "is a journal of .*, not of")
        self.assertFalse(answer["value"]["money_line"])
        before = self._booked()
        with self.assertRpcRefused("UserError", "ValidationError"):
            self._wizard_over_rpc(self.refund_user, self._vals(invoice, payout_journal_id=journal.id))
        self.assertNothingBooked(before)



# ----------------------------------------------------------------------
# card refunds: Stripe (localstripe), the webhook, core's refund button
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestTrustBoundaryCard(TrustBoundaryMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls._setup_local_stripe(cls.company, cls.bank_journal)

    def _vals(self, invoice, **values):
        return {"source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id, **values}

    def _done_card_refund(self, amount=30.0):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=amount)
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")
        return invoice, transaction, refund

    def _core_stripe_request(self):
        """Core's requests to Stripe go to localstripe, as they would go to Stripe."""
        stripe_client = self.stripe

        def make_request(provider, endpoint, payload=None, method="POST", offline=False,
                         idempotency_key=None):
            self.assertEqual((endpoint, method), ("refunds", "POST"))
            return stripe_client.v1.refunds.create(params=payload).to_dict()

        return patch.object(StripePaymentProvider, "_stripe_make_request", make_request)

    # 3. context keys ----------------------------------------------------------

    def test_context_key_sending_id_does_not_free_the_card(self):
        """Attack: a second card refund of an invoice whose full card refund
        waits for Stripe, with client_refund_sending_id naming the waiting one,
        so that it would not count: the invoice is refunded in full already."""
        invoice, transaction = self._paid_by_card()
        waiting = self._card_refund(invoice, user=self.refund_user)
        booked = self._booked()
        for context in (
            {"client_refund_sending_id": waiting.id},
            {key: waiting.id for key in LEGACY_CONTEXT_KEYS},
        ):
            with self.subTest(context=list(context)):
                with self.assertRpcRefused("UserError", pattern="refunded in full already|at most"):
                    self._wizard_over_rpc(
                        self.refund_user,
                        self._vals(invoice, refund_mode="amount", amount=50.0, payout_method="card"),
                        context=context,
                    )
        self.assertEqual(waiting.state, "pending")
        self.assertFalse(waiting.payment_transaction_id)
        self.assertEqual(len(self._stripe_refunds(transaction.provider_reference)), 0)
        self.assertNothingBooked(booked)

    def test_billing_user_core_refund_with_client_refund_id_links_nothing(self):
        """Attack: a billing user without refund groups refunds the card with
        core's Refund button (payment.refund.wizard, payment.transaction
        action_refund), client_refund_id naming a register refund waiting for
        Stripe: core's refund is made, the register refund is left alone."""
        invoice, transaction = self._paid_by_card()
        waiting = self._card_refund(invoice, mode="amount", amount=40.0, user=self.refund_user)
        payment = transaction.payment_id
        booked = self._booked()
        context = {key: waiting.id for key in LEGACY_CONTEXT_KEYS}
        with self._core_stripe_request():
            wizard_id = self._rpc(
                self.billing_user, "payment.refund.wizard", "create",
                {"payment_id": payment.id, "amount_to_refund": 20.0}, context=context,
            )
            self._rpc(
                self.billing_user, "payment.refund.wizard", "action_refund", [wizard_id],
                context=context,
            )
            # and straight on the transaction
            self._rpc(
                self.billing_user, "payment.transaction", "action_refund", [transaction.id],
                amount_to_refund=10.0, context=context,
            )
        core_refunds = transaction.child_transaction_ids.filtered(lambda tx: tx.operation == "refund")
        self.assertEqual(sorted(core_refunds.mapped("amount")), [-20.0, -10.0])
        self.assertFalse(core_refunds.client_refund_ids)
        self.assertEqual(waiting.state, "pending")
        self.assertFalse(waiting.payment_transaction_id)
        self.assertAlmostEqual(waiting.amount, 40.0)
        self.assertAlmostEqual(waiting.amount_to_card, 40.0)
        self.assertEqual(waiting.amount_paid_back, 0.0, "nothing went back yet")
        self.assertFalse(waiting.credit_note_ids or waiting.payment_ids)
        self.assertNothingBooked(booked)

    def test_context_default_transaction_does_not_book_a_card_refund(self):
        """Attack: a card refund confirmed with default_payment_transaction_id
        naming a refund transaction Stripe made for someone else (a Dashboard
        refund): the register would book it as made without Stripe making it."""
        invoice, transaction = self._paid_by_card()
        dashboard_refund = self.stripe.v1.refunds.create(
            params={"payment_intent": transaction.provider_reference, "amount": 1500}
        ).to_dict()
        dashboard_tx = StripeController._create_refund_tx_from_refund(
            transaction.sudo(), dashboard_refund
        )
        dashboard_tx._handle_notification_data("stripe", {"refund": dashboard_refund})
        self.assertEqual(dashboard_tx.state, "done")
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(invoice, refund_mode="amount", amount=40.0, payout_method="card"),
            context={
                "default_payment_transaction_id": dashboard_tx.id,
                "default_card_last4": "0000",
                "default_amount_paid_back": 40.0,
                "default_amount_to_card": 0.0,
            },
        )
        self.assertEqual(refund.state, "pending")
        self.assertFalse(refund.payment_transaction_id)
        self.assertFalse(dashboard_tx.client_refund_ids)
        self.assertAlmostEqual(refund.amount_to_card, 40.0)
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertNothingBooked(booked, client_refund=1)

    # 6. the webhook -----------------------------------------------------------

    def test_lines_refund_counts_the_stripe_dashboard_refunds(self):
        """Attack: 100.00 of a 115.00 card payment went back in the Stripe
        Dashboard; a refund of the whole line by lines would pay 115.00 more in
        cash."""
        invoice, transaction = self._paid_by_card()
        self._stripe_dashboard_refund(transaction, 100.0)
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 15.0)
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern=r"Only .*15\.00 of invoice"):
            self._wizard_over_rpc(
                self.refund_user,
                self._vals(
                    invoice,
                    refund_mode="lines",
                    payout_method="journal",
                    payout_journal_id=self.cash_journal.id,
                    line_ids=[
                        Command.create({"move_line_id": invoice.invoice_line_ids.id, "quantity": 1.0})
                    ],
                ),
            )
        self.assertNothingBooked(booked)

    def test_webhook_event_without_refund_id_is_not_a_500(self):
        """Attack: signed Stripe events whose data.object has no id (or no
        object, or an id that is not a string): ignored (200) or refused (400),
        never a 500, and nothing changes."""
        invoice, transaction, refund = self._done_card_refund()
        booked = self._booked()
        objects = {
            "no id": {"object": "refund", "status": "failed", "amount": 3000},
            "id null": {"id": None, "object": "refund", "status": "failed"},
            "id a number": {"id": 12, "object": "refund", "status": "failed"},
            "id a list": {"id": [refund.payment_transaction_id.provider_reference]},
            "empty object": {},
            "object a string": "re_123",
            "no object": None,
        }
        for label, stripe_object in objects.items():
            for event_type in ("charge.refund.updated", "refund.failed"):
                with self.subTest(label, event_type=event_type):
                    data = {} if stripe_object is None else {"object": stripe_object}
                    response = self._post_stripe_event(
                        {"id": "evt_no_id", "object": "event", "type": event_type, "data": data}
                    )
                    self.assertIn(response.status_code, (200, 400), response.text[:500])
        self.env.invalidate_all()
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payment_transaction_id.state, "done")
        self.assertNothingBooked(booked)

    # 7. a card refund is final ------------------------------------------------

    def test_done_card_refund_is_final(self):
        """Attack: a manager cancels a card refund Stripe made, or a billing user
        resets or cancels its payment with core's buttons, so that the money
        gone back to the card looks owed again (and can be refunded twice)."""
        invoice, transaction, refund = self._done_card_refund()
        payout = refund.payment_ids
        self.assertEqual(len(payout), 1)
        payout_state = payout.state
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern="a card refund is final"):
            self._rpc(self.refund_manager, "client.refund", "action_cancel", [refund.id])
        for user in (self.billing_user, self.refund_manager):
            for method in ("action_draft", "action_cancel"):
                with self.subTest(user=user.login, method=method):
                    with self.assertRpcRefused("UserError", pattern="card refund is final"):
                        self._rpc(user, "account.payment", method, [payout.id])
        self.assertEqual(refund.state, "done")
        self.assertEqual(payout.state, payout_state)
        self.assertTrue(payout.is_reconciled)
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 85.0)
        self.assertNothingBooked(booked)


# ----------------------------------------------------------------------
# gift cards: the balance wizard
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install")
class TestTrustBoundaryBalance(TrustBoundaryMixin, LoyaltyRefundMixin, ClientRefundCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls.cash_journal = cls.company_data["default_journal_cash"]
        cls.company.client_refund_journal_id = cls.cash_journal
        cls.client.property_account_receivable_id = cls.company_data["default_account_receivable"]
        cls.gift_card_product = cls._create_product(
            name="Gift Card", type="service", lst_price=50.0, taxes_id=[Command.clear()]
        )
        cls.gift_cards = cls._program("Gift Cards", "gift_card", cls.gift_card_product)

    def _sold_card(self, amount=50.0):
        self._sell([(self.gift_card_product, amount)])
        return self._issue(self.gift_cards, amount)

    def _vals(self, card, **values):
        return {"card_id": card.id, "reason_id": self.reason.id, **values}

    def test_token_amount_on_a_gift_card_sale_does_not_dodge_the_threshold(self):
        """Attack: the sale of a 50.00 gift card cancelled with the balance
        wizard's amount sent as 0.01 (threshold 20.00): the refund waits."""
        self.company.client_refund_approval_threshold = 20.0
        card = self._sold_card()
        booked = self._booked()
        refund = self._wizard_over_rpc(
            self.refund_user,
            self._vals(card, refund_option="cancel_sale", amount=0.01),
            model="client.refund.balance.wizard",
        )
        self.assertEqual(refund.state, "to_approve")
        self.assertAlmostEqual(refund.amount, 50.0)
        self.assertAlmostEqual(card.points, 50.0)
        self.assertTrue(card.active)
        self.assertNothingBooked(booked, client_refund=1, client_refund_line=1)

    def test_nan_and_infinity_on_the_balance_wizard(self):
        """Attack: NaN, Infinity and 1e20 as the balance wizard's amount: a
        ValidationError, and the card keeps its points."""
        card = self._sold_card()
        wizard_id = self._rpc(
            self.refund_user, "client.refund.balance.wizard", "create",
            self._vals(card, refund_option="expense", amount=10.0),
        )
        booked = self._booked()
        for value in (NAN, INFINITY, -INFINITY, 1e20):
            with self.subTest(value=value):
                with self.assertRpcRefused("ValidationError"):
                    self._wizard_over_rpc(
                        self.refund_user,
                        self._vals(card, refund_option="expense", amount=value),
                        model="client.refund.balance.wizard",
                    )
                with self.assertRpcRefused("ValidationError"):
                    self._rpc(
                        self.refund_user, "client.refund.balance.wizard", "write",
                        [wizard_id], {"amount": value},
                    )
        self.assertAlmostEqual(card.points, 50.0)
        self.assertNothingBooked(booked)
