"""The users of `make load` (locust, headless; run by tools/load.py).

Each user logs in as its own refund user through /web/session/authenticate
on one of the Odoo servers (user i on server i mod n), then does what the web
client does through /web/dataset/call_kw. LOAD_CONFIG (a JSON file written by
load.py) says the scenario, the side ("addon": the refund wizard; "core":
core's reversal wizard and Register Payment, pos.order.refund() and
pos.make.payment) and the documents of each user. Every refund (or read) is
one sample written to LOAD_OUT as a JSON line: its kind, its time and how it
ended ("ok", "expected: ...", or the kind of error).

    locust -f locustfile.py --headless ... DistinctUser ReaderUser
"""

# pylint: disable=import-error
import itertools
import json
import os
import random
import time

import gevent
from locust import HttpUser, between, constant, events, task
from locust.exception import StopUser
from outcomes import classify  # beside this file: locust puts its folder on the path

with open(os.environ["LOAD_CONFIG"], encoding="utf-8") as _f:
    CONFIG = json.load(_f)
OUT = open(os.environ["LOAD_OUT"], "a", encoding="utf-8")  # noqa: SIM115  pylint: disable=consider-using-with
COUNTER = itertools.count()
RUNNING = {"users": 0}


class RpcError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class OdooUser(HttpUser):
    abstract = True
    wait_time = constant(0)
    host = CONFIG["servers"][0]

    def on_start(self):
        self.index = next(COUNTER)
        RUNNING["users"] += 1
        self.server = CONFIG["servers"][self.index % len(CONFIG["servers"])]
        self.login = CONFIG["logins"][self.index % len(CONFIG["logins"])]
        self.rpc_id = 0
        response = self.client.post(
            f"{self.server}/web/session/authenticate", name="/web/session/authenticate",
            json={"jsonrpc": "2.0", "method": "call", "id": 0, "params": {
                "db": CONFIG["db"], "login": self.login, "password": self.login}},
            timeout=60)
        body = response.json()
        if response.status_code != 200 or body.get("error") or not body.get("result", {}).get("uid"):
            raise RuntimeError(f"login {self.login} on {self.server} failed: {response.text[:300]}")
        self.uid = body["result"]["uid"]
        self.odoo_context = {"lang": "en_US", "tz": "UTC", "uid": self.uid,
                        "allowed_company_ids": [CONFIG["company"]]}

    def on_stop(self):
        RUNNING["users"] -= 1

    def call(self, model, method, *args, context=None, **kwargs):
        self.rpc_id += 1
        payload = {"jsonrpc": "2.0", "method": "call", "id": self.rpc_id, "params": {
            "model": model, "method": method, "args": list(args),
            "kwargs": {**kwargs, "context": {**self.odoo_context, **(context or {})}}}}
        with self.client.post(f"{self.server}/web/dataset/call_kw/{model}/{method}",
                              name=f"call_kw {model}.{method}", json=payload,
                              timeout=CONFIG["timeout"], catch_response=True) as response:
            if not response.status_code:  # no answer: requests' own error
                error = repr(response.error)
                kind = "timeout" if "Timeout" in error else "connection error"
                response.failure(kind)
                raise RpcError(kind, error[:200])
            if response.status_code >= 500:
                response.failure(f"HTTP {response.status_code}")
                raise RpcError(f"HTTP {response.status_code}", response.text[:200])
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                raise RpcError(f"HTTP {response.status_code}", response.text[:200])
            body = response.json()
            if body.get("error"):
                data = body["error"].get("data") or {}
                name = data.get("name") or body["error"].get("message", "?")
                message = data.get("message") or ""
                kind = classify(name, message, CONFIG["side"])
                if kind.startswith("expected"):
                    response.success()
                else:
                    response.failure(f"{name}: {message[:100]}")
                raise RpcError(kind, f"{name}: {message[:300]}")
            response.success()
            return body.get("result")

    def sample(self, kind, act):
        start = time.time()
        outcome, message = "ok", ""
        try:
            act()
        except RpcError as error:
            outcome, message = error.kind, str(error)
        except Exception as error:  # pylint: disable=broad-except
            name = type(error).__name__
            outcome = "timeout" if "Timeout" in name else f"client error: {name}"
            message = str(error)[:300]
        OUT.write(json.dumps({
            "scenario": CONFIG["scenario"], "side": CONFIG["side"], "kind": kind,
            "server": self.server, "user": self.login, "start": start,
            "ms": (time.time() - start) * 1000, "outcome": outcome, "message": message,
        }) + "\n")
        OUT.flush()
        return outcome

    # ------------------------------------------------------------------ refunds

    def addon_refund(self, source_type, source_id, **values):
        field = {"invoice": "move_id", "pos_order": "pos_order_id"}[source_type]
        vals = {"source_type": source_type, field: source_id, "reason_id": CONFIG["reason"],
                "send_receipt": False, **values}
        if source_type == "invoice" and values.get("payout_method") != "card":
            vals.update(payout_method="journal", payout_journal_id=CONFIG["cash_journal"])
        wizard = self.call("client.refund.wizard", "create", vals)
        self.call("client.refund.wizard", "action_confirm", [wizard])

    def core_invoice_refund(self, invoice_id, amount=None):
        """Core's Credit Note wizard, then posting and Register Payment; for a
        part (`amount`), the draft credit note's lines edited first, as a user
        does: one line at that amount (the seeded invoices have no tax)."""
        active = {"active_model": "account.move", "active_ids": [invoice_id]}
        # as the web client sends it, from the form's onchange
        reversal = self.call("account.move.reversal", "create", {
            "move_ids": [[6, 0, [invoice_id]]], "journal_id": CONFIG["sale_journal"],
            "reason": "Client request"}, context=active)
        action = self.call("account.move.reversal", "refund_moves", [reversal], context=active)
        credit_note = action["res_id"]
        if amount:
            [draft] = self.call("account.move", "read", [credit_note], ["invoice_line_ids"])
            first, *others = draft["invoice_line_ids"]
            self.call("account.move", "write", [credit_note], {"invoice_line_ids": [
                [1, first, {"quantity": 1, "price_unit": amount}],
                *[[2, line] for line in others]]})
        self.call("account.move", "action_post", [credit_note])
        active = {"active_model": "account.move", "active_ids": [credit_note]}
        register = self.call("account.payment.register", "create",
                             {"journal_id": CONFIG["cash_journal"]}, context=active)
        self.call("account.payment.register", "action_create_payments", [register],
                  context=active)

    def core_pos_refund(self, order_id):
        action = self.call("pos.order", "refund", [order_id])
        refund_order = action["res_id"]
        active = {"active_id": refund_order, "active_ids": [refund_order],
                  "active_model": "pos.order"}
        payment = self.call("pos.make.payment", "create",
                            {"payment_method_id": CONFIG["pos_cash"]}, context=active)
        self.call("pos.make.payment", "check", [payment], context=active)


