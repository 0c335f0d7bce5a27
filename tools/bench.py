#!/usr/bin/env python3
"""Benchmark of client_refund against Odoo core (`make bench`).

    bench.py [--runs N] [--pos-orders N] [--register N[,N...]] [--db NAME] [--keep]
             [--log-sql] [--explain] [--only invoice,policy,pos,register]

On a database made from click-odoo-initdb's cached template (the addon's dependencies,
without demo data) with the addon installed, one run measures side by side
the SQL queries and the wall time (median of --runs runs, after one warm-up
run) of:

* the full refund of a paid invoice of 1, 10 and 100 lines through the addon's
  wizard (payout in cash) against the core reversal wizard, the posting of its
  credit note and the core payment registration on the credit note;
* the same invoices refunded for a late cancellation under a refund policy
  (its fee invoiced and settled from the payment) against the same core
  refund: the policy's extra queries must not grow with the lines;
* --pos-orders refunds of paid POS orders through the addon's wizard against
  core pos.order.refund() and pos.make.payment;
* the refund register with --register records (by default 100,000, then
  1,000,000: the same records and 900,000 more): the list view's
  web_search_read, the pivot's read_groups (month of the Request Date x reason), the
  client's smart button count and the client's list it opens (server time,
  no core counterpart; the target is under a second).

Each measured run starts from flushed and invalidated caches (as
assertQueryCount and the addon's tests count queries) and runs in a
savepoint that is rolled back afterwards, so that every run refunds a fresh
document. Addon and core runs alternate, so that the load of the machine
weighs on both alike. Queries are counted with the cursor's sql_log_count,
time with time.perf_counter, in the server process (no HTTP). The time ratio
is the median of the ratios of each round (a core run, then an addon run).

--db NAME     use (or create, and keep) this database instead of a throw-away
              copy: the addon is updated to the code measured, the fixtures
              and the register records are made once.
--log-sql     one more run of each case with every query recorded: queries
              per table and per calling function, addon against core.
--explain     EXPLAIN ANALYZE of the slowest queries of the register views.

Environment: as tools/harness.py (ODOO_HOME, ADDON_DIR, PYTHON, ...); `make bench`
runs it with the project's Python (harness.py python tools/bench.py ...).
The measuring part runs in a child process, with Odoo on its path:
    bench.py measure CONFIG DATABASE OPTIONS_JSON
"""

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402  pylint: disable=wrong-import-position
from report import machine, print_table  # noqa: E402  pylint: disable=wrong-import-position

MODULE = harness.MODULE
TARGET_RATIO = 1.2
TARGET_REGISTER_MS = 1000.0


def say(msg):
    print(f"[bench] {msg}", flush=True)


# --------------------------------------------------------------------------
# The outer process: database, addon, child process


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per case (median)")
    parser.add_argument("--pos-orders", type=int, default=200, help="POS orders refunded")
    parser.add_argument("--register", default="100000,1000000",
                        help="register records: sizes measured in turn, comma-separated")
    parser.add_argument("--db", help="database to use or create, and keep")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away database")
    parser.add_argument("--log-sql", action="store_true", help="group the queries by table/caller")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the register")
    parser.add_argument("--only", default="invoice,policy,pos,register",
                        help="comma-separated cases among invoice, policy, pos, register")
    opts = parser.parse_args(argv)
    opts.only = [case.strip() for case in opts.only.split(",") if case.strip()]
    try:
        opts.register = sorted(int(size.replace("_", "")) for size in opts.register.split(",")
                               if size.strip())
    except ValueError:
        parser.error(f"--register: sizes separated by commas, not {opts.register!r}")
    unknown = set(opts.only) - {"invoice", "policy", "pos", "register"}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    return opts


def cmd_bench(opts):
    workdir = tempfile.mkdtemp(prefix=f"{MODULE}-bench-")
    logfile = os.path.join(workdir, "bench-odoo.log")
    site, addon = harness.prepare(workdir, logfile=logfile)
    say(f"Odoo {site.odoo.version} at {site.odoo.home}; addon {addon}")
    db = opts.db or f"{harness.RUN_PREFIX}{os.getpid()}"
    throw_away = not opts.db and not opts.keep
    try:
        if harness.psql("postgres", f"select 1 from pg_database where datname = '{db}'"):
            # the database follows the code measured, as `make run` does
            say(f"database {db}: reused, updating {MODULE}")
            update_log = os.path.join(workdir, "bench-update.log")
            code = site.odoo_bin(db, "-u", MODULE, "--stop-after-init", "--no-http",
                                 logfile=update_log)
            if not harness.checklog(update_log, f"update of {MODULE} on {db}", code):
                raise harness.Failure(f"could not update {MODULE} on {db}")
        else:
            depends = harness.read_manifest(addon).get("depends", [])
            site.new_database(db, depends, False, os.path.join(workdir, "bench-initdb.log"))
            if not site.install(db, os.path.join(workdir, "bench-install.log"),
                                f"install of {MODULE} on {db}"):
                raise harness.Failure(f"could not install {MODULE} on {db}")
        options = json.dumps({
            "runs": opts.runs, "pos_orders": opts.pos_orders, "register": opts.register,
            "log_sql": opts.log_sql, "explain": opts.explain, "only": opts.only,
            "odoo": f"{site.odoo.version} at {site.odoo.home}",
        })
        proc = harness.run([site.python, os.path.abspath(__file__), "measure", site.conf, db,
                            options], check=False, env=dict(site.env, TZ="UTC"),  # as odoo-bin
                           stdin=subprocess.DEVNULL)
        if proc.returncode:
            raise harness.Failure(f"the benchmark failed (Odoo's log: {logfile})")
        return 0
    finally:
        if throw_away:
            site.drop_database(db)
        else:
            say(f"database {db} kept (bench.py --db {db} reuses it; dropdb {db} drops it)")
        if os.path.isfile(logfile):
            shutil.copy(logfile, harness.LOG_DIR)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv):
    if argv[:1] == ["measure"] and len(argv) == 4:
        return measure(argv[1], argv[2], json.loads(argv[3]))
    try:
        return cmd_bench(parse_args(argv))
    except harness.Failure as exc:
        print(f"!!! {exc}")
        return 1


