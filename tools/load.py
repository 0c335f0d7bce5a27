#!/usr/bin/env python3
"""Refunds under load over real HTTP (`make load`).

    load.py [--users N] [--contention-users N] [--readers N] [--duration S] [--warmup S]
            [--invoices N] [--card-invoices N] [--pos-orders N] [--gift-cards N]
            [--db NAME] [--keep]

1. A database made from the harness's cached template with the addon
   installed, seeded in one `odoo-bin shell` process (tools/load/seed.py):
   2,000 paid invoices (cash, and some by card at a local Stripe server,
   tools/load/stripe_server.py), 500 paid POS orders in an open session, 200
   gift cards and the refund users.
2. Two Odoo servers on 127.0.0.1 (two ports), each with --workers=2 and a
   cron worker, on that one database.
3. locust, headless, from its own virtual environment .build/venv-load
   (requirements-load.txt), with tools/load/locustfile.py, bounded in users,
   in work and in time (--duration per run), users spread over both servers,
   after a warm-up of both paths (--warmup seconds each, on documents of its
   own, not measured: a worker's first calls fill its caches):
   * distinct documents: --users users each refund their own invoices and POS
     orders in full, with --readers users reading the register meanwhile
     (list, pivot month x reason, a client's smart button): once through the
     addon's wizard, once through core's own path (reversal wizard + Register
     Payment; pos.order.refund() + pos.make.payment) on other documents;
     once as fast as the servers answer (throughput), once at a front desk's
     pace, 3 to 9 s between two refunds of a user (latency);
   * contention: --contention-users users refund the same 20 invoices and 20
     POS orders by parts, and send card refunds of 20 card-paid invoices,
     while the card-refund job of both servers syncs them with Stripe; then
     core's path on 20 other invoices (partial credit notes), counted
     apart: core has no lock.
4. The books, checked in SQL once the card refunds are synced and the till
   closed: nothing refunded beyond what was paid, every posted move balanced,
   no draft move or payment and no refund left unbooked, each card refund made
   once at Stripe (per idempotency key and per register refund), the till
   closed with no difference. Then the table: refunds per second, p50, p95 and
   p99 latency, errors by kind, addon against core. Exit code 1 when a book
   check fails or an unexpected error reached a user of the addon.

Environment: as tools/harness.py; `make load` runs it with the project's
Python (harness.py python tools/load.py ...). Logs: .build/logs/load-*.
"""

import argparse
import collections
import concurrent.futures
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402  pylint: disable=wrong-import-position
from report import machine, print_table  # noqa: E402  pylint: disable=wrong-import-position

MODULE = harness.MODULE
HERE = os.path.dirname(os.path.abspath(__file__))
LOAD_DIR = os.path.join(HERE, "load")
LOAD_VENV = os.path.join(harness.BUILD, "venv-load")
TARGET_RATIO = 0.8
TARGET_P95_MS = 1500.0


def say(msg):
    print(f"[load] {msg}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="load.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="users refunding distinct documents")
    parser.add_argument("--contention-users", type=int, default=10)
    parser.add_argument("--readers", type=int, default=2, help="users reading the register")
    parser.add_argument("--duration", type=int, default=60, help="seconds per locust run, at most")
    parser.add_argument("--warmup", type=int, default=15, help="seconds of warm-up per side")
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--card-invoices", type=int, default=200)
    parser.add_argument("--pos-orders", type=int, default=500)
    parser.add_argument("--gift-cards", type=int, default=200)
    parser.add_argument("--hot", type=int, default=20, help="documents of the contention run")
    parser.add_argument("--timeout", type=int, default=60, help="seconds before a request times out")
    parser.add_argument("--db", help="database to create and keep (dropped first if it exists)")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away database")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------
# processes


