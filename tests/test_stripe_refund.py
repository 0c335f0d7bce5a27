import json
from datetime import timedelta
from unittest.mock import Mock, patch

import stripe

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged

from odoo.addons.payment_stripe.controllers.main import StripeController

from .common import LocalStripeMixin
from .test_invoice_refund import InvoiceRefundCommon


@tagged("post_install", "-at_install")
class TestStripeRefund(LocalStripeMixin, InvoiceRefundCommon, HttpCase):
    """Card refunds through the official SDK, over real HTTP, to localstripe."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_local_stripe(cls.company, cls.bank_journal)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _stripe_refunds(self, transaction):
        return super()._stripe_refunds(transaction.provider_reference)

    def _answered(self, status, **fields):
        """Stripe answers a new refund with `status` (and `fields`), as it does
        when the card network confirms later or the bank wants an action:
        localstripe only answers `succeeded`."""
        create = stripe.RefundService.create

        def answered(service, params=None, options=None):
            stripe_refund = create(service, params, options)
            stripe_refund["status"] = status
            for name, value in fields.items():
                stripe_refund[name] = value
            return stripe_refund

        return patch.object(stripe.RefundService, "create", answered)

    def _send_answered_pending(self, refund):
        with self._answered("pending"):
            return refund.action_send_card_refund()

    def _post_event(
        self, stripe_refund, status, secret=None, event_type="charge.refund.updated", stripe_says=None
    ):
        """A signed event saying `stripe_refund` is now `status`, posted while
        Stripe says it is `stripe_says` (by default the same): the addon reads
        the refund from Stripe, and localstripe's refunds only succeed, so
        Stripe's answer stands for the real refund failing, being cancelled or
        waiting."""
        event = {
            "id": f"evt_{stripe_refund['id']}_{status}",
            "object": "event",
            "type": event_type,
            "data": {"object": {**stripe_refund, "status": status}},
        }
        at_stripe = {**stripe_refund, "status": stripe_says or status}
        retrieve = stripe.RefundService.retrieve

        def retrieved(service, refund_id, params=None, options=None):
            if refund_id != stripe_refund["id"]:
                return retrieve(service, refund_id, params, options)
            return stripe.Refund.construct_from(at_stripe, "sk_test")

        with patch.object(stripe.RefundService, "retrieve", retrieved):
            return self._post_stripe_event(event, secret=secret)

    # ------------------------------------------------------------------
    # refunds sent and booked
    # ------------------------------------------------------------------

    def test_full_card_refund(self):
        invoice, transaction = self._paid_by_card()
        wizard = self._wizard_form(invoice)
        self.assertEqual(wizard.payout_method, "card")
        self.assertEqual(wizard.amount_card_refundable, 115.0)
        self.assertIn("115.00", wizard.tender_summary)
        refund = self._card_refund(invoice)
        # nothing is booked until Stripe has made the refund
        self.assertFalse(refund.credit_note_ids)
        self.assertFalse(self._stripe_refunds(transaction))
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 0.0)

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        stripe_refunds = self._stripe_refunds(transaction)
        self.assertEqual(len(stripe_refunds), 1)
        sent = stripe_refunds[0].to_dict()
        self.assertEqual(sent["amount"], 11500)
        self.assertEqual(sent["reason"], "requested_by_customer")
        self.assertEqual(sent["metadata"]["client_refund"], refund.name)
        self.assertEqual(sent["metadata"]["database"], self.env.cr.dbname)
        self.assertEqual(sent["metadata"]["company"], self.company.name)
        refund_tx = refund.payment_transaction_id
        self.assertEqual(refund_tx.source_transaction_id, transaction)
        self.assertEqual(refund_tx.provider_reference, sent["id"])
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund.card_last4, "4242")
        self.assertEqual(invoice.payment_state, "reversed")
        payout = refund.payment_ids
        self.assertEqual(payout, refund_tx.payment_id)
        self.assertEqual(payout.payment_type, "outbound")
        self.assertEqual(payout.amount, 115.0)
        self.assertEqual(payout.source_payment_id, transaction.payment_id)
        self.assertTrue(payout.is_reconciled)
        self.assertEqual(refund.amount_paid_back, 115.0)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(transaction.payment_id.amount_available_for_refund, 0.0)
        self.assertIn(
            f"115.00 to the card ending in 4242, Stripe reference {sent['id']}",
            " ".join(refund.message_ids.mapped("body")),
        )
        self.assertIn(refund.name, " ".join(invoice.message_ids.mapped("body")))

    def test_partial_card_refund_reconciled_with_credit_note(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=40.0)
        # the front desk sends it, without payment rights, as a new request would
        self.env.invalidate_all()
        refund.with_user(self.refund_user).action_send_card_refund()
        self.assertEqual(refund.state, "done")
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.amount_total, 40.0)
        self.assertEqual(credit_note.payment_state, "paid")
        payout = refund.payment_ids
        self.assertEqual(payout.amount, 40.0)
        reconciled = payout.move_id.line_ids.matched_credit_ids.credit_move_id.move_id
        self.assertEqual(reconciled, credit_note)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual([r.amount for r in self._stripe_refunds(transaction)], [4000])
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

    def test_two_partial_card_refunds(self):
        invoice, transaction = self._paid_by_card()
        first = self._card_refund(invoice, mode="amount", amount=40.0)
        second = self._card_refund(invoice, mode="amount", amount=50.0)
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 25.0)
        self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual((first + second).mapped("state"), ["done", "done"])
        self.assertEqual(
            sorted(r.amount for r in self._stripe_refunds(transaction)), [4000, 5000]
        )
        self.assertEqual(transaction.payment_id.amount_available_for_refund, 25.0)
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 25.0)
        wizard = self._wizard_form(invoice)
        self.assertEqual(wizard.amount_card_refundable, 25.0)

    def test_bad_input_more_than_the_card_has_left_is_refused_before_stripe(self):
        """Paid 50.00 by card and 65.00 in cash: the card takes back 50.00 at most."""
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        transaction = self._card_payment(50.0, invoice)
        self._pay(invoice)
        self.assertEqual(self._wizard_form(invoice).amount_card_refundable, 50.0)
        counts = self._counts()
        with self.assertRefused(r"The card can take back at most .+50\.00, not .+115\.00"):
            self._refund(invoice, payout_method="card")
        self.assertEqual(self._counts(), counts)
        self.assertFalse(self._stripe_refunds(transaction))
        refund = self._card_refund(invoice, mode="amount", amount=50.0)
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")

    def test_bad_input_card_payout_of_a_cash_paid_invoice(self):
        invoice = self._invoice([(self.haircut, 1, 100.0)])
        self._pay(invoice)
        counts = self._counts()
        with self.assertRefused("not paid online with Stripe"):
            self._refund(invoice, payout_method="card")
        self.assertEqual(self._counts(), counts)

    def test_refund_of_an_unused_card_payment(self):
        """A card payment that paid no invoice: the client's credit goes back."""
        transaction = self._card_payment(50.0)
        payment = transaction.payment_id
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="payment", default_payment_id=payment.id)
        ) as wizard:
            self.assertEqual(wizard.payout_method, "card")
            wizard.reason_id = self.reason
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "pending")
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")
        self.assertTrue(payment.is_reconciled)
        self.assertEqual([r.amount for r in self._stripe_refunds(transaction)], [5000])

    # ------------------------------------------------------------------
    # what localstripe cannot do: idempotency, failures, webhooks, recovery
    # ------------------------------------------------------------------

    def test_idempotent_retry_after_timeout_sends_the_same_key(self):
        """Stands for a request that timed out before Stripe got it: the SDK raises
        APIConnectionError. The retry sends the same idempotency key."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        keys = []
        create = stripe.RefundService.create

        def lost(service, params=None, options=None):
            keys.append(options["idempotency_key"])
            raise stripe.APIConnectionError("Request timed out")

        def delivered(service, params=None, options=None):
            keys.append(options["idempotency_key"])
            return create(service, params, options)

        counts = self._counts()
        with patch.object(stripe.RefundService, "create", lost):
            action = refund.action_send_card_refund()
        self.assertIn("could not be reached", action["params"]["message"])
        self.assertEqual(refund.state, "pending")
        self.assertFalse(refund.payment_transaction_id)
        self.assertEqual(self._counts(), counts, "nothing is booked")
        self.assertIn("could not be reached", " ".join(refund.message_ids.mapped("body")))

        with patch.object(stripe.RefundService, "create", delivered):
            refund.action_send_card_refund()
        self.assertEqual(keys, [self.provider._client_refund_get_idempotency_key(refund)] * 2)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)
        self.assertEqual(refund.state, "done")

    def test_idempotent_timeout_after_stripe_made_it_is_found_not_resent(self):
        """Stands for a request Stripe made whose answer was lost: the SDK raises
        APIConnectionError after the refund exists. The retry finds it by its
        metadata and sends nothing."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        create = stripe.RefundService.create
        calls = []

        def made_then_lost(service, params=None, options=None):
            calls.append(options["idempotency_key"])
            create(service, params, options)
            raise stripe.APIConnectionError("Read timed out")

        with patch.object(stripe.RefundService, "create", made_then_lost):
            refund.action_send_card_refund()
        self.assertEqual(refund.state, "pending")
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)
        with self.assertRefused("has been sent to Stripe"):
            refund.with_user(self.refund_manager).action_cancel()

        with patch.object(stripe.RefundService, "create", made_then_lost):
            self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual(
            calls, [self.provider._client_refund_get_idempotency_key(refund)], "not sent again"
        )
        self.assertEqual(refund.state, "done")
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)
        self.assertEqual(refund.payment_ids.amount, 30.0)

    def test_recovery_when_the_odoo_transaction_did_not_commit(self):
        """Stripe made the refund, then the database transaction that sent it
        failed (a crash after the call): the scheduled job books it once."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            refund.action_send_card_refund()
            self.assertEqual(refund.state, "done")
            raise RuntimeError("the worker died before COMMIT")
        self.env.invalidate_all()
        self.assertEqual(refund.state, "pending")
        self.assertFalse(refund.payment_transaction_id)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        self.assertEqual(len(self._stripe_refunds(transaction)), 1, "no second refund")
        self.assertEqual(len(refund.payment_ids), 1)
        self.assertEqual(refund.credit_note_ids.amount_total, 30.0)

    def test_recovery_after_core_webhook_recorded_the_refund(self):
        """The transaction that sent the refund rolled back, and Stripe's
        charge.refunded reached core's webhook, which recorded the refund as one
        of the Dashboard: the scheduled check adopts it, nothing is booked twice."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            refund.action_send_card_refund()
            raise RuntimeError("the worker died before COMMIT")
        self.env.invalidate_all()
        made = self._stripe_refunds(transaction)[0].to_dict()
        mirrored = StripeController._create_refund_tx_from_refund(transaction.sudo(), made)
        mirrored._handle_notification_data("stripe", {"refund": made})
        mirrored._post_process()
        self.assertTrue(mirrored.payment_id)

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payment_transaction_id, mirrored)
        self.assertEqual(refund.payment_ids, mirrored.payment_id)
        refund_txs = transaction.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund"
        )
        self.assertEqual(refund_txs, mirrored)
        live_payouts = self.env["account.payment"].search(
            [("source_payment_id", "=", transaction.payment_id.id), ("state", "!=", "canceled")]
        )
        self.assertEqual(live_payouts, mirrored.payment_id)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 85.0)

    def test_transient_stripe_error_is_retried_not_failed(self):
        """Stands for Stripe answering 429 (rate limit) on the status check of a
        pending refund: the refund keeps waiting and is booked when it succeeds."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        self._send_answered_pending(refund)
        error = stripe.RateLimitError("Too many requests")
        with patch.object(stripe.RefundService, "retrieve", side_effect=error):
            action = refund.action_send_card_refund()
        self.assertIn("Too many requests", action["params"]["message"])
        self.assertEqual(refund.state, "pending")
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")

    def test_invalid_request_fails_the_refund_and_books_nothing(self):
        """Stands for Stripe refusing the refund (charge disputed, say): the SDK
        raises InvalidRequestError."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        error = stripe.InvalidRequestError("Charge ch_1 has been disputed.", param=None)
        with patch.object(stripe.RefundService, "create", side_effect=error):
            refund.action_send_card_refund()
        self.assertEqual(refund.state, "failed")
        self.assertEqual(refund.amount_paid_back, 0.0)
        self.assertEqual(self._counts(), counts, "nothing is booked")
        self.assertIn("has been disputed", " ".join(refund.message_ids.mapped("body")))
        self.assertEqual(
            set(refund.activity_ids.user_id.ids), set(refund._get_managers().ids)
        )
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 115.0)

    def test_webhook_failed_refund_reverses_the_payout(self):
        """Stands for Stripe failing a refund it had accepted (card closed): a
        signed charge.refund.updated with status failed."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        payout = refund.payment_ids

        response = self._post_event(stripe_refund, "failed", secret="whsec_wrong")
        # core's signature check refuses it
        self.assertEqual(response.status_code, 403)
        self.assertEqual(refund.state, "done")
        self.assertIn(payout.state, ("in_process", "paid"))

        response = self._post_event(stripe_refund, "failed")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(refund.state, "failed")
        self.assertEqual(refund.payment_transaction_id.state, "error")
        self.assertEqual(payout.state, "canceled")
        self.assertEqual(refund.amount_paid_back, 0.0)
        credit_note = refund.credit_note_ids
        self.assertEqual(credit_note.amount_residual, 30.0, "open as the client's credit")
        self.assertEqual(self._balance(self.receivable, self.client), -30.0)
        self.assertTrue(refund.activity_ids)
        messages = len(refund.message_ids)

        response = self._post_event(stripe_refund, "failed")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(len(refund.message_ids), messages, "a replay changes nothing")
        self.assertEqual(refund.state, "failed")

    def test_webhook_ignores_unknown_refunds_and_events(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        refund.action_send_card_refund()
        messages = len(refund.message_ids)
        response = self._post_event({"id": "re_unknown", "object": "refund"}, "failed")
        self.assertEqual(response.status_code, 200)
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        response = self._post_event(stripe_refund, "failed", event_type="customer.updated")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(refund.state, "done")
        self.assertEqual(len(refund.message_ids), messages)

    # ------------------------------------------------------------------
    # every Stripe state, through core's webhook
    # ------------------------------------------------------------------

    def test_webhook_refund_updated_succeeded_books_the_refund(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        with self._answered("pending", pending_reason="charge_pending"):
            refund.action_send_card_refund()
        self.assertEqual((refund.state, refund.stripe_status), ("pending", "pending"))
        self.assertIn("not settled yet", refund.stripe_reason)
        self.assertEqual(self._counts(), counts, "nothing booked while pending")
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        succeeded = {
            **stripe_refund,
            "destination_details": {"type": "card", "card": {"reference": "74987654321012345678901"}},
        }
        response = self._post_event(succeeded, "succeeded", secret="whsec_wrong", event_type="refund.updated")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(refund.state, "pending")
        response = self._post_event(succeeded, "succeeded", event_type="refund.updated")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual((refund.state, refund.stripe_status), ("done", "succeeded"))
        self.assertEqual(refund.card_reference, "74987654321012345678901")
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 30.0)
        self.assertAlmostEqual(refund.payment_ids.amount, 30.0)
        self.assertTrue(refund.payment_ids.is_reconciled)
        receipt = self.env["mail.mail"].search([("model", "=", "client.refund"), ("res_id", "=", refund.id)])
        self.assertIn("74987654321012345678901", receipt.body_html, "the client's bank traces it")

    def test_refund_stripe_made_but_unbookable_is_marked_for_a_manager(self):
        """Stands for a booking failure nobody foresaw: Stripe paid, Odoo cannot
        book. The refund is marked for a manager with the amount Stripe paid,
        and it is never sent to Stripe again."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()

        def unbookable(move, refund):
            raise UserError(move.env._("the books are locked"))

        with patch.object(type(self.env["account.move"]), "_client_refund_execute", unbookable):
            refund.action_send_card_refund()
            self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual((refund.state, refund.stripe_status), ("pending", "succeeded"))
        self.assertEqual(self._counts(), counts, "nothing half-booked")
        self.assertEqual(len(self._stripe_refunds(transaction)), 1, "never sent again")
        self.assertTrue(refund.activity_ids, "one activity per refund manager")
        for activity in refund.activity_ids:
            self.assertIn("30.00", str(activity.note), "the amount Stripe paid")
        # once the cause is fixed, the scheduled check books it
        self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.credit_note_ids.amount_total, 30.0)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)

    def test_webhook_refund_failed_with_its_reason_then_paid_back_another_way(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        self._send_answered_pending(refund)
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        failed = {**stripe_refund, "failure_reason": "expired_or_canceled_card"}
        response = self._post_event(failed, "failed", event_type="refund.failed")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual((refund.state, refund.stripe_status), ("failed", "failed"))
        self.assertIn("expired or was cancelled", refund.stripe_reason)
        self.assertEqual(self._counts(), counts, "nothing booked for a failed refund")
        self.assertTrue(any("expired or was cancelled" in str(m.body) for m in invoice.message_ids))
        self.assertTrue(refund.activity_ids, "the managers are told")
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 115.0)

        # one click: the same wizard, the same document and amount, in cash
        action = refund.with_user(self.refund_user).action_pay_back_another_way()
        with Form(self.env["client.refund.wizard"].with_user(self.refund_user).with_context(**action["context"])) as wizard:
            self.assertEqual(wizard.move_id, invoice)
            self.assertAlmostEqual(wizard.amount, 30.0)
            wizard.payout_method = "journal"
        again = self._confirm(wizard)
        self.assertEqual(again.state, "done")
        self.assertEqual(again.replaced_refund_id, refund)
        self.assertAlmostEqual(again.amount_paid_back, 30.0)
        self.assertEqual(again.payment_ids.journal_id, self.cash_journal)
        self.assertTrue(any("Paid back another way" in str(m.body) for m in refund.message_ids))
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 85.0)
        # nothing is paid twice: the failed refund is paid back once
        with self.assertRefused("left to pay back another way"):
            action = refund.with_user(self.refund_user).action_pay_back_another_way()
            with Form(self.env["client.refund.wizard"].with_user(self.refund_user).with_context(**action["context"])) as wizard:
                wizard.payout_method = "journal"
            wizard.record.action_confirm()

    def test_requires_action_then_canceled_ends_cancelled_with_nothing_booked(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        with self._answered("requires_action"):
            refund.action_send_card_refund()
        self.assertEqual((refund.state, refund.stripe_status), ("pending", "requires_action"))
        self.assertIn("must act", refund.stripe_reason)
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_user).action_cancel_at_stripe()
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()

        def cancel(service, refund_id, params=None, options=None):
            # stands for Stripe's POST /v1/refunds/{id}/cancel: localstripe has none
            self.assertEqual(refund_id, stripe_refund["id"])
            return stripe.Refund.construct_from({**stripe_refund, "status": "canceled"}, "sk_test")

        with patch.object(stripe.RefundService, "cancel", cancel):
            refund.with_user(self.refund_manager).action_cancel_at_stripe()
        self.assertEqual((refund.state, refund.stripe_status), ("cancel", "canceled"))
        self.assertEqual(refund.payment_transaction_id.state, "cancel")
        self.assertEqual(self._counts(), counts, "nothing booked")
        self.assertAlmostEqual(invoice._client_refund_get_refundable_amount(), 115.0)

    def test_generate_your_webhook_subscribes_to_the_refund_events(self):
        sent = []

        def request(method, url, data=None, **kwargs):
            # stands for Stripe's answer: localstripe has no webhook endpoints
            sent.append((url, data))
            return Mock(ok=True, json=Mock(return_value={"id": "we_test", "secret": "whsec_generated"}))

        with patch("odoo.addons.payment_stripe.models.payment_provider.requests.request", request):
            self.provider.stripe_webhook_secret = False
            self.provider.action_stripe_create_webhook()
        [(url, payload)] = sent
        self.assertTrue(url.endswith("/v1/webhook_endpoints"))
        self.assertTrue(payload["url"].endswith("/payment/stripe/webhook"), "one endpoint: core's")
        for event in ("charge.refund.updated", "refund.updated", "refund.failed", "charge.refunded"):
            self.assertIn(event, payload["enabled_events[]"])
        self.assertEqual(self.provider.stripe_webhook_secret, "whsec_generated")

    def test_webhook_late_success_after_a_failure_books_nothing(self):
        """Stripe does not order its events, and retries them for days: a stale
        "succeeded" arriving after the refund failed (and was paid back another
        way) books nothing, and neither does one whose body says succeeded
        while Stripe says failed."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        self._send_answered_pending(refund)
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        failed = {**stripe_refund, "failure_reason": "lost_or_stolen_card"}
        self._post_event(failed, "failed", event_type="refund.failed")
        self.env.invalidate_all()
        self.assertEqual(refund.state, "failed")
        counts = self._counts()
        response = self._post_event(stripe_refund, "succeeded", stripe_says="failed")
        self.assertEqual(response.status_code, 200)
        response = self._post_event(stripe_refund, "succeeded")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual((refund.state, refund.stripe_status), ("failed", "failed"))
        self.assertEqual(refund.payment_transaction_id.state, "error")
        self.assertEqual(self._counts(), counts, "nothing booked twice")

    def test_webhook_malformed_or_unsigned_events_are_not_a_500(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        self._send_answered_pending(refund)
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        for data in ("x", [1], None, {"object": "x"}):
            with self.subTest(data=data):
                response = self._post_stripe_event({"type": "refund.updated", "data": data})
                self.assertEqual(response.status_code, 200)
        # a status Stripe may add one day: followed by core, not recorded
        response = self._post_event(stripe_refund, "some_new_status")
        self.assertEqual(response.status_code, 200)
        # a provider without a signing secret: core checks nothing then; the
        # refund is read from Stripe all the same
        self.provider.stripe_webhook_secret = False
        response = self._post_event(stripe_refund, "succeeded")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(refund.state, "done")

    def test_core_credit_note_cannot_take_the_lines_a_card_refund_waits_for(self):
        invoice, transaction = self._paid_by_card([(self.haircut, 1, 100.0), (self.haircut, 1, 100.0)])
        with self._wizard_form(invoice) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
            with wizard.line_ids.edit(0) as line:
                line.quantity = 1.0
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "pending")
        self._send_answered_pending(refund)
        reserved = refund.line_ids.move_line_id
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id, "reason": "core"})
        )
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit_note.invoice_line_ids.filtered(lambda line: line.origin_line_id != reserved).unlink()
        with self.assertRefused("waiting for Stripe takes 1.0"):
            credit_note.action_post()
        # the other line is free to credit
        credit_note.invoice_line_ids.unlink()
        other = invoice.invoice_line_ids - reserved
        credit_note.write({"invoice_line_ids": [Command.create({"product_id": other.product_id.id, "price_unit": 100.0, "tax_ids": [Command.set(other.tax_ids.ids)], "origin_line_id": other.id})]})
        credit_note.action_post()
        self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual(refund.state, "done", "the refund Stripe paid still books")

    def test_webhook_canceled_refund_is_cancelled(self):
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        with self._answered("requires_action"):
            refund.action_send_card_refund()
        stripe_refund = self._stripe_refunds(transaction)[0].to_dict()
        response = self._post_event(stripe_refund, "canceled", event_type="refund.updated")
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual((refund.state, refund.stripe_status), ("cancel", "canceled"))
        self.assertEqual(self._counts(), counts)

    def test_card_refunds_by_amount_book_exactly_or_are_refused_before_stripe(self):
        """On a taxed two-line invoice (100 and 30, 15 % excluded), each awkward
        amount is booked exactly as Stripe refunded it, or refused before
        anything is sent."""
        for amount in (10.0, 0.01, 33.33, 149.49):
            with self.subTest(amount=amount):
                invoice, transaction = self._paid_by_card([(self.haircut, 1, 100.0), (self.shampoo, 1, 30.0)])
                self.assertAlmostEqual(invoice.amount_total, 149.5)
                counts = self._counts()
                try:
                    refund = self._card_refund(invoice, mode="amount", amount=amount)
                except UserError as error:
                    self.assertIn("round a credit note to", str(error))
                    self.assertEqual(self._counts(), counts)
                    self.assertFalse(self._stripe_refunds(transaction), "nothing sent")
                    continue
                refund.action_send_card_refund()
                self.assertEqual(refund.state, "done")
                sent = self._stripe_refunds(transaction)
                self.assertEqual([r.amount for r in sent], [round(amount * 100)])
                self.assertAlmostEqual(refund.credit_note_ids.amount_total, amount)
                self.assertAlmostEqual(refund.payment_ids.amount, amount)

    def _ewallet_program(self):
        """An eWallet whose top-ups are booked on a liability account."""
        deposits = self.env["account.account"].create(
            {"name": "Client deposits", "code": "DEP03", "account_type": "liability_current"}
        )
        top_up = self.env["product.product"].create(
            {"name": "Top-up", "type": "service", "property_account_income_id": deposits.id}
        )
        return deposits, self.env["loyalty.program"].create(
            {
                "name": "eWallet",
                "program_type": "ewallet",
                "client_refund_allow_balance": True,
                "rule_ids": [
                    Command.create(
                        {"reward_point_mode": "money", "product_ids": [Command.set(top_up.ids)]}
                    )
                ],
                "reward_ids": [Command.create({"discount_mode": "per_point", "discount": 1.0})],
            }
        )

    def test_card_payment_kept_as_store_credit_waits_for_nothing(self):
        """A sale paid by card refunded onto the eWallet: nothing goes to Stripe,
        no card fee is lost, nothing waits."""
        deposits, program = self._ewallet_program()
        invoice, transaction = self._paid_by_card()
        with self._wizard_form(invoice) as wizard:
            wizard.reason_id = self.reason
            wizard.payout_method = "ewallet"
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "done")
        self.assertFalse(self._stripe_refunds(transaction), "nothing sent to Stripe")
        self.assertFalse(refund.payment_transaction_id)
        self.assertAlmostEqual(refund.amount_ewallet, 115.0)
        self.assertEqual(refund.ewallet_card_id.program_id, program)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(self._balance(deposits), -115.0)

    def test_split_between_the_card_and_the_ewallet(self):
        """30 back to the card, 85 kept as store credit: Stripe refunds 30 only,
        and both parts are booked and recorded."""
        deposits, program = self._ewallet_program()
        invoice, transaction = self._paid_by_card()
        with self._wizard_form(invoice) as wizard:
            wizard.reason_id = self.reason
            self.assertEqual(wizard.payout_method, "card")
            wizard.amount_ewallet = 85.0
        refund = self._confirm(wizard)
        self.assertEqual(refund.state, "pending")
        self.assertAlmostEqual(refund.amount_to_card, 30.0, msg="what goes to the card")
        self.assertEqual(refund.amount_paid_back, 0.0, "nothing went back yet")
        refund.action_send_card_refund()
        self.assertEqual(refund.state, "done")
        self.assertAlmostEqual(refund.amount_paid_back, 30.0)
        self.assertEqual([r.amount for r in self._stripe_refunds(transaction)], [3000])
        self.assertAlmostEqual(refund.amount_ewallet, 85.0)
        self.assertEqual(refund.ewallet_card_id.program_id, program)
        self.assertAlmostEqual(refund.ewallet_card_id.points, 85.0)
        self.assertAlmostEqual(refund.payment_ids.amount, 30.0)
        self.assertTrue(refund.payment_ids.is_reconciled)
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self.assertEqual(self._balance(deposits), -85.0)
        self.assertEqual(invoice.payment_state, "reversed")

    def test_pending_refund_followed_by_the_scheduled_check(self):
        """Stands for Stripe answering `pending` (some card networks confirm
        later): nothing is booked until the scheduled check reads `succeeded`."""
        invoice, transaction = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=30.0)
        counts = self._counts()
        self._send_answered_pending(refund)
        self.assertEqual(refund.state, "pending")
        self.assertEqual(refund.payment_transaction_id.state, "pending")
        self.assertEqual(self._counts(), counts, "nothing booked while pending")
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 85.0)
        with self.assertRefused("cannot be taken back"):
            refund.with_user(self.refund_manager).action_cancel()

        self.env["client.refund"]._cron_sync_card_refunds()

        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.credit_note_ids.amount_total, 30.0)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)

    def test_bad_input_stripe_dashboard_refunds_count(self):
        """A refund made in the Stripe Dashboard, mirrored by core's webhook as a
        refund transaction, leaves less on the card."""
        invoice, transaction = self._paid_by_card()
        self._stripe_dashboard_refund(transaction, 50.0)
        wizard = self._wizard_form(invoice)
        self.assertEqual(wizard.amount_card_refundable, 65.0)
        self.assertEqual(wizard.amount_refundable, 65.0)
        counts = self._counts()
        with self.assertRefused(r"Only .+65\.00 of invoice"):
            self._refund(invoice, mode="amount", amount=70.0, payout_method="journal")
        self.assertEqual(self._counts(), counts)
        # paid back in cash, the rest only: the Dashboard gave back 50.00
        refund = self._refund(invoice, payout_method="journal")
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount_paid_back, 65.0)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)

    def test_receipt_mail_on_success(self):
        invoice, __ = self._paid_by_card()
        refund = self._card_refund(invoice, mode="amount", amount=40.0)
        refund.action_send_card_refund()
        mail = self.env["mail.mail"].search(
            [("model", "=", "client.refund"), ("res_id", "=", refund.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.client)
        self.assertIn("40.00", mail.body_html)
        self.assertIn("ending in 4242", mail.body_html)
        self.assertIn(refund.stripe_refund_reference, mail.body_html)
        self.assertIn("5 to 10 business days", mail.body_html)

    # ------------------------------------------------------------------
    # a card refund Stripe never acknowledged
    # ------------------------------------------------------------------

    def _stale_card_refund(self, invoice):
        """A card refund Stripe could not be reached for, asked 25 hours ago (the
        API base points at a closed port: a real connection error)."""
        refund = self._card_refund(invoice)
        parameters = self.env["ir.config_parameter"].sudo()
        self.local_stripe_url = parameters.get_param("client_refund.stripe_api_base")
        self.addCleanup(parameters.set_param, "client_refund.stripe_api_base", self.local_stripe_url)
        parameters.set_param("client_refund.stripe_api_base", "http://127.0.0.1:9")
        message = refund.action_send_card_refund()["params"]["message"]
        self.assertIn("Stripe could not be reached", message)
        self.assertEqual(refund.state, "pending")
        self.assertFalse(refund.stripe_wait_over)
        with self.assertRefused("that Stripe has left unanswered for 24 hours"):
            refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        refund._write_record({"date": refund.date - timedelta(hours=25)})
        self.assertTrue(refund.stripe_wait_over)
        return refund

    def _made_at_stripe(self, refund, transaction):
        """The request had reached Stripe, its answer was lost: Stripe, reached
        again, has the refund with the register's metadata."""
        self.env["ir.config_parameter"].sudo().set_param(
            "client_refund.stripe_api_base", self.local_stripe_url
        )
        return self.stripe.v1.refunds.create(
            params={
                "payment_intent": transaction.provider_reference,
                "amount": 11500,
                "metadata": self.env["payment.provider"]._prepare_client_refund_metadata(refund),
            }
        ).to_dict()

    def _assert_managers_told(self, refund):
        self.assertIn(
            f"Stripe made cancelled refund {refund.name}",
            refund.activity_ids.filtered(lambda a: a.user_id == self.refund_manager).summary,
        )

    def _assert_booked_late(self, refund, invoice):
        """Stripe's late refund is booked: a credit note, the invoice reversed,
        the client's account settled; the managers are told."""
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.credit_note_ids.amount_total, 115.0)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)
        self._assert_managers_told(refund)

    def _made_at_stripe_after_all(self, refund, transaction):
        """Stripe has the refund, and says so in an event."""
        made = self._made_at_stripe(refund, transaction)
        response = self._post_event(made, "succeeded", event_type="refund.updated")
        self.assertEqual(response.status_code, 200)
        return made

    def test_stale_card_refund_is_cancelled_and_paid_back_another_way(self):
        invoice, transaction = self._paid_by_card()
        refund = self._stale_card_refund(invoice)
        # Cancel Refund cannot ask Stripe: it says so, and how to go on
        with self.assertRefused("cancel it with Not at Stripe"):
            refund.with_user(self.refund_manager).action_cancel()
        with self.assertRaises(AccessError):
            refund.with_user(self.refund_user).action_cancel_not_at_stripe()
        refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        self.assertEqual(refund.state, "cancel")
        self.assertEqual(refund.stripe_absence_stated_by, self.refund_manager)
        self.assertTrue(refund.stripe_absence_stated_on)
        self.assertTrue(
            refund.message_ids.filtered(
                lambda message: "stated that the Stripe Dashboard shows no refund" in message.body
                and "Stripe cannot tell whether it has refund" in message.body
            )
        )
        self.assertFalse(refund.credit_note_ids or refund.payment_ids)
        # the sale is paid back another way, in cash
        self.assertEqual(invoice._client_refund_get_refundable_amount(), 115.0)
        cash = self._refund(invoice, payout_method="journal", payout_journal_id=self.cash_journal)
        self.assertEqual(cash.state, "done")
        self.assertEqual(cash.payment_ids.journal_id, self.cash_journal)
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(self._balance(self.receivable, self.client), 0.0)

        # Stripe turns out to have made it: recorded, flagged, and not booked
        # over the cash refund
        made = self._made_at_stripe_after_all(refund, transaction)
        self.assertEqual(refund.state, "pending")
        self.assertEqual(refund.payment_transaction_id.provider_reference, made["id"])
        self.assertEqual(refund.payment_transaction_id.state, "done")
        self.assertFalse(refund.credit_note_ids)
        self.assertEqual(invoice.payment_state, "reversed")
        self._assert_managers_told(refund)
        self.assertTrue(
            refund.message_ids.filtered(lambda message: "could not be booked" in message.body)
        )
        # the scheduled check tries again, and says the same news once
        self.env["client.refund"]._cron_sync_card_refunds()
        self.env["client.refund"]._cron_sync_card_refunds()
        self.assertEqual(refund.state, "pending")
        self.assertEqual(
            len(refund.message_ids.filtered(lambda message: "could not be booked" in message.body)), 1
        )
        # never sent again
        self.assertEqual(len(self._stripe_refunds(transaction)), 1)

    def test_stale_card_refund_made_after_all_is_booked(self):
        invoice, transaction = self._paid_by_card()
        refund = self._stale_card_refund(invoice)
        refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        self.assertEqual(refund.state, "cancel")
        made = self._made_at_stripe_after_all(refund, transaction)
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.payment_transaction_id.provider_reference, made["id"])
        self.assertEqual(refund.amount_paid_back, 115.0)
        self._assert_booked_late(refund, invoice)

    def test_bad_input_events_that_do_not_take_a_cancelled_refund_up(self):
        """Only a signed event about a refund Stripe has made for it, of its
        payment, takes a refund cancelled as not at Stripe up again; nothing is
        ever sent for it."""
        invoice, transaction = self._paid_by_card()
        refund = self._stale_card_refund(invoice)
        refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        failed = self._made_at_stripe(refund, transaction)
        metadata = failed["metadata"]
        forged = {
            "id": "re_forged",
            "object": "refund",
            "status": "succeeded",
            "amount": 11500,
            "payment_intent": transaction.provider_reference,
            "metadata": metadata,
        }

        def event(stripe_refund, event_type="refund.created"):
            return {"id": "evt_forged", "type": event_type, "data": {"object": stripe_refund}}

        # signed, about a refund Stripe does not have
        self.assertEqual(self._post_stripe_event(event(forged)).status_code, 200)
        # signed, about a refund Stripe made with the same metadata for one cent
        cent = self.stripe.v1.refunds.create(
            params={"payment_intent": transaction.provider_reference, "amount": 1, "metadata": metadata}
        ).to_dict()
        self.assertEqual(self._post_stripe_event(event(cent)).status_code, 200)
        # a key that is no refund number, unsigned
        weird = {**forged, "metadata": {"client_refund_key": "client_refund-x-\u00b2"}}
        response = self.url_open(
            "/payment/stripe/webhook",
            data=json.dumps(event(weird)),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        # a refund Stripe failed is no refund made
        self.assertEqual(
            self._post_event(failed, "failed", event_type="refund.failed").status_code, 200
        )
        # unsigned, where the provider has no webhook secret (core then checks no signature)
        self.provider.sudo().stripe_webhook_secret = False
        response = self.url_open(
            "/payment/stripe/webhook",
            data=json.dumps(event({**failed, "status": "succeeded"})),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(refund.state, "cancel")
        self.assertFalse(refund.payment_transaction_id or refund.credit_note_ids)
        self.assertFalse(refund.activity_ids)
        self.assertEqual(len(self._stripe_refunds(transaction)), 2, "Odoo sent nothing")

    def test_stale_card_refund_mirrored_by_core_first_is_taken_up(self):
        """Stripe's charge.refunded reached core first, which recorded the refund
        as one made in the Dashboard; refund.created then names the register's
        refund: the refund takes core's transaction up, and is booked."""
        invoice, transaction = self._paid_by_card()
        refund = self._stale_card_refund(invoice)
        refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        made = self._made_at_stripe(refund, transaction)
        mirrored = StripeController._create_refund_tx_from_refund(transaction.sudo(), made)
        mirrored._handle_notification_data("stripe", {"refund": made})
        self.assertEqual(self._post_event(made, "succeeded", event_type="refund.created").status_code, 200)
        self.assertEqual(refund.payment_transaction_id, mirrored)
        self.assertEqual(refund.state, "done")
        self._assert_booked_late(refund, invoice)
        self.assertEqual(len(self._stripe_refunds(transaction)), 1, "Odoo sent nothing")

    def test_event_not_taken_up_goes_to_core(self):
        """A refund made with the cancelled refund's metadata, recorded by core
        from charge.refunded, then failed at Stripe: not taken up by the
        register, and core follows its own refund."""
        invoice, transaction = self._paid_by_card()
        refund = self._stale_card_refund(invoice)
        refund.with_user(self.refund_manager).action_cancel_not_at_stripe()
        made = self._made_at_stripe(refund, transaction)
        mirrored = StripeController._create_refund_tx_from_refund(transaction.sudo(), made)
        mirrored._handle_notification_data("stripe", {"refund": made})
        self.assertEqual(mirrored.state, "done")
        response = self._post_event(made, "failed", event_type="charge.refund.updated")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(mirrored.state, "error", "core's own handling")
        self.assertEqual(refund.state, "cancel")
        self.assertFalse(refund.activity_ids)
