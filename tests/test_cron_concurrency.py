"""The card-refund job run by several Odoo servers at once.

Each run of the job has its own real cursor, as the cron threads of two servers
would; the fixture (invoices paid by card at localstripe, and their refunds
waiting for Stripe) is committed from a third cursor so that both see it, and
removed afterwards. What reaches Stripe is counted at localstripe."""

from functools import partial

import stripe

from odoo import Command, api
from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG
from odoo.tests import TransactionCase, tagged

from .common import CommittedDataMixin, LocalStripeMixin

API_BASE = "client_refund.stripe_api_base"


@tagged("post_install", "-at_install")
class TestCardRefundCronConcurrency(CommittedDataMixin, LocalStripeMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stripe_url = cls._start_localstripe()
        cls.stripe = stripe.StripeClient(
            "sk_test_client_refund", base_addresses={"api": cls.stripe_url},
            stripe_version="2019-05-16",
        )

    # ------------------------------------------------------------------
    # the committed fixture
    # ------------------------------------------------------------------

    def _build(self, env, created, count):
        """`count` invoices paid by card at localstripe, each with a full card
        refund waiting for Stripe (as the wizard leaves it)."""
        company = env.company
        created["param"] = env["ir.config_parameter"].get_param(API_BASE)
        env["ir.config_parameter"].set_param(API_BASE, self.stripe_url)
        bank = env["account.journal"].search(
            [*env["account.journal"]._check_company_domain(company), ("type", "=", "bank")],
            limit=1,
        )
        provider = env.ref("payment.payment_provider_stripe").copy(
            {
                "name": f"Stripe (cron concurrency {count})",
                "company_id": company.id,
                "state": "test",
                "stripe_secret_key": "sk_test_client_refund",
                "stripe_publishable_key": "pk_test_client_refund",
                "stripe_webhook_secret": self.WEBHOOK_SECRET,
                "journal_id": bank.id,
            }
        )
        created["provider_name"] = provider.name
        card_method = env.ref("payment.payment_method_card")
        provider.payment_method_ids = [Command.link(card_method.id)]
        partner = env["res.partner"].create(
            # core logs the card payment in the chatter with the client as author
            {"name": "Cron race client", "email": "cron.race@example.com"}
        )
        product = env["product.product"].create(
            {"name": "Cron race service", "type": "service", "taxes_id": [Command.clear()]}
        )
        created["cleanup"] = [
            ("res.partner", partner.ids),
            ("product.product", product.ids),
            ("payment.provider", provider.ids),
        ]
        reason = env.ref("client_refund.reason_client_request")
        created["refunds"], created["intents"] = [], []
        for index in range(count):
            amount = 100.0 + index
            invoice = env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_line_ids": [
                        Command.create(
                            {"product_id": product.id, "price_unit": amount, "tax_ids": []}
                        )
                    ],
                }
            )
            invoice.action_post()
            intent = self.stripe.v1.payment_intents.create(
                params={
                    "amount": round(amount * 100),
                    "currency": company.currency_id.name.lower(),
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                }
            )
            transaction = env["payment.transaction"].create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": card_method.id,
                    "amount": amount,
                    "currency_id": company.currency_id.id,
                    "partner_id": partner.id,
                    "operation": "online_direct",
                    "invoice_ids": [Command.set(invoice.ids)],
                    "provider_reference": intent.id,
                }
            )
            transaction._set_done()
            transaction._post_process()
            wizard = (
                env["client.refund.wizard"]
                .with_context(default_source_type="invoice", default_move_id=invoice.id)
                .create(
                    {
                        "refund_mode": "full",
                        "reason_id": reason.id,
                        "payout_method": "card",
                        "send_receipt": False,
                    }
                )
            )
            refund = env["client.refund"].browse(wizard.action_confirm()["res_id"])
            self.assertEqual(refund.state, "pending")
            created["refunds"].append(refund.id)
            created["intents"].append(intent.id)
            created["cleanup"] += [
                ("account.move", invoice.ids),
                ("payment.transaction", transaction.ids),
                ("account.payment", transaction.payment_id.ids),
            ]

    def _delete_committed(self, created):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {MODULE_UNINSTALL_FLAG: True})
            refunds = env["client.refund"].browse(created.get("refunds", [])).exists()
            payments = (
                refunds.payment_ids
                | env["account.payment"].browse(
                    [i for m, ids in created.get("cleanup", []) if m == "account.payment"
                     for i in ids]
                )
            ).exists()
            moves = refunds.credit_note_ids | payments.move_id
            transactions = (
                refunds.payment_transaction_id
                | refunds.card_transaction_id
            ).exists()
            # the register first: a card refund's payout is final while it has one
            refunds.unlink()
            moves.line_ids.remove_move_reconcile()
            payments.filtered(lambda p: p.state != "draft").action_draft()
            moves.filtered(lambda m: m.state == "posted").button_draft()
            payments.unlink()
            moves.exists().unlink()
            transactions.child_transaction_ids.unlink()
            transactions.exists().unlink()
            self._unlink_created(env, created)
            # the payment method line the provider's copy added to the bank journal
            env["account.payment.method.line"].search(
                [("name", "=", created.get("provider_name")), ("payment_provider_id", "=", False)]
            ).unlink()
            if "param" in created:
                env["ir.config_parameter"].set_param(API_BASE, created["param"] or False)
            cr.commit()  # pylint: disable=invalid-commit

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _run_job(self, cr):
        env = api.Environment(cr, api.SUPERUSER_ID, {})
        env["client.refund"]._cron_sync_card_refunds()
        env.flush_all()

    def _sent(self, created):
        """Refunds localstripe made, per payment intent."""
        return [
            len(self.stripe.v1.refunds.list(params={"payment_intent": intent, "limit": 100}).data)
            for intent in created["intents"]
        ]

    def _states(self, created):
        with self.registry.cursor() as cr:
            refunds = api.Environment(cr, api.SUPERUSER_ID, {})["client.refund"].browse(
                created["refunds"]
            )
            return refunds.mapped("state"), refunds

    def _delay_messages(self, cr, created):
        cr.execute(
            "SELECT count(*) FROM mail_message WHERE model = 'client.refund' "
            "AND res_id IN %s AND body::text LIKE %s",
            (tuple(created["refunds"]), "%could not move on%"),
        )
        return cr.fetchone()[0]

    # ------------------------------------------------------------------
    # the tests
    # ------------------------------------------------------------------

    def test_race_two_jobs_at_once_send_each_card_refund_once(self):
        """Job A holds the pending refunds (sent, not committed yet); job B,
        running meanwhile, skips them without waiting and without logging a
        delay; once both committed, Stripe has one refund per payment."""
        with self._committed(partial(self._build, count=3)) as created:
            self.assertEqual(self._sent(created), [0, 0, 0])
            with self.registry.cursor() as cr_a:
                self._run_job(cr_a)
                self.assertEqual(self._sent(created), [1, 1, 1], "A sent every refund")
                with self.registry.cursor() as cr_b:
                    # would wait for A's row locks without SKIP LOCKED: a
                    # lock_timeout turns such a wait into a failure
                    cr_b.execute("SET LOCAL lock_timeout = '2s'")
                    self._run_job(cr_b)
                    cr_b.commit()
                self.assertEqual(self._sent(created), [1, 1, 1], "B sent nothing")
                cr_a.commit()
            states, _refunds = self._states(created)
            self.assertEqual(states, ["done"] * 3)
            with self.registry.cursor() as cr:
                self.assertEqual(self._delay_messages(cr, created), 0)
            # and a later run finds nothing left to send
            with self.registry.cursor() as cr_c:
                self._run_job(cr_c)
                cr_c.commit()
            self.assertEqual(self._sent(created), [1, 1, 1])

    def test_race_job_from_a_stale_snapshot_sends_nothing(self):
        """Job B began before job A committed: it still reads the refunds as
        pending, but each one A changed fails to serialize and is left alone;
        B ends without an error and Stripe has one refund per payment."""
        with self._committed(partial(self._build, count=2)) as created:
            with self.registry.cursor() as cr_b:
                cr_b.execute("SELECT 1")  # B's snapshot is taken here
                with self.registry.cursor() as cr_a:
                    self._run_job(cr_a)
                    cr_a.commit()
                self.assertEqual(self._sent(created), [1, 1])
                self._run_job(cr_b)
                cr_b.commit()
            self.assertEqual(self._sent(created), [1, 1], "B sent nothing again")
            states, refunds = self._states(created)
            self.assertEqual(states, ["done", "done"])
            with self.registry.cursor() as cr:
                self.assertEqual(self._delay_messages(cr, created), 0)
            self.assertTrue(refunds)

    def test_race_two_jobs_split_the_refunds(self):
        """Job A has taken the first refund only (as a server in the middle of
        its run); job B takes and sends the others: each is sent once."""
        with self._committed(partial(self._build, count=3)) as created:
            first, *others = created["refunds"]
            with self.registry.cursor() as cr_a:
                env_a = api.Environment(cr_a, api.SUPERUSER_ID, {})
                self.assertTrue(env_a["payment.transaction"]._client_refund_cron_take(first))
                with self.registry.cursor() as cr_b:
                    env_b = api.Environment(cr_b, api.SUPERUSER_ID, {})
                    self.assertFalse(env_b["payment.transaction"]._client_refund_cron_take(first))
                    self._run_job(cr_b)
                    cr_b.commit()
                self.assertEqual(self._sent(created), [0, 1, 1])
                self._run_job(cr_a)
                cr_a.commit()
            self.assertEqual(self._sent(created), [1, 1, 1])
            states, _refunds = self._states(created)
            self.assertEqual(states, ["done"] * 3)
            self.assertTrue(others)