def wait_http(url, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:  # it answers
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise harness.Failure(f"{what} did not answer on {url}")


def http_json(url):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer sk_test_client_refund"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Load:
    def __init__(self, opts):
        self.opts = opts
        self.workdir = tempfile.mkdtemp(prefix=f"{MODULE}-load-")
        self.processes = []
        self.db = opts.db or f"{harness.RUN_PREFIX}{os.getpid()}"
        self.samples = []
        self.logs = {}

    def log(self, name):
        path = os.path.join(self.workdir, f"load-{name}.log")
        self.logs[name] = path
        return path

    def start(self, cmd, logname, env=None):
        logf = open(self.log(logname), "w", encoding="utf-8")  # pylint: disable=consider-using-with
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, env=env)
        self.processes.append((proc, logf))
        return proc

    def stop(self, proc, seconds=30):
        if proc.poll() is None:
            proc.terminate()  # Odoo stops gracefully on SIGTERM
            try:
                proc.wait(seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc, logf in reversed(self.processes):
            self.stop(proc)
            logf.close()
        self.processes = []

    # ------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        opts = self.opts
        site, addon = harness.prepare(self.workdir, logfile=self.log("odoo"))
        self.site = site
        say(f"Odoo {site.odoo.version} at {site.odoo.home}; addon {addon}")
        locust = os.path.join(os.path.dirname(harness.ensure_venv(
            open(os.path.join(harness.REPO, "requirements-load.txt"), encoding="utf-8").read(),
            LOAD_VENV, base_python=getattr(sys, "_base_executable", sys.executable),
        )), "locust")
        timings = []
        try:
            with harness.step("database and addon", timings):
                depends = harness.read_manifest(addon).get("depends", [])
                site.new_database(self.db, depends, False, self.log("initdb"))
                if not site.install(self.db, self.log("install"), f"install of {MODULE}"):
                    raise harness.Failure(f"could not install {MODULE} on {self.db}")
            stripe_port = harness.free_port()
            self.stripe = f"http://127.0.0.1:{stripe_port}"
            self.start([site.python, os.path.join(LOAD_DIR, "stripe_server.py"),
                        str(stripe_port)], "stripe", env=site.env)
            wait_http(f"{self.stripe}/_load/refunds", 30, "the local Stripe server")
            with harness.step("seed", timings):
                self.seed()
            with harness.step("two Odoo servers", timings):
                self.servers = self.start_servers()
            # every worker runs both paths once before the clock starts: the
            # first calls of a worker fill its caches (ormcache, views, rules)
            with harness.step("warm-up (not measured)", timings):
                for side in ("addon", "core"):
                    self.locust(locust, "warm-up", side, ["DistinctUser", "ReaderUser"],
                                duration=opts.warmup)
            runs = [
                ("distinct", "addon", ["DistinctUser", "ReaderUser"]),
                ("paced", "addon", ["PacedUser", "PacedReaderUser"]),
                ("contention", "addon", ["ContentionUser"]),
                ("distinct", "core", ["DistinctUser", "ReaderUser"]),
                ("paced", "core", ["PacedUser", "PacedReaderUser"]),
                ("contention", "core", ["ContentionUser"]),
            ]
            for scenario, side, classes in runs:
                with harness.step(f"locust: {scenario}, {side}", timings):
                    self.locust(locust, scenario, side, classes)
            with harness.step("card refunds synced by the scheduled jobs", timings):
                pending = self.wait_card_refunds()
            with harness.step("servers stopped, till closed", timings):
                for proc in self.servers:
                    self.stop(proc, 60)
                closing = self.close_till()
            checks = self.check_books(pending, closing)
            return self.report(checks, timings, time.monotonic() - started)
        finally:
            self.stop_all()
            os.makedirs(harness.LOG_DIR, exist_ok=True)
            for name, path in self.logs.items():
                if os.path.isfile(path):
                    shutil.copy(path, os.path.join(harness.LOG_DIR, os.path.basename(path)))
            if opts.db or opts.keep:
                say(f"database {self.db} kept (dropdb {self.db} drops it)")
            else:
                site.drop_database(self.db)
            shutil.rmtree(self.workdir, ignore_errors=True)

    def seed(self):
        opts = self.opts
        out = os.path.join(self.workdir, "seed.json")
        options = {
            "stripe": self.stripe, "out": out, "users": max(opts.users, opts.contention_users)
            + opts.readers, "invoices": opts.invoices, "card_invoices": opts.card_invoices,
            "pos_orders": opts.pos_orders, "gift_cards": opts.gift_cards,
        }
        script = (f"exec(open({os.path.join(LOAD_DIR, 'seed.py')!r}).read())\n"
                  f"seed(env, {options!r})\nenv.cr.commit()\n")
        code = self.site.odoo_bin(self.db, "shell", "--no-http", logfile=self.log("seed"),
                                  stdin=script)
        if code or not os.path.isfile(out):
            raise harness.Failure(f"seeding failed (log: {self.logs['seed']})")
        with open(out, encoding="utf-8") as f:
            self.seeded = json.load(f)
        self.company = int(harness.psql(self.db, "select company_id from res_users where id = 2")[0])
        say(f"seeded in {self.seeded['seconds']} s: {len(self.seeded['cash_invoices'])} cash and "
            f"{len(self.seeded['card_invoices'])} card invoices, "
            f"{len(self.seeded['pos_orders'])} POS orders")

    def start_servers(self):
        servers, self.urls = [], []
        for number in (1, 2):
            port, gevent_port = harness.free_port(), harness.free_port()
            cmd = [self.site.python, os.path.join(self.site.odoo.home, "odoo-bin"),
                   "-c", self.site.conf, "-d", self.db, "--db-filter", f"^{self.db}$",
                   "--http-port", str(port), "--gevent-port", str(gevent_port),
                   "--workers", "2", "--max-cron-threads", "1",
                   "--limit-time-real", "600", "--limit-time-cpu", "600",
                   "--limit-request", "100000", "--logfile", self.log(f"server{number}")]
            servers.append(self.start(cmd, f"server{number}-stdout", env=self.site.env))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_http(f"{url}/web/login", 120, "Odoo")
        # every worker loads the registry before the clock starts
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda url: wait_http(url, 120, "Odoo"),
                          [f"{url}/web/login?db={self.db}" for url in self.urls] * 12))
        say(f"Odoo servers: {', '.join(self.urls)} (2 workers and a cron worker each)")
        return servers

    def locust(self, locust, scenario, side, classes, duration=None):
        opts, seeded = self.opts, self.seeded
        hot = opts.hot
        # the warm-up refunds documents of its own: 4 invoices and 2 orders a user
        warm_i, warm_o = 4 * opts.users, 2 * opts.users
        if scenario == "warm-up":
            invoices = seeded["cash_invoices"][hot:hot + warm_i]
            orders = seeded["pos_orders"][hot:hot + warm_o]
        else:
            # the last `hot` invoices are core's contention run's
            cash_invoices = seeded["cash_invoices"]
            invoices = cash_invoices[hot + warm_i:len(cash_invoices) - hot]
            orders = seeded["pos_orders"][hot + warm_o:]
        half_i, half_o = len(invoices) // 2, len(orders) // 2
        # addon and core refund documents of their own, alike
        invoices = invoices[:half_i] if side == "addon" else invoices[half_i:2 * half_i]
        orders = orders[:half_o] if side == "addon" else orders[half_o:2 * half_o]
        hot_invoices, hot_orders = self.hot_documents(side)
        if side == "core":
            self.core_invoices = getattr(self, "core_invoices", set()) | set(invoices) | set(
                hot_invoices)
        # invoices and POS orders interleaved, then dealt to the users in turn
        mixed = [item for _position, item in sorted(
            [(index / len(invoices), ("invoice", doc)) for index, doc in enumerate(invoices)]
            + [(index / len(orders), ("pos_order", doc)) for index, doc in enumerate(orders)])]
        if scenario == "paced":
            # from the other end of the side's documents than the run at full speed
            mixed.reverse()
        work = [mixed[slot::opts.users] for slot in range(opts.users)]
        users = {"DistinctUser": opts.users, "ReaderUser": opts.readers,
                 "PacedUser": opts.users, "PacedReaderUser": opts.readers,
                 "ContentionUser": opts.contention_users}
        config = {
            "db": self.db, "servers": self.urls, "company": self.company,
            "logins": seeded["logins"], "scenario": scenario, "side": side,
            "reason": seeded["reason"], "cash_journal": seeded["cash_journal"],
            "sale_journal": seeded["sale_journal"],
            "pos_cash": seeded["pos_cash"], "busiest_client": seeded["busiest_client"],
            "distinct_users": opts.users, "work": work, "readers": opts.readers,
            "readers_stop_when_refunders_stop": True,
            "hot_invoices": hot_invoices, "hot_orders": hot_orders,
            "hot_card_invoices": seeded["card_invoices"][:hot], "partial_amount": 7.0,
            "timeout": opts.timeout,
        }
        config_path = os.path.join(self.workdir, f"locust-{scenario}-{side}.json")
        out = os.path.join(self.workdir, f"samples-{scenario}-{side}.jsonl")
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        count = sum(users[name] for name in classes)
        # at a front desk's pace a user refunds every 6 s or so: half as long
        # again, for a p95 of some 70 refunds a side
        duration = duration or (opts.duration * 3 // 2 if scenario == "paced" else opts.duration)
        env = dict(os.environ, LOAD_CONFIG=config_path, LOAD_OUT=out)
        env.pop("PYTHONPATH", None)
        cmd = [locust, "-f", os.path.join(LOAD_DIR, "locustfile.py"), "--headless",
               "--users", str(count), "--spawn-rate", str(count), "--run-time",
               f"{duration}s", "--stop-timeout", str(opts.timeout), "--only-summary",
               "--loglevel", "WARNING", "--exit-code-on-error", "0", *classes]
        log = self.log(f"locust-{scenario}-{side}")
        with open(log, "w", encoding="utf-8") as logf:
            code = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL, check=False,
                                  timeout=duration + 2 * opts.timeout
                                  + 60).returncode
        if code:
            raise harness.Failure(f"locust exited with {code} (log: {log})")
        with open(out, encoding="utf-8") as f:
            samples = [json.loads(line) for line in f if line.strip()]
        if scenario != "warm-up":
            self.samples += samples
        ok = sum(1 for s in samples if s["outcome"] == "ok")
        say(f"{scenario}, {side}: {len(samples)} samples, {ok} ok")

    def hot_documents(self, side):
        """The invoices and POS orders of a side's contention run: the first
        `hot` for the addon, the last `hot` invoices for core (which refunds
        no POS order there)."""
        hot, seeded = self.opts.hot, self.seeded
        if side == "addon":
            return seeded["cash_invoices"][:hot], seeded["pos_orders"][:hot]
        cash_invoices = seeded["cash_invoices"]
        return cash_invoices[len(cash_invoices) - hot:], []

    def wait_card_refunds(self, seconds=240):
        """The card refunds are sent by the scheduled job of the servers."""
        deadline = time.monotonic() + seconds
        query = "select count(*) from client_refund where state = 'pending'"
        pending = int(harness.psql(self.db, query)[0])
        while pending and time.monotonic() < deadline:
            time.sleep(3)
            pending = int(harness.psql(self.db, query)[0])
        return pending

    def close_till(self):
        out = os.path.join(self.workdir, "closing.json")
        script = (
            "import json\n"
            f"session = env['pos.session'].browse({self.seeded['session']})\n"
            "session.post_closing_cash_details(session.cash_register_balance_end)\n"
            "result = session.close_session_from_ui()\n"
            "env.cr.commit()\n"
            f"json.dump({{'result': result, 'state': session.state, 'difference': "
            f"session.cash_register_difference, 'expected': session.cash_register_balance_end, "
            f"'name': session.name}}, open({out!r}, 'w'), default=str)\n"
        )
        code = self.site.odoo_bin(self.db, "shell", "--no-http", logfile=self.log("closing"),
                                  stdin=script)
        if code or not os.path.isfile(out):
            return {"state": "not closed", "difference": None, "result": f"exit {code}"}
        with open(out, encoding="utf-8") as f:
            return json.load(f)

    # ------------------------------------------------------------------ the books

    def sql(self, query):
        proc = harness.capture(["psql", "-X", "-d", self.db, "-At", "-F", "\t", "-c", query])
        if proc.returncode:
            raise harness.Failure(proc.stderr)
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def check_books(self, pending, closing):
        core_invoices = getattr(self, "core_invoices", set())
        # core's contention run credits its invoices without a lock: they are
        # counted apart, not judged
        core_hot_invoices = self.hot_documents("core")[0]
        not_core_invoice = f"NOT IN ({', '.join(str(int(i)) for i in core_hot_invoices)})"
        checks = []

        def check(title, rows, detail=str):
            checks.append((title, len(rows), ", ".join(detail(r) for r in rows[:5])))

        over_credited = """
            SELECT inv.name, inv.amount_total, sum(cn.amount_total) FROM account_move inv
            JOIN account_move cn ON cn.reversed_entry_id = inv.id AND cn.state = 'posted'
             AND cn.move_type = 'out_refund'
            WHERE inv.move_type = 'out_invoice' AND inv.id {}
            GROUP BY inv.id HAVING sum(cn.amount_total) > inv.amount_total + 0.005"""
        check("invoice credited beyond its total", self.sql(over_credited.format(not_core_invoice)))
        check("invoice paid back beyond what was paid (register)", self.sql("""
            SELECT m.name, m.amount_total, sum(r.amount_paid_back) FROM client_refund r
            JOIN account_move m ON m.id = r.source_move_id
            WHERE r.state IN ('done', 'pending')
            GROUP BY m.id HAVING sum(r.amount_paid_back) > m.amount_total + 0.005"""))
        check("POS order line refunded beyond its quantity", self.sql("""
            SELECT l.id, l.qty, -sum(rl.qty) FROM pos_order_line l
            JOIN pos_order_line rl ON rl.refunded_orderline_id = l.id
            JOIN pos_order ro ON ro.id = rl.order_id AND ro.state NOT IN ('cancel', 'draft')
            GROUP BY l.id HAVING -sum(rl.qty) > l.qty + 0.00001"""))
        check("POS order paid back beyond what was paid", self.sql("""
            WITH links AS (
                SELECT DISTINCT rl.order_id AS refund_id, l.order_id AS order_id
                FROM pos_order_line rl JOIN pos_order_line l ON l.id = rl.refunded_orderline_id)
            SELECT o.name, o.amount_paid, -sum(ro.amount_paid) FROM links
            JOIN pos_order ro ON ro.id = links.refund_id AND ro.state NOT IN ('cancel', 'draft')
            JOIN pos_order o ON o.id = links.order_id
            GROUP BY o.id HAVING -sum(ro.amount_paid) > o.amount_paid + 0.005"""))
        check("posted move not balanced", self.sql("""
            SELECT m.name, sum(l.debit) - sum(l.credit) FROM account_move m
            JOIN account_move_line l ON l.move_id = m.id WHERE m.state = 'posted'
            GROUP BY m.id HAVING abs(sum(l.debit) - sum(l.credit)) > 0.005"""))
        drafts = self.sql("""
            SELECT id, name, move_type, reversed_entry_id FROM account_move
            WHERE state = 'draft'""")
        core_drafts = [r for r in drafts if r[3] and int(r[3]) in core_invoices]
        check("draft move left by an addon refund", [r for r in drafts if r not in core_drafts],
              lambda r: f"{r[1]} ({r[2]})")
        check("draft payment", self.sql("SELECT id, name FROM account_payment WHERE state = 'draft'"),
              lambda r: r[1])
        draft_orders = self.sql("SELECT id, name FROM pos_order WHERE state = 'draft'")
        check("unpaid POS refund order", draft_orders, lambda r: r[1])
        check("refund left unbooked (draft, or waiting for Stripe after the sync)", self.sql("""
            SELECT name, state FROM client_refund WHERE state IN ('draft', 'pending')"""),
              lambda r: f"{r[0]} {r[1]}")
        made = http_json(f"{self.stripe}/_load/refunds")
        per_key = collections.Counter(item["key"] for item in made)
        per_refund = collections.Counter(item["metadata"].get("client_refund") for item in made)
        check("card refund sent to Stripe more than once (per idempotency key)",
              [(k, n) for k, n in per_key.items() if n > 1 or not k])
        check("card refund sent to Stripe more than once (per register refund)",
              [(k, n) for k, n in per_refund.items() if n > 1])
        intents = dict(self.sql("""
            SELECT provider_reference, round(amount * 100)::int FROM payment_transaction
            WHERE operation = 'online_direct'"""))
        refunded = collections.Counter()
        for item in made:
            refunded[item["payment_intent"]] += item["amount"]
        check("card payment refunded at Stripe beyond its amount",
              [(i, a) for i, a in refunded.items() if a > int(intents.get(i, 0))])
        register_card = self.sql("""
            SELECT count(*) FROM client_refund WHERE payout_method = 'card'
            AND payment_transaction_id IS NOT NULL""")[0][0]
        self.card_summary = (f"{len(made)} refunds made at Stripe for {register_card} register "
                             f"card refunds sent; {pending} still pending after the sync")
        till_ok = closing.get("state") == "closed" and not closing.get("difference")
        check("till session not closed with 0 difference", [] if till_ok else [closing],
              lambda r: json.dumps(r, default=str)[:200])
        core_over_credited = self.sql(over_credited.format(
            f"IN ({', '.join(str(int(i)) for i in core_hot_invoices)})"))
        self.core_leftovers = (
            f"core's path left {len(core_drafts)} draft credit notes (refused at posting by "
            f"the addon's check, or a payment that failed); it credited "
            f"{len(core_over_credited)} of its {len(core_hot_invoices)} contention invoices "
            f"beyond their total")
        return checks

    # ------------------------------------------------------------------ the table

    def report(self, checks, timings, elapsed):
        def pct(values, q):
            if not values:
                return "-"
            values = sorted(values)
            return f"{values[min(len(values) - 1, int(round(q * (len(values) - 1))))]:.0f}"

        groups = collections.OrderedDict()
        for s in self.samples:
            groups.setdefault((s["scenario"], s["side"], s["kind"]), []).append(s)
        header = ("scenario", "side", "what", "ok", "expected", "errors", "per s", "p50 ms",
                  "p95 ms", "p99 ms")
        rows, throughput, p95s, unexpected = [], {}, {}, collections.Counter()
        for (scenario, side, kind), items in groups.items():
            ok = [s for s in items if s["outcome"] == "ok"]
            expected = [s for s in items if s["outcome"].startswith("expected")]
            errors = [s for s in items if s not in ok and s not in expected]
            span = (max(s["start"] + s["ms"] / 1000 for s in items) - min(s["start"] for s in items))
            rows.append((scenario, side, kind, str(len(ok)), str(len(expected)), str(len(errors)),
                         f"{len(ok) / span:.1f}" if span > 0 else "-",
                         pct([s["ms"] for s in ok], 0.5), pct([s["ms"] for s in ok], 0.95),
                         pct([s["ms"] for s in ok], 0.99)))
            if side == "addon":
                unexpected[scenario] += len(errors)
        for scenario, side in {(s["scenario"], s["side"]) for s in self.samples}:
            refunds = [s for s in self.samples if s["scenario"] == scenario and s["side"] == side
                       and s["kind"] in ("invoice", "pos_order", "invoice (partial)",
                                         "pos_order (partial)", "card (partial)")]
            if not refunds:
                continue
            ok = [s for s in refunds if s["outcome"] == "ok"]
            span = (max(s["start"] + s["ms"] / 1000 for s in refunds)
                    - min(s["start"] for s in refunds))
            throughput[(scenario, side)] = len(ok) / span if span > 0 else 0.0
            # no refund made is no latency met
            p95s[(scenario, side)] = float(pct([s["ms"] for s in ok], 0.95)) if ok else math.inf
            rows.append((scenario, side, "all refunds", str(len(ok)),
                         str(sum(1 for s in refunds if s["outcome"].startswith("expected"))),
                         str(sum(1 for s in refunds if s["outcome"] != "ok"
                                 and not s["outcome"].startswith("expected"))),
                         f"{throughput[(scenario, side)]:.1f}", pct([s["ms"] for s in ok], 0.5),
                         pct([s["ms"] for s in ok], 0.95), pct([s["ms"] for s in ok], 0.99)))
        rows.sort(key=lambda r: ({"distinct": 0, "paced": 1, "contention": 2}.get(r[0], 3),
                                 {"addon": 0, "core": 1}[r[1]], r[2] == "all refunds"))
        print()
        print(f"client_refund under load, {elapsed / 60:.1f} min: 2 Odoo servers x 2 workers + "
              f"cron, {self.opts.users} users on distinct documents (+{self.opts.readers} "
              f"reading the register), {self.opts.contention_users} on {self.opts.hot} "
              f"invoices, {self.opts.hot} POS orders and {self.opts.hot} card payments; "
              f"runs of at most {self.opts.duration} s; {machine()}")
        print_table(header, rows, text_columns=3)
        print("\nerrors by kind:")
        kinds = collections.Counter((s["scenario"], s["side"], s["outcome"])
                                    for s in self.samples if s["outcome"] != "ok")
        print_table(("scenario", "side", "kind", "count"),
                    [(sc, side, kind, str(n)) for (sc, side, kind), n in sorted(kinds.items())]
                    or [("-", "-", "none", "0")], text_columns=3)
        examples = {}
        for s in self.samples:
            if s["outcome"] != "ok" and not s["outcome"].startswith("expected"):
                examples.setdefault(s["outcome"], s["message"][:200])
        for kind, message in examples.items():
            print(f"  e.g. {kind}: {message}")
        print("\nbooks, checked in SQL:")
        failed = False
        for title, count, detail in checks:
            print(f"  {'ok  ' if not count else 'FAIL'}  {title}: {count}"
                  + (f" ({detail})" if count else ""))
            failed = failed or bool(count)
        print(f"  card refunds: {self.card_summary}; {self.core_leftovers}")
        addon = throughput.get(("distinct", "addon"))
        core = throughput.get(("distinct", "core"))
        ratio = addon / core if addon and core else None
        verdicts = [
            f"book checks: {'met' if not failed else 'FAILED'}",
            "no unexpected errors (addon): " + ("met" if not sum(unexpected.values())
                                                 else f"MISSED ({dict(unexpected)})"),
            f"throughput addon/core {ratio:.2f} (>= {TARGET_RATIO}): "
            + ("met" if ratio >= TARGET_RATIO else "MISSED") if ratio else "throughput: not run",
            f"p95 with {self.opts.users} users at a front desk's pace "
            f"{p95s.get(('paced', 'addon'), 0):.0f} ms (< {TARGET_P95_MS:.0f}): "
            + ("met" if p95s.get(("paced", "addon"), 1e9) < TARGET_P95_MS else "MISSED")
            + f" (core's {p95s.get(('paced', 'core'), 0):.0f} ms; without pause "
            f"{p95s.get(('distinct', 'addon'), 0):.0f} ms, core's "
            f"{p95s.get(('distinct', 'core'), 0):.0f} ms)",
        ]
        print("\n" + "; ".join(verdicts))
        print("timing: " + ", ".join(f"{name} {t:.0f}s" for name, t in timings))
        return 1 if failed or sum(unexpected.values()) else 0


def main(argv):
    opts = parse_args(argv)
    try:
        return Load(opts).run()
    except harness.Failure as exc:
        print(f"!!! {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
