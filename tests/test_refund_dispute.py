from datetime import datetime, timedelta
from unittest.mock import Mock, patch

import pytz
import stripe

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import LocalStripeMixin
from .test_invoice_refund import InvoiceRefundCommon
from .test_pos_refund import PosRefundCommon, StripeTerminalMixin
from .test_trust_boundary import TrustBoundaryMixin


class DisputeEventMixin:
    """Stripe's dispute events, signed and posted over HTTP to core's webhook."""

    def _stripe_dispute(self, payment, status="needs_response", due_in_days=10, **values):
        """A Dispute object as Stripe writes it, of the PaymentIntent of
        `payment` (a transaction, or a terminal payment)."""
        payment_intent = payment.provider_reference if payment._name == "payment.transaction" else payment.transaction_id
        self.due_by = (datetime.now(pytz.utc) + timedelta(days=due_in_days)).replace(
            hour=12, minute=0, second=0, microsecond=0
        )
        return {
            "id": f"dp_{payment_intent}",
            "object": "dispute",
            "charge": f"ch_{payment_intent}",
            "payment_intent": payment_intent,
            "amount": round(payment.amount * 100),
            "currency": payment.currency_id.name.lower(),
            "reason": "fraudulent",
            "status": status,
            "evidence_details": {"due_by": int(self.due_by.timestamp())},
            "balance_transactions": [],
            **values,
        }

    def _post_dispute_event(self, event_type, stripe_dispute, stripe_says=None, secret=None):
        """A signed `event_type` event carrying `stripe_dispute`, posted while
        Stripe says the dispute is `stripe_says` (by default the same).
        localstripe has no disputes: the mock of DisputeService.retrieve stands
        for Stripe's GET /v1/disputes/{id}, which answers the dispute as it is
        now, whatever the event (replayed, late) carried."""
        at_stripe = stripe_says or stripe_dispute
        self.retrieved = []

        def retrieve(service, dispute_id, params=None, options=None):
            self.retrieved.append(dispute_id)
            self.assertEqual(dispute_id, at_stripe["id"])
            return stripe.Dispute.construct_from(at_stripe, "sk_test")

        event = {
            "id": f"evt_{stripe_dispute['id']}_{event_type}",
            "object": "event",
            "type": event_type,
            "data": {"object": stripe_dispute},
        }
        with patch.object(stripe.DisputeService, "retrieve", retrieve):
            return self._post_stripe_event(event, secret=secret)