# --------------------------------------------------------------------------
# The child process: Odoo loaded, one cursor


class Result:
    """Queries and milliseconds of the runs of one case, per side."""

    def __init__(self, name, paired=True, target=None):
        self.name = name
        self.paired = paired
        self.target = target  # "ratio" (addon/core) or "ms" (server time)
        self.runs = {"addon": [], "core": []}

    def add(self, side, queries, ms):
        self.runs[side].append((queries, ms))

    def queries(self, side):
        runs = self.runs[side]
        return statistics.median(q for q, _ms in runs) if runs else None

    def ms(self, side):
        runs = self.runs[side]
        return statistics.median(ms for _q, ms in runs) if runs else None

    def ratios(self):
        """Addon/core: queries as the ratio of the medians; time as the median
        of the ratios of each round (a core run and the addon run right after
        it), which the load of a shared machine sways less."""
        if not self.paired or not self.runs["core"]:
            return None, None
        return (
            self.queries("addon") / self.queries("core"),
            statistics.median(
                addon_ms / core_ms
                for (_aq, addon_ms), (_cq, core_ms) in zip(self.runs["addon"], self.runs["core"])
            ),
        )


class QueryLog:
    """Records the queries of a cursor (Odoo's query_hooks) with their caller."""

    KIND = re.compile(r"^\s*(\w+)", re.S)
    TABLE = {
        "INSERT": re.compile(r'\binto\s+"?(\w+)', re.I),
        "UPDATE": re.compile(r'^\s*update\s+"?(\w+)', re.I),
        "DELETE": re.compile(r'\bfrom\s+"?(\w+)', re.I),
        "SELECT": re.compile(r'\bfrom\s+"?(\w+)', re.I),
        "WITH": re.compile(r'\bfrom\s+"?(\w+)', re.I),
    }

    def __init__(self, addon_dir, keep_sql=False):
        self.addon_dir = addon_dir
        self.keep_sql = keep_sql
        self.entries = []

    def hook(self, cr, query, params, start, delay):
        text = query.decode() if isinstance(query, bytes) else str(query)
        match = self.KIND.match(text)
        kind = match.group(1).upper() if match else "?"
        table_re = self.TABLE.get(kind)
        table_match = table_re.search(text) if table_re else None
        table = table_match.group(1) if table_match else "-"
        addon_caller, core_caller, entry_point = self.callers()
        entry = {"kind": kind, "table": table, "ms": delay * 1000, "addon_caller": addon_caller,
                 "core_caller": core_caller, "entry": entry_point}
        if self.keep_sql:
            entry["sql"] = cr.mogrify(query, params).decode(errors="replace")
        self.entries.append(entry)

    def callers(self):
        """The innermost function of the addon that led to the query, the
        innermost function of Odoo's addons (not the ORM) that ran it, and the
        method the benchmark called."""
        stack = traceback.extract_stack()[:-3]
        addon_caller = core_caller = None
        entry = "(flush)"
        for frame in reversed(stack):
            path = frame.filename.replace(os.sep, "/")
            if path.endswith("/tools/bench.py"):
                break
            if frame.filename.startswith(self.addon_dir):
                name = f"{os.path.relpath(frame.filename, self.addon_dir)}:{frame.name}"
                addon_caller = addon_caller or name
            elif "/addons/" in path:
                name = f"{path.rsplit('/addons/', 1)[1]}:{frame.name}"
                core_caller = core_caller or name
            else:
                name = f"odoo/{path.rsplit('/odoo/', 1)[-1]}:{frame.name}"
            entry = name
        return addon_caller or "(none)", core_caller or "(ORM only)", entry

    def __enter__(self):
        import threading  # pylint: disable=import-outside-toplevel

        thread = threading.current_thread()
        self._previous = getattr(thread, "query_hooks", ())
        thread.query_hooks = (*self._previous, self.hook)
        return self

    def __exit__(self, *exc):
        import threading  # pylint: disable=import-outside-toplevel

        threading.current_thread().query_hooks = self._previous

    def count_by(self, key):
        return collections.Counter(key(entry) for entry in self.entries)