class DistinctUser(OdooUser):
    """Scenario 1: each user refunds its own invoices and POS orders in full
    (both sides do the same work, for the throughput ratio)."""

    def on_start(self):
        super().on_start()
        slot = self.index % CONFIG["distinct_users"]
        self.work = list(CONFIG["work"][slot])

    @task
    def refund(self):
        if not self.work:
            raise StopUser()
        kind, document = self.work.pop(0)
        if CONFIG["side"] == "core":
            act = {"invoice": self.core_invoice_refund, "pos_order": self.core_pos_refund}[kind]
            self.sample(kind, lambda: act(document))
        else:
            self.sample(kind, lambda: self.addon_refund(kind, document, refund_mode="full"))


class PacedUser(DistinctUser):
    """Scenario 1 at the pace of a busy front desk, for the latency target:
    each user waits 3 to 9 s between two refunds (the time a person takes to
    hear the client and fill the wizard), which offers the servers about half
    the refunds a second they can make. DistinctUser, without the wait,
    measures what they can make."""

    wait_time = between(3, 9)


class ContentionUser(OdooUser):
    """Scenario 2: every user hammers the same invoices and POS orders with
    partial refunds, and sends card refunds while both servers' scheduled jobs
    sync them with Stripe. Core's side (20 other invoices): partial credit
    notes only. Core's backend returns a whole order each time (a second
    return of an order has lines of quantity 0 that pay its total again) and
    it sends no card refund of an invoice."""

    @task(2)
    def invoice(self):
        document = random.choice(CONFIG["hot_invoices"])
        amount = CONFIG["partial_amount"]
        if CONFIG["side"] == "core":
            self.sample("invoice (partial)", lambda: self.core_invoice_refund(document, amount))
            return
        self.sample("invoice (partial)", lambda: self.addon_refund(
            "invoice", document, refund_mode="amount", amount=amount))

    @task(2)
    def pos_order(self):
        if CONFIG["side"] == "core":
            self.invoice()
            return
        document = random.choice(CONFIG["hot_orders"])
        self.sample("pos_order (partial)", lambda: self.addon_refund(
            "pos_order", document, refund_mode="amount", amount=CONFIG["partial_amount"]))

    @task(1)
    def card(self):
        if CONFIG["side"] == "core":
            self.invoice()
            return
        document = random.choice(CONFIG["hot_card_invoices"])
        self.sample("card (partial)", lambda: self.addon_refund(
            "invoice", document, refund_mode="amount", amount=CONFIG["partial_amount"],
            payout_method="card"))