@tagged("post_install", "-at_install")
class TestRefundDispute(DisputeEventMixin, TrustBoundaryMixin, LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    """Card disputes of online payments; the card payments are real
    localstripe PaymentIntents."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_trust_boundary_users()
        cls._setup_local_stripe(cls.company, cls.bank_journal)
        cls.company.client_refund_tz = "UTC"

    def _dispute_of(self, transaction):
        return self.env["client.refund.dispute"].search(
            [("stripe_dispute_id", "=", f"dp_{transaction.provider_reference}")]
        )

    def _disputed_invoice(self):
        invoice, transaction = self._paid_by_card()
        stripe_dispute = self._stripe_dispute(transaction)
        response = self._post_dispute_event("charge.dispute.created", stripe_dispute)
        self.assertEqual(response.status_code, 200)
        dispute = self._dispute_of(transaction)
        self.assertEqual(len(dispute), 1)
        return invoice, transaction, stripe_dispute, dispute

    def _trace(self, dispute, invoice):
        """What staff see: messages and activities, to compare before and after."""
        self.env.invalidate_all()
        return (
            len(dispute.message_ids),
            len(invoice.message_ids),
            len(dispute.partner_id.message_ids),
            sorted(dispute.activity_ids.mapped(lambda a: (a.user_id.id, a.date_deadline))),
        )

    # ------------------------------------------------------------------
    # the event, the record, the staff told
    # ------------------------------------------------------------------

    def test_created_dispute_recorded_and_managers_told(self):
        invoice, transaction, stripe_dispute, dispute = self._disputed_invoice()
        self.assertEqual(self.retrieved, [stripe_dispute["id"]])
        self.assertRecordValues(
            dispute,
            [
                {
                    "company_id": self.company.id,
                    "transaction_id": transaction.id,
                    "payment_id": transaction.payment_id.id,
                    "move_id": invoice.id,
                    "partner_id": self.client.id,
                    "amount": 115.0,
                    "currency_id": self.company.currency_id.id,
                    "stripe_reason": "fraudulent",
                    "stripe_status": "needs_response",
                    "evidence_due_by": self.due_by.replace(tzinfo=None),
                    "outcome": "open",
                    "funds_withdrawn": False,
                    "funds_reinstated": False,
                    "amount_fee": 0.0,
                }
            ],
        )
        # each refund manager of the company: 3 days (the default) before the deadline
        self.assertEqual(self.company.client_refund_dispute_notice_days, 3)
        managers = dispute._get_managers()
        self.assertIn(self.refund_manager, managers)
        self.assertEqual(set(dispute.activity_ids.user_id.ids), set(managers.ids))
        self.assertEqual(
            set(dispute.activity_ids.mapped("date_deadline")), {self.due_by.date() - timedelta(days=3)}
        )
        # the chatter of the dispute, the payment, the invoice and the client
        for document in (dispute, transaction.payment_id, invoice, self.client):
            self.assertIn("disputed", " ".join(document.message_ids.mapped("body")), document)
        self.assertIn(dispute.stripe_dispute_id, " ".join(invoice.message_ids.mapped("body")))

    def test_notice_days_setting(self):
        self.company.client_refund_dispute_notice_days = 7
        _invoice, _transaction, _stripe_dispute, dispute = self._disputed_invoice()
        self.assertEqual(
            set(dispute.activity_ids.mapped("date_deadline")), {self.due_by.date() - timedelta(days=7)}
        )

    def test_wizard_refuses_the_card_naming_the_dispute(self):
        invoice, _transaction, _stripe_dispute, dispute = self._disputed_invoice()
        wizard = self._wizard_form(invoice)
        # the card paid it all, yet it is not offered: the bank journal is
        self.assertNotIn("card", wizard.payout_choices)
        self.assertNotEqual(wizard.payout_method, "card")
        wizard.payout_method = "card"
        self.assertIn(dispute.stripe_dispute_id, wizard.refusal)
        deadline = str(self.due_by.date())
        self.assertIn(deadline, wizard.refusal)
        # the model path refuses it too, and nothing is written
        counts = self._counts()
        with self.assertRaisesRegex(UserError, f"{dispute.stripe_dispute_id}.*{deadline}"):
            self._refund(invoice, payout_method="card")
        self.assertEqual(self._counts(), counts)

    def test_refund_another_way_needs_approval_with_warning(self):
        invoice, _transaction, _stripe_dispute, dispute = self._disputed_invoice()
        refund = self._refund(invoice, payout_method="journal", payout_journal_id=self.bank_journal)
        self.assertEqual(refund.state, "to_approve")
        self.assertFalse(refund.payment_ids)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertIn("the client may get the money twice", refund._get_approval_reason(serialize=False))
        self.assertIn(dispute.stripe_dispute_id, " ".join(refund.message_ids.mapped("body")))

    def test_replayed_and_out_of_order_events_change_nothing(self):
        invoice, transaction, created, dispute = self._disputed_invoice()
        trace = self._trace(dispute, invoice)
        # the same event again
        self.assertEqual(self._post_dispute_event("charge.dispute.created", created).status_code, 200)
        self.assertEqual(self._trace(dispute, invoice), trace)
        self.assertEqual(len(self._dispute_of(transaction)), 1)
        # Stripe closed it (lost) and withdrew the money with a $15.00 fee...
        lost = {
            **created,
            "status": "lost",
            "balance_transactions": [{"id": "txn_withdrawal", "amount": -11500, "fee": 1500}],
        }
        self.assertEqual(self._post_dispute_event("charge.dispute.closed", lost).status_code, 200)
        self.assertRecordValues(
            dispute, [{"outcome": "lost", "stripe_status": "lost", "funds_withdrawn": True, "amount_fee": 15.0}]
        )
        self.assertFalse(dispute.activity_ids)
        trace = self._trace(dispute, invoice)
        # ...then the `created` and `updated` events arrive late: Stripe still says lost
        for event_type in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn"):
            response = self._post_dispute_event(event_type, created, stripe_says=lost)
            self.assertEqual(response.status_code, 200)
        self.assertRecordValues(dispute, [{"outcome": "lost", "funds_withdrawn": True, "amount_fee": 15.0}])
        self.assertEqual(self._trace(dispute, invoice), trace)
        # charged back: the card is never offered again (Stripe refuses to refund a disputed charge)
        wizard = self._wizard_form(invoice)
        self.assertNotIn("card", wizard.payout_choices)
        wizard.payout_method = "card"
        self.assertIn(f"{dispute.stripe_dispute_id}, lost", wizard.refusal)

    def test_lost_dispute_shows_the_sale_charged_back(self):
        invoice, _transaction, created, dispute = self._disputed_invoice()
        self.assertFalse(invoice.with_user(self.refund_user).client_refund_charged_back)
        lost = {
            **created,
            "status": "lost",
            "balance_transactions": [{"id": "txn_withdrawal", "amount": -11500, "fee": 1500}],
        }
        self.assertEqual(self._post_dispute_event("charge.dispute.closed", lost).status_code, 200)
        self.env.invalidate_all()
        charged_back = f"Charged back: {self._fmt(115.0)} ({dispute.stripe_dispute_id})"
        # the client's Refund page, row by row, as the front desk reads it
        rows = self.client.with_user(self.refund_user).web_read(
            {"client_refund_invoice_ids": {"fields": {"client_refund_charged_back": {}}}}
        )[0]["client_refund_invoice_ids"]
        self.assertIn({"id": invoice.id, "client_refund_charged_back": charged_back}, rows)
        # the register: a refund of the charged-back sale says so
        refund = self._refund(invoice, payout_method="journal", payout_journal_id=self.bank_journal)
        self.assertEqual(refund.state, "to_approve")
        self.assertEqual(refund.with_user(self.refund_user).sale_charged_back, charged_back)

    def test_card_refund_pending_when_a_dispute_opens_fails_as_stripe_says(self):
        """Stripe fails a refund still pending when its charge is disputed
        (failure_reason charge_for_pending_refund_disputed): the register says
        why, books nothing, and offers to pay back another way."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice)
        create = stripe.RefundService.create

        def answered_pending(service, params=None, options=None):
            stripe_refund = create(service, params, options)
            stripe_refund["status"] = "pending"
            return stripe_refund

        with patch.object(stripe.RefundService, "create", answered_pending):
            refund.action_send_card_refund()
        self.assertEqual(refund.state, "pending")
        stripe_refund = refund.payment_transaction_id.provider_reference
        self.assertEqual(
            self._post_dispute_event("charge.dispute.created", self._stripe_dispute(transaction)).status_code,
            200,
        )
        failed = {
            "id": stripe_refund,
            "object": "refund",
            "amount": 11500,
            "currency": "usd",
            "payment_intent": transaction.provider_reference,
            "status": "failed",
            "failure_reason": "charge_for_pending_refund_disputed",
            "metadata": {"client_refund": refund.name, "database": self.env.cr.dbname},
        }

        def retrieved(service, refund_id, params=None, options=None):
            return stripe.Refund.construct_from(failed, "sk_test")

        event = {"id": f"evt_{stripe_refund}_failed", "object": "event", "type": "refund.failed",
                 "data": {"object": failed}}
        with patch.object(stripe.RefundService, "retrieve", retrieved):
            self.assertEqual(self._post_stripe_event(event).status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(refund.state, "failed")
        self.assertFalse(refund.credit_note_ids)
        self.assertFalse(refund.payment_ids.filtered(lambda payment: payment.state != "canceled"))
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertIn("the client disputed the card payment", " ".join(refund.message_ids.mapped("body")))

    def test_won_dispute_reinstated_frees_the_card(self):
        invoice, _transaction, created, dispute = self._disputed_invoice()
        won = {
            **created,
            "status": "won",
            "balance_transactions": [
                {"id": "txn_withdrawal", "amount": -11500, "fee": 1500},
                {"id": "txn_reinstated", "amount": 11500, "fee": -1500},
            ],
        }
        self.assertEqual(self._post_dispute_event("charge.dispute.funds_reinstated", won).status_code, 200)
        self.assertRecordValues(
            dispute,
            [{"outcome": "won", "funds_withdrawn": True, "funds_reinstated": True, "amount_fee": 0.0}],
        )
        self.assertFalse(dispute.activity_ids)
        self.assertIn("won", " ".join(invoice.message_ids.mapped("body")).lower())
        # a dispute won takes nothing back: the card is offered again
        self.assertIn("card", self._wizard_form(invoice).payout_choices)

    def test_unknown_charge_acknowledged(self):
        _invoice, transaction = self._paid_by_card()
        unknown = {**self._stripe_dispute(transaction), "id": "dp_unknown", "payment_intent": "pi_unknown",
                   "charge": "ch_unknown"}
        Dispute = self.env["client.refund.dispute"]
        before = Dispute.search_count([])
        with self.assertLogs("odoo.addons.client_refund.controllers.main", "WARNING") as logs:
            response = self._post_dispute_event("charge.dispute.created", unknown)
        self.assertEqual(response.status_code, 200)
        self.assertIn("dp_unknown", logs.output[0])
        self.assertEqual(Dispute.search_count([]), before)

    def test_bad_signature_refused(self):
        _invoice, transaction = self._paid_by_card()
        response = self._post_dispute_event(
            "charge.dispute.created", self._stripe_dispute(transaction), secret="whsec_forged"
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self._dispute_of(transaction))

    def test_stripe_unreachable_asks_again(self):
        _invoice, transaction = self._paid_by_card()

        def unreachable(service, dispute_id, params=None, options=None):
            raise stripe.APIConnectionError("Stripe is down")

        event = {
            "id": "evt_down",
            "object": "event",
            "type": "charge.dispute.created",
            "data": {"object": self._stripe_dispute(transaction)},
        }
        with patch.object(stripe.DisputeService, "retrieve", unreachable):
            response = self._post_stripe_event(event)
        self.assertEqual(response.status_code, 503)
        self.assertFalse(self._dispute_of(transaction))

    def test_generate_webhook_subscribes_dispute_events(self):
        sent = []

        def request(method, url, data=None, **kwargs):
            # stands for Stripe's answer: localstripe has no webhook endpoints
            sent.append(data)
            return Mock(ok=True, json=Mock(return_value={"id": "we_test", "secret": "whsec_generated"}))

        with patch("odoo.addons.payment_stripe.models.payment_provider.requests.request", request):
            self.provider.stripe_webhook_secret = False
            self.provider.action_stripe_create_webhook()
        [payload] = sent
        for event in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                      "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
                      "refund.updated", "payment_intent.succeeded"):
            self.assertIn(event, payload["enabled_events[]"])

    # ------------------------------------------------------------------
    # JSON-RPC
    # ------------------------------------------------------------------

    def test_rpc_refund_user_cannot_write_close_or_card_refund(self):
        invoice, _transaction, _stripe_dispute, dispute = self._disputed_invoice()
        for vals in ({"outcome": "won"}, {"note": "fine"}, {"stripe_status": "won"}):
            with self.subTest(vals=vals), self.assertRpcRefused("AccessError"):
                self._rpc(self.refund_user, "client.refund.dispute", "write", [dispute.id], vals)
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund.dispute", "create",
                      {"stripe_dispute_id": "dp_forged", "company_id": self.company.id})
        with self.assertRpcRefused("AccessError"):
            self._rpc(self.refund_user, "client.refund.dispute", "unlink", [dispute.id])
        # a manager writes a note, and nothing Stripe says
        with self.assertRpcRefused("UserError", pattern="only a note"):
            self._rpc(self.refund_manager, "client.refund.dispute", "write", [dispute.id], {"outcome": "won"})
        self._rpc(self.refund_manager, "client.refund.dispute", "write", [dispute.id], {"note": "Evidence sent"})
        self.assertRecordValues(dispute, [{"outcome": "open", "note": "Evidence sent"}])
        booked = self._booked()
        with self.assertRpcRefused("UserError", pattern=dispute.stripe_dispute_id):
            self._wizard_over_rpc(
                self.refund_user,
                {"source_type": "invoice", "move_id": invoice.id, "reason_id": self.reason.id,
                 "refund_mode": "full", "payout_method": "card"},
            )
        self.assertNothingBooked(booked)

    def test_other_company_cannot_read(self):
        _invoice, _transaction, _stripe_dispute, dispute = self._disputed_invoice()
        with self.assertRaises(AccessError):
            dispute.with_user(self.company_2_manager).read(["amount"])