def measure(conf, db, options):
    # Odoo is on PYTHONPATH only in this child process
    import threading  # pylint: disable=import-outside-toplevel

    import odoo  # pylint: disable=import-outside-toplevel,import-error
    from odoo.tools import config  # pylint: disable=import-outside-toplevel,import-error

    config.parse_config(["-c", conf, "-d", db], setup_logging=True)
    threading.current_thread().dbname = db
    registry = odoo.modules.registry.Registry(db)
    addon_dir = odoo.modules.module.get_module_path(MODULE) + os.sep
    with registry.cursor() as cr:
        bench = Bench(odoo, cr, options, addon_dir)
        bench.run()
        cr.rollback()
    return 0


class Bench:
    def __init__(self, odoo, cr, options, addon_dir):
        self.odoo = odoo
        self.cr = cr
        self.options = options
        self.addon_dir = addon_dir
        self.runs = options["runs"]
        self.results = []
        self.logs = []  # (case, {side: QueryLog})
        self.explains = []
        self.su_env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})

    # ------------------------------------------------------------------
    # measuring

    def measured(self, env, function, log=None):
        """Queries and ms of `function`, from flushed, invalidated caches."""
        env.flush_all()
        env.cr.flush()
        env.invalidate_all()
        with log or contextlib.nullcontext():
            before = env.cr.sql_log_count
            start = time.perf_counter()
            function()
            env.flush_all()
            env.cr.flush()  # precommit hooks too: tracking values, as a commit would
            elapsed = (time.perf_counter() - start) * 1000
            return env.cr.sql_log_count - before, elapsed

    def in_savepoint(self, env, prepare, act, log=None):
        """prepare() (not measured), then act(prepared) measured; rolled back."""
        savepoint = env.cr.savepoint()
        try:
            prepared = prepare()
            result = self.measured(env, lambda: act(prepared), log=log)
        finally:
            savepoint.close(rollback=True)
            env.invalidate_all()
        return result

    def run_pairs(self, result, env, prepare, sides, count, warmup=1, log_run=False):
        """Alternate core and addon runs: warm-up runs first, not kept."""
        for index in range(warmup + count):
            for side in ("core", "addon"):
                queries, ms = self.in_savepoint(env, prepare, sides[side])
                if index >= warmup:
                    result.add(side, queries, ms)
        if log_run:
            logs = {}
            for side in ("core", "addon"):
                logs[side] = QueryLog(self.addon_dir)
                self.in_savepoint(env, prepare, sides[side], log=logs[side])
            self.logs.append((result.name, logs))

    # ------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        self.setup()
        self.cr.commit()
        only = self.options["only"]
        if "invoice" in only:
            self.bench_invoices()
        if "policy" in only:
            self.bench_policy()
        if "pos" in only:
            self.bench_pos()
        if "register" in only:
            self.bench_register()
        self.cr.rollback()
        self.print_report(time.monotonic() - started)

    def setup(self):
        """Fixtures shared by every case, made once per database (committed)."""
        env = self.su_env
        Command = self.odoo.Command
        self.company = env.ref("base.main_company")
        self.admin = env.ref("base.user_admin")
        self.currency = self.company.currency_id
        journals = env["account.journal"].search(
            [*env["account.journal"]._check_company_domain(self.company)]
        )
        # the chart's own cash journal, not the tills of earlier runs
        self.cash_journal = journals.sorted("id").filtered(
            lambda j: j.type == "cash" and not j.name.startswith("Bench Till"))[:1]
        self.sale_journal = journals.sorted("id").filtered(lambda j: j.type == "sale")[:1]
        if not self.cash_journal or not self.sale_journal:
            raise RuntimeError("the template's company has no cash or sale journal")
        self.company.client_refund_journal_id = self.cash_journal
        self.tax = self.company.account_sale_tax_id
        self.reason = env.ref("client_refund.reason_client_request")
        Product = env["product.product"]
        self.services = Product.search([("default_code", "=like", "BENCH-S%")], order="id")
        if not self.services:
            self.services = Product.create([
                {
                    "name": f"Bench service {index}",
                    "default_code": f"BENCH-S{index:02d}",
                    "type": "service",
                    "list_price": 20.0 + 5 * index,
                    "available_in_pos": True,
                    "taxes_id": [Command.set(self.tax.ids)],
                }
                for index in range(10)
            ])
        self.storable = Product.search([("default_code", "=", "BENCH-P")])
        if not self.storable:
            self.storable = Product.create({
                "name": "Bench shampoo",
                "default_code": "BENCH-P",
                "type": "consu",
                "is_storable": True,
                "list_price": 15.0,
                "available_in_pos": True,
                "taxes_id": [Command.set(self.tax.ids)],
            })
            warehouse = env["stock.warehouse"].search([("company_id", "=", self.company.id)],
                                                      limit=1)
            env["stock.quant"].with_context(inventory_mode=True).create({
                "product_id": self.storable.id,
                "inventory_quantity": 1_000_000,
                "location_id": warehouse.lot_stock_id.id,
            }).action_apply_inventory()
        self.client = env["res.partner"].search([("ref", "=", "BENCH-CLIENT")], limit=1)
        if not self.client:
            # no e-mail: the addon would send its receipt, which core has no
            # counterpart of
            self.client = env["res.partner"].create({"name": "Bench Client", "ref": "BENCH-CLIENT"})
        self.admin_env = self.odoo.api.Environment(
            self.cr, self.admin.id, {"lang": "en_US", "tz": "UTC"}
        )
        # one refund made and committed by each side, so that yearly sequences
        # and date ranges exist as on a live database
        env = self.admin_env
        if not env["client.refund"].search_count([("partner_id", "=", self.client.id)]):
            for act in (self.core_invoice_refund, self.addon_invoice_refund):
                act(self.paid_invoice(1))
                env.flush_all()

    # ------------------------------------------------------------------
    # invoices

    def paid_invoice(self, size):
        env = self.admin_env
        Command = self.odoo.Command
        invoice = env["account.move"].create({
            "move_type": "out_invoice",
            "partner_id": self.client.id,
            "journal_id": self.sale_journal.id,
            "invoice_line_ids": [
                Command.create({
                    "product_id": self.services[index % len(self.services)].id,
                    "quantity": 1 + index % 3,
                    "price_unit": 10.0 + index,
                    "tax_ids": [Command.set(self.tax.ids)],
                })
                for index in range(size)
            ],
        })
        invoice.action_post()
        env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.cash_journal.id})._create_payments()
        return invoice

    def core_invoice_refund(self, invoice):
        env = self.admin_env
        reversal = env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": invoice.journal_id.id, "reason": "Client request"})
        action = reversal.refund_moves()
        credit_note = env["account.move"].browse(action["res_id"])
        credit_note.action_post()
        env["account.payment.register"].with_context(
            active_model="account.move", active_ids=credit_note.ids
        ).create({"journal_id": self.cash_journal.id}).action_create_payments()
        if credit_note.payment_state not in ("paid", "in_payment"):
            raise RuntimeError(f"core: credit note {credit_note.name} is {credit_note.payment_state}")

    def addon_invoice_refund(self, invoice, reason=None):
        env = self.admin_env
        wizard = env["client.refund.wizard"].with_context(
            default_source_type="invoice", default_move_id=invoice.id
        ).create({
            "refund_mode": "full",
            "reason_id": (reason or self.reason).id,
            "payout_method": "journal",
            "payout_journal_id": self.cash_journal.id,
            "send_receipt": False,
        })
        action = wizard.action_confirm()
        if invoice.payment_state != "reversed":
            raise RuntimeError(f"addon: invoice {invoice.name} is {invoice.payment_state}")
        return env["client.refund"].browse(action["res_id"])

    def bench_invoices(self):
        for size in (1, 10, 100):
            lines = "line" if size == 1 else "lines"
            result = Result(f"invoice of {size} {lines}: full refund, cash payout",
                            target="ratio")
            say(f"{result.name} ...")
            self.run_pairs(
                result, self.admin_env, lambda size=size: self.paid_invoice(size),
                {"core": self.core_invoice_refund, "addon": self.addon_invoice_refund},
                self.runs, log_run=self.options["log_sql"],
            )
            self.results.append(result)

    # ------------------------------------------------------------------
    # refund policies

    def policy_setup(self):
        """The bench services under a policy that keeps 50 % of a late
        cancellation on its own fee product (committed, made once)."""
        env = self.su_env
        Policy = env["client.refund.policy"]
        policy = Policy.search([("name", "=", "Bench policy"), ("company_id", "=", self.company.id)])
        if not policy:
            fee_product = env["product.product"].create({
                "name": "Bench cancellation fee",
                "type": "service",
                "taxes_id": [self.odoo.Command.set(self.tax.ids)],
            })
            policy = Policy.create({
                "name": "Bench policy",
                "company_id": self.company.id,
                "late_fee_percent": 50.0,
                "late_fee_min": 10.0,
                "fee_product_id": fee_product.id,
            })
        self.services.product_tmpl_id.with_company(self.company).client_refund_policy_id = policy
        self.cr.commit()
        self.late_reason = env.ref("client_refund.reason_late_cancellation")

    def addon_policy_refund(self, invoice):
        refund = self.addon_invoice_refund(invoice, reason=self.late_reason)
        if not refund.fee_move_ids or refund.fee_move_ids.payment_state not in ("paid", "in_payment"):
            raise RuntimeError(f"addon: {refund.name} kept no settled fee")

    def bench_policy(self):
        self.policy_setup()
        for size in (1, 10, 100):
            lines = "line" if size == 1 else "lines"
            result = Result(f"invoice of {size} {lines}: late cancellation, fee kept",
                            target="ratio")
            say(f"{result.name} ...")
            self.run_pairs(
                result, self.admin_env, lambda size=size: self.paid_invoice(size),
                {"core": self.core_invoice_refund, "addon": self.addon_policy_refund},
                self.runs, log_run=self.options["log_sql"],
            )
            self.results.append(result)

    # ------------------------------------------------------------------
    # Point of Sale

    def pos_setup(self):
        """A Point of Sale of its own for each run, so that the session holds the
        same orders whether the database is new or reused (a cash journal
        backs a single cash payment method)."""
        env = self.su_env
        Command = self.odoo.Command
        number = env["pos.config"].search_count([("name", "=like", "Bench Shop %")]) + 1
        journal = env["account.journal"].create({
            "name": f"Bench Till {number}", "type": "cash", "code": f"BT{number:03d}",
            "company_id": self.company.id,
        })
        cash = env["pos.payment.method"].create({
            "name": f"Bench Cash {number}", "journal_id": journal.id,
            "company_id": self.company.id,
        })
        self.pos_config = env["pos.config"].create({
            "name": f"Bench Shop {number}",
            "invoice_journal_id": self.sale_journal.id,
            "payment_method_ids": [Command.set(cash.ids)],
        })
        self.pos_cash = cash
        self.pos_config.with_user(self.admin).open_ui()
        self.pos_session = self.pos_config.current_session_id
        self.pos_session.set_opening_control(0, None)

    def pos_orders(self, count):
        """`count` paid orders of the open session: a service and a product."""
        env = self.admin_env
        session = self.pos_session.with_env(env)
        fiscal_position = self.pos_config.default_fiscal_position_id
        lines = [(self.services[0], 1.0), (self.storable, 2.0)]
        order_data = []
        for number in range(count):
            uuid = f"bench-{os.getpid()}-{time.time_ns()}-{number}"
            order_lines, total, untaxed = [], 0.0, 0.0
            for product, quantity in lines:
                taxes = fiscal_position.map_tax(product.taxes_id)
                price = product.lst_price
                computed = taxes.compute_all(price, self.currency, quantity, product=product)
                total += computed["total_included"]
                untaxed += computed["total_excluded"]
                order_lines.append((0, 0, {
                    "product_id": product.id,
                    "qty": quantity,
                    "price_unit": price,
                    "price_subtotal": computed["total_excluded"],
                    "price_subtotal_incl": computed["total_included"],
                    "tax_ids": [(6, 0, taxes.ids)],
                    "pack_lot_ids": [],
                }))
            order_data.append({
                "uuid": uuid,
                "name": f"Order {uuid}",
                "session_id": session.id,
                "sequence_number": number + 1,
                "user_id": env.uid,
                "partner_id": self.client.id,
                "pricelist_id": self.pos_config.pricelist_id.id,
                "fiscal_position_id": fiscal_position.id,
                "date_order": self.odoo.fields.Datetime.to_string(self.odoo.fields.Datetime.now()),
                "lines": order_lines,
                "payment_ids": [(0, 0, {
                    "amount": total,
                    "name": self.odoo.fields.Datetime.now(),
                    "payment_method_id": self.pos_cash.id,
                })],
                "amount_paid": total,
                "amount_total": total,
                "amount_tax": total - untaxed,
                "amount_return": 0.0,
                "last_order_preparation_change": "{}",
                "to_invoice": False,
            })
        result = env["pos.order"].sync_from_ui(order_data)
        orders = env["pos.order"].browse([order["id"] for order in result["pos.order"]])
        if set(orders.mapped("state")) - {"paid", "done"}:
            raise RuntimeError(f"POS orders not paid: {set(orders.mapped('state'))}")
        return orders

    def core_pos_refund(self, order):
        env = self.admin_env
        action = order.refund()
        refund_order = env["pos.order"].browse(action["res_id"])
        env["pos.make.payment"].with_context(
            active_id=refund_order.id, active_ids=refund_order.ids
        ).create({
            "amount": refund_order.amount_total,
            "payment_method_id": self.pos_cash.id,
        }).check()
        if refund_order.state != "paid":
            raise RuntimeError(f"core: refund order {refund_order.name} is {refund_order.state}")

    def addon_pos_refund(self, order):
        env = self.admin_env
        wizard = env["client.refund.wizard"].with_context(
            default_source_type="pos_order", default_pos_order_id=order.id
        ).create({"reason_id": self.reason.id, "send_receipt": False})
        action = wizard.action_confirm()
        refund = env["client.refund"].browse(action["res_id"])
        if refund.state != "done" or refund.pos_order_ids.state != "paid":
            raise RuntimeError(f"addon: refund {refund.name} is {refund.state}")

    def bench_pos(self):
        count = self.options["pos_orders"]
        self.pos_setup()
        say(f"making {2 * (count + 1)} paid POS orders ...")
        orders = self.pos_orders(2 * (count + 1) + (2 if self.options["log_sql"] else 0))
        self.cr.commit()
        per_refund = Result(f"POS order refund (service + product), median of {count}")
        total = Result(f"{count} POS order refunds, total")
        say(f"{per_refund.name} ...")
        env = self.admin_env
        sides = {"core": self.core_pos_refund, "addon": self.addon_pos_refund}
        remaining = list(orders)
        for index in range(count + 1):
            for side in ("core", "addon"):
                order = remaining.pop(0).with_env(env)
                queries, ms = self.in_savepoint(env, lambda: None,
                                                lambda _prepared, o=order, s=side: sides[s](o))
                if index:  # the first of each side warms up
                    per_refund.add(side, queries, ms)
        for side in ("core", "addon"):
            runs = per_refund.runs[side]
            total.add(side, sum(q for q, _ms in runs), sum(ms for _q, ms in runs))
        if self.options["log_sql"]:
            logs = {}
            for side in ("core", "addon"):
                order = remaining.pop(0).with_env(env)
                logs[side] = QueryLog(self.addon_dir)
                self.in_savepoint(env, lambda: None,
                                  lambda _prepared, o=order, s=side: sides[s](o), log=logs[side])
            self.logs.append((per_refund.name, logs))
        self.results += [per_refund, total]

    # ------------------------------------------------------------------
    # the register

    def register_setup(self, size):
        """`size` client.refund records, made once in bulk SQL: dates over two
        years, 3,000 clients (companies with contacts, skewed: some clients
        refund often), every reason, six staff members, two companies, every
        state and source."""
        env = self.su_env
        Command = self.odoo.Command
        company_2 = env["res.company"].search([("name", "=", "Bench Second Shop")], limit=1)
        if not company_2:
            company_2 = env["res.company"].create({
                "name": "Bench Second Shop", "currency_id": self.currency.id,
            })
        self.admin.company_ids = [Command.link(company_2.id)]
        self.register_companies = self.company + company_2
        existing = env["client.refund"].search_count([])
        if existing >= size:
            return
        say(f"generating {size - existing:,} register records ...")
        partners = env["res.partner"].search([("ref", "=like", "BENCH-R%")], order="id")
        if not partners:
            companies = env["res.partner"].create([
                {"name": f"Bench Company {index}", "is_company": True, "ref": f"BENCH-R{index:04d}",
                 "email": f"company{index}@example.com"}
                for index in range(300)
            ])
            env["res.partner"].create([
                {"name": f"Bench Contact {index}", "parent_id": companies[index % 300].id,
                 "ref": f"BENCH-RC{index:04d}"}
                for index in range(600)
            ])
            env["res.partner"].create([
                {"name": f"Bench Person {index}", "ref": f"BENCH-RP{index:04d}",
                 "phone": f"+32 470 {index:06d}"}
                for index in range(2100)
            ])
            partners = env["res.partner"].search([("ref", "=like", "BENCH-R%")], order="id")
        users = env["res.users"].search([("login", "=like", "bench_staff_%")])
        if not users:
            users = env["res.users"].create([
                {
                    "name": f"Bench Staff {index}",
                    "login": f"bench_staff_{index}",
                    "company_id": self.company.id,
                    "company_ids": [Command.set(self.register_companies.ids)],
                    "groups_id": [Command.link(env.ref(
                        "client_refund.group_client_refund_user").id)],
                }
                for index in range(6)
            ])
        reasons = env["client.refund.reason"].search([])
        env.flush_all()
        self.cr.execute(
            """
            INSERT INTO client_refund (
                name, partner_id, company_id, currency_id, source_type, scope,
                source_reference, amount, amount_paid_back, amount_company_currency,
                payout_method, payout_journal_id, reason_id, state, date, request_date, date_done,
                user_id, send_receipt, create_uid, create_date, write_uid, write_date)
            SELECT
                'RF/' || to_char(d, 'YYYY') || '/' || lpad(g::text, 7, '0'),
                CASE WHEN src = 'pos_order' AND r_anon < 0.1 THEN NULL
                     ELSE (%(partners)s::int[])[1 + floor(power(r_partner, 1.5) * %(n_partners)s)::int]
                END,
                CASE WHEN r_company < 0.75 THEN %(company_1)s ELSE %(company_2)s END,
                %(currency)s, src,
                CASE WHEN src = 'payment' AND r_scope < 0.5 THEN 'void'
                     WHEN r_scope < 0.65 THEN 'full' ELSE 'partial' END,
                CASE src WHEN 'invoice' THEN 'INV/' WHEN 'pos_order' THEN 'Shop/'
                         WHEN 'payment' THEN 'PCSH1/' ELSE 'CARD/' END
                    || to_char(d, 'YYYY') || '/' || lpad((g %% 9973)::text, 5, '0'),
                amount, CASE WHEN state = 'done' THEN amount ELSE 0 END, amount,
                CASE WHEN src = 'pos_order' THEN 'pos'
                     WHEN src = 'payment' AND r_scope < 0.5 THEN 'none'
                     WHEN r_payout < 0.8 THEN 'journal' ELSE 'credit' END,
                CASE WHEN src IN ('invoice', 'payment') AND r_payout < 0.8
                     THEN %(journal)s END,
                (%(reasons)s::int[])[1 + floor(r_reason * %(n_reasons)s)::int],
                state, d, d::date, CASE WHEN state = 'done' THEN d + interval '2 minutes' END,
                (%(users)s::int[])[1 + floor(r_user * %(n_users)s)::int], false,
                1, d, 1, d
            FROM (
                SELECT g, d, r_anon, r_partner, r_company, r_scope, r_payout, r_reason, r_user,
                    round((5 + power(r_amount, 2) * 495)::numeric, 2) AS amount,
                    CASE WHEN r_src < 0.45 THEN 'invoice' WHEN r_src < 0.85 THEN 'pos_order'
                         WHEN r_src < 0.95 THEN 'payment' WHEN r_src < 0.98 THEN 'gift_card'
                         ELSE 'ewallet' END AS src,
                    CASE WHEN r_state < 0.88 THEN 'done' WHEN r_state < 0.93 THEN 'cancel'
                         WHEN r_state < 0.95 THEN 'failed' WHEN r_state < 0.98 THEN 'to_approve'
                         ELSE 'draft' END AS state
                FROM (
                    SELECT g, now() - random() * interval '730 days' AS d,
                        random() AS r_anon, random() AS r_partner, random() AS r_company,
                        random() AS r_scope, random() AS r_payout, random() AS r_reason,
                        random() AS r_user, random() AS r_amount, random() AS r_src,
                        random() AS r_state
                    FROM generate_series(%(first)s, %(last)s) AS g
                ) AS r
            ) AS s
            """,
            {
                "partners": partners.ids, "n_partners": len(partners),
                "company_1": self.company.id, "company_2": company_2.id,
                "currency": self.currency.id, "journal": self.cash_journal.id,
                "reasons": reasons.ids, "n_reasons": len(reasons),
                "users": users.ids, "n_users": len(users),
                # numbers of their own: a second size adds to the first
                "first": existing + 1, "last": size,
            },
        )
        # refunds waiting for approval have their managers' activity, as made
        self.cr.execute(
            """
            INSERT INTO mail_activity (res_model_id, res_model, res_id, res_name,
                activity_type_id, summary, date_deadline, user_id, automated,
                create_uid, create_date, write_uid, write_date)
            SELECT %(model)s, 'client.refund', id, name, %(todo)s, 'Approve refund ' || name,
                date::date, %(manager)s, true, 1, date, 1, date
            FROM client_refund WHERE state = 'to_approve'
            """,
            {
                "model": env["ir.model"]._get_id("client.refund"),
                "todo": env.ref("mail.mail_activity_data_todo").id,
                "manager": self.admin.id,
            },
        )
        # every table analyzed, as autovacuum leaves a settled database
        self.cr.execute("ANALYZE")

    def register_env(self):
        # both companies selected in the company switcher: every record visible
        return self.odoo.api.Environment(self.cr, self.admin.id, {
            "lang": "en_US", "tz": "UTC", "uid": self.admin.id,
            "allowed_company_ids": self.register_companies.ids, "bin_size": True,
        })

    def list_specification(self, env):
        """What the web client asks for the list view: its fields, many2one with
        their display name, the activity widget's icon."""
        from lxml import etree  # pylint: disable=import-outside-toplevel,import-error

        views = env["client.refund"].get_views([(False, "list")])
        arch = etree.fromstring(views["views"]["list"]["arch"])
        fields_info = views["models"]["client.refund"]["fields"]
        spec = {}
        for node in arch.iterchildren("field"):
            name = node.get("name")
            if fields_info[name]["type"] == "many2one":
                spec[name] = {"fields": {"display_name": {}}}
            else:
                spec[name] = {}
            if node.get("widget") == "activity_exception":
                spec["activity_exception_icon"] = {}
        return spec

    def bench_register(self):
        sizes = self.options["register"]
        for size in [sizes] if isinstance(sizes, int) else sizes:
            self.bench_register_size(size)

    def bench_register_size(self, size):
        self.register_setup(size)
        self.cr.commit()
        env = self.register_env()
        Refund = env["client.refund"]
        total = Refund.search_count([])
        spec = self.list_specification(env)
        # the client with the most refunds, as a company with contacts if any
        self.cr.execute(
            """SELECT p.commercial_partner_id FROM client_refund r
               JOIN res_partner p ON p.id = r.partner_id
               GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""
        )
        busiest = env["res.partner"].browse(self.cr.fetchone()[0])

        def open_list():
            Refund.web_search_read([], spec, offset=0, limit=80, order="", count_limit=10001)

        def open_pivot():
            fields = ["amount_company_currency:sum"]
            for groupby in ([], ["request_date:month"], ["reason_id"], ["reason_id", "request_date:month"]):
                Refund.read_group([], fields, groupby, lazy=False)

        client_action = busiest.with_env(env).action_view_client_refunds()

        def client_list():
            Refund.with_context(**client_action["context"]).web_search_read(
                client_action["domain"], spec, offset=0, limit=80, order="", count_limit=10001)

        def smart_button():
            busiest.web_read({"client_refund_count": {}, "client_refund_total_12_months": {},
                              "client_refund_currency_id": {"fields": {"display_name": {}}}})

        cases = [
            (f"register list: web_search_read, 80 of {total:,}", open_list),
            (f"register pivot: 4 read_group, month x reason, {total:,}", open_pivot),
            (f"client smart button: count + 12 months total ({busiest.client_refund_count:,})",
             smart_button),
            (f"client's refunds (the smart button's list), {total:,}", client_list),
        ]
        for name, function in cases:
            say(f"{name} ...")
            result = Result(name, paired=False, target="ms")
            for index in range(1 + self.runs):
                queries, ms = self.in_savepoint(env, lambda: None, lambda _p, f=function: f())
                if index:
                    result.add("addon", queries, ms)
            self.results.append(result)
            log = QueryLog(self.addon_dir, keep_sql=True)
            self.in_savepoint(env, lambda: None, lambda _p, f=function: f(), log=log)
            self.explain(name, log)

    def explain(self, name, log):
        slowest = sorted((e for e in log.entries if e["kind"] in ("SELECT", "WITH")),
                         key=lambda e: -e["ms"])
        if not slowest:
            return
        plans = []
        for entry in slowest[: 3 if self.options["explain"] else 1]:
            plan = None
            if self.options["explain"]:
                self.cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + entry["sql"])
                plan = "\n".join(row[0] for row in self.cr.fetchall())
            plans.append((entry, plan))
        self.explains.append((name, plans))

    # ------------------------------------------------------------------
    # the report

    def print_report(self, elapsed):
        header = ("case", "addon q", "core q", "q ratio", "addon ms", "core ms", "ms ratio")
        rows = []
        for result in self.results:
            q_ratio, ms_ratio = result.ratios()
            rows.append((
                result.name,
                f"{result.queries('addon'):.0f}",
                f"{result.queries('core'):.0f}" if result.paired else "-",
                f"{q_ratio:.2f}" if q_ratio is not None else "-",
                f"{result.ms('addon'):.0f}" if result.ms("addon") >= 100 else f"{result.ms('addon'):.1f}",
                (f"{result.ms('core'):.0f}" if result.ms("core") >= 100 else f"{result.ms('core'):.1f}")
                if result.paired else "-",
                f"{ms_ratio:.2f}" if ms_ratio is not None else "-",
            ))
        self.cr.execute("SHOW server_version")
        pg_version = self.cr.fetchone()[0].split()[0]
        print()
        print(f"client_refund benchmark, {elapsed:.0f} s: median of {self.runs} runs per case "
              f"after a warm-up (POS: of {self.options['pos_orders']} refunds); "
              f"Odoo {self.options['odoo']}, PostgreSQL {pg_version}; {machine()}")
        print_table(header, rows)
        for name, plans in self.explains:
            for entry, plan in plans:
                print(f"slowest query of {name}: {entry['ms']:.1f} ms, {entry['kind']} "
                      f"{entry['table']} ({entry['core_caller']})")
                if plan:
                    sql = entry["sql"]
                    print("    " + (sql if len(sql) < 800 else sql[:800] + " ..."))
                    print("    " + plan.replace("\n", "\n    "))
        for name, logs in self.logs:
            self.print_query_log(name, logs)
        self.print_summary()

    def print_query_log(self, name, logs):
        addon, core = logs["addon"], logs["core"]
        print(f"\nqueries of one run of {name}: addon {len(addon.entries)}, "
              f"core {len(core.entries)}")
        for title, key in (("by statement and table", lambda e: f"{e['kind']} {e['table']}"),
                           ("by Odoo function that ran them", lambda e: e["core_caller"])):
            addon_counts, core_counts = addon.count_by(key), core.count_by(key)
            keys = [k for k in set(addon_counts) | set(core_counts)
                    if addon_counts[k] != core_counts[k]]
            keys.sort(key=lambda k: (-(addon_counts[k] - core_counts[k]), k))
            print(f"  {title}, addon - core (largest differences):")
            for k in keys[:12] + [k for k in keys[12:] if core_counts[k] - addon_counts[k] > 5]:
                print(f"    {addon_counts[k] - core_counts[k]:+5d}  addon {addon_counts[k]:4d}  "
                      f"core {core_counts[k]:4d}  {k}")
        print("  addon run, by the addon's function that led to them (innermost):")
        for k, count in addon.count_by(lambda e: e["addon_caller"]).most_common(15):
            print(f"    {count:5d}  {k}")
        print("  core run, by the method the benchmark called:")
        for k, count in core.count_by(lambda e: e["entry"]).most_common(8):
            print(f"    {count:5d}  {k}")

    def print_summary(self):
        """The last line: the worst ratios, and each target met, missed or not run."""
        paired = [r for r in self.results if r.paired and r.runs["core"]]
        if paired:
            worst_q = max(paired, key=lambda r: r.ratios()[0])
            worst_ms = max(paired, key=lambda r: r.ratios()[1])
            worst = (f"worst addon/core ratio: queries {worst_q.ratios()[0]:.2f} "
                     f"({worst_q.name}), time {worst_ms.ratios()[1]:.2f} ({worst_ms.name})")
        else:
            worst = "no addon/core comparison run"
        verdicts = []
        for target, title, over in (
            ("ratio", f"credit notes <= {TARGET_RATIO} x core",
             lambda r: max(r.ratios()) > TARGET_RATIO),
            ("ms", f"register < {TARGET_REGISTER_MS / 1000:.0f} s",
             lambda r: r.ms("addon") > TARGET_REGISTER_MS),
        ):
            results = [r for r in self.results if r.target == target]
            missed = [r.name for r in results if over(r)]
            if not results:
                verdicts.append(f"{title}: not run")
            elif missed:
                verdicts.append(f"{title}: MISSED ({len(missed)} of {len(results)} rows)")
            else:
                verdicts.append(f"{title}: met")
        print(f"{worst}; targets: {'; '.join(verdicts)}")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