class ReaderUser(OdooUser):
    """Scenario 3: the register read while scenario 1 runs: its list, its pivot
    (month x reason) and a client's smart button."""

    wait_time = constant(0.2)

    def on_start(self):
        super().on_start()
        self.list_spec = {
            "name": {}, "date": {}, "partner_id": {"fields": {"display_name": {}}},
            "source_type": {}, "source_reference": {}, "amount": {},
            "currency_id": {"fields": {"display_name": {}}}, "payout_method": {},
            "reason_id": {"fields": {"display_name": {}}},
            "user_id": {"fields": {"display_name": {}}}, "state": {},
        }

    @task
    def list_view(self):
        self.sample("register list", lambda: self.call(
            "client.refund", "web_search_read", [], self.list_spec, offset=0, limit=80,
            order="", count_limit=10001))

    @task
    def pivot(self):
        def act():
            for groupby in ([], ["request_date:month"], ["reason_id"], ["reason_id", "request_date:month"]):
                self.call("client.refund", "read_group", [], ["amount_company_currency:sum"],
                          groupby, lazy=False)
        self.sample("register pivot", act)

    @task
    def smart_button(self):
        self.sample("client smart button", lambda: self.call(
            "res.partner", "web_read", [CONFIG["busiest_client"]],
            {"client_refund_count": {}, "client_refund_total_12_months": {}}))

    @task
    def done(self):
        if CONFIG.get("readers_stop_when_refunders_stop") and RUNNING["users"] <= CONFIG["readers"]:
            raise StopUser()


class PacedReaderUser(ReaderUser):
    """Scenario 3 beside PacedUser: the register read at the same pace."""

    wait_time = between(3, 9)


@events.test_stop.add_listener
def _close(**_kwargs):
    OUT.flush()


def _quit_when_done(environment):
    """Bounded in count: once every user has run out of work, stop (the
    run time bounds the rest)."""
    gevent.sleep(5)
    while environment.runner.user_count:
        gevent.sleep(0.5)
    environment.runner.quit()


@events.test_start.add_listener
def _watch(environment, **_kwargs):
    gevent.spawn(_quit_when_done, environment)