@tagged("post_install", "-at_install")
class TestPosTerminalDispute(DisputeEventMixin, StripeTerminalMixin, PosRefundCommon, HttpCase):
    """A till's Stripe terminal payment disputed: core keeps its PaymentIntent
    on the POS payment only, and Odoo has no transaction for it yet."""

    def test_terminal_payment_disputed(self):
        self.open_new_session(opening_cash=0.0)
        intent = self._captured_intent(107.0, self.company.currency_id)
        order = self._order([(self.haircut, 1)], payments=[(self.stripe_pm, 107.0)])
        terminal_payment = order.payment_ids
        # sudo: stands for the till, which sends the terminal's PaymentIntent with the order
        terminal_payment.sudo().transaction_id = intent.id
        transactions = self.env["payment.transaction"].sudo().search_count([])
        response = self._post_dispute_event("charge.dispute.created", self._stripe_dispute(terminal_payment))
        self.assertEqual(response.status_code, 200)
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", f"dp_{intent.id}")])
        self.assertRecordValues(
            dispute,
            [{"pos_payment_id": terminal_payment.id, "pos_order_id": order.id, "partner_id": self.customer.id,
              "amount": 107.0, "outcome": "open"}],
        )
        # reading the dispute records no transaction
        self.assertEqual(self.env["payment.transaction"].sudo().search_count([]), transactions)
        self.assertIn(dispute.stripe_dispute_id, " ".join(order.message_ids.mapped("body")))
        # the card is not offered, and refused on the model path
        form = self._wizard(order)
        self.assertNotIn("card", form.payout_choices)
        with self.assertRaisesRegex(UserError, dispute.stripe_dispute_id):
            self._refund(order, payout_method="card")

    def test_terminal_payment_withdrawn_and_reinstated(self):
        """The till's session books the terminal's takings at once, not against
        the client: the chargeback leaves the amount due on the client's
        receivable, the reinstatement settles it."""
        self.open_new_session(opening_cash=0.0)
        intent = self._captured_intent(107.0, self.company.currency_id)
        order = self._order([(self.haircut, 1)], payments=[(self.stripe_pm, 107.0)])
        terminal_payment = order.payment_ids
        # sudo: stands for the till, which sends the terminal's PaymentIntent with the order
        terminal_payment.sudo().transaction_id = intent.id
        created = self._stripe_dispute(terminal_payment)
        withdrawal = {"id": "txn_withdrawal", "amount": -10700, "fee": 1500}
        self._post_dispute_event("charge.dispute.funds_withdrawn", {**created, "balance_transactions": [withdrawal]})
        dispute = self.env["client.refund.dispute"].search([("stripe_dispute_id", "=", created["id"])])
        stripe_account = dispute._get_stripe_account()
        receivable = self.customer.property_account_receivable_id
        self.assertRecordValues(
            dispute.withdrawal_move_id.line_ids.sorted("balance"),
            [
                {"account_id": stripe_account.id, "balance": -122.0, "partner_id": False},
                {"account_id": self.company.client_refund_account_id.id, "balance": 15.0, "partner_id": False},
                {"account_id": receivable.id, "balance": 107.0, "partner_id": self.customer.id},
            ],
        )
        withdrawal_line = dispute.withdrawal_move_id.line_ids.filtered(lambda line: line.account_id == receivable)
        self.assertEqual(withdrawal_line.amount_residual, 107.0)
        # replayed: nothing more
        moves = self.env["account.move"].search_count([])
        self._post_dispute_event("charge.dispute.funds_withdrawn", {**created, "balance_transactions": [withdrawal]})
        self.assertEqual(self.env["account.move"].search_count([]), moves)
        # won, the fee kept by Stripe
        reinstated = {"id": "txn_reinstated", "amount": 10700, "fee": 0}
        self._post_dispute_event(
            "charge.dispute.funds_reinstated",
            {**created, "status": "won", "balance_transactions": [withdrawal, reinstated]},
        )
        self.assertRecordValues(
            dispute.reinstatement_move_id.line_ids.sorted("balance"),
            [{"account_id": receivable.id, "balance": -107.0}, {"account_id": stripe_account.id, "balance": 107.0}],
        )
        self.assertTrue(withdrawal_line.reconciled)
