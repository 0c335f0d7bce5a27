"""Tests of make load's verdict, which need neither Odoo nor locust: it exits
1 when a book check fails or an unexpected error reached a user of the addon
(tools/load.py), and which errors are expected (tools/load/outcomes.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import load  # noqa: E402  pylint: disable=wrong-import-position

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "load"))

import outcomes  # noqa: E402  pylint: disable=wrong-import-position


def sample(scenario, side, kind, start, ms=400.0, outcome="ok"):
    return {"scenario": scenario, "side": side, "kind": kind, "server": "s", "user": "u",
            "start": start, "ms": ms, "outcome": outcome, "message": ""}


@pytest.fixture(name="run")
def fixture_run():
    run = load.Load(load.parse_args([]))
    run.card_summary = "0 refunds made at Stripe"
    run.core_leftovers = "0 draft credit notes"
    # addon: 4 refunds a second, core: 5, both over 10 s
    run.samples = (
        [sample("distinct", "addon", "invoice", i / 4) for i in range(40)]
        + [sample("distinct", "core", "invoice", i / 5) for i in range(50)]
        + [sample("paced", "addon", "invoice", i, ms=900.0) for i in range(10)]
        + [sample("paced", "core", "invoice", i, ms=800.0) for i in range(10)]
    )
    yield run
    os.rmdir(run.workdir)


CLEAN = [("invoice credited beyond its total", 0, ""), ("posted move not balanced", 0, "")]


def test_clean_books_and_expected_errors_only_exit_0(run, capsys):
    run.samples.append(sample("contention", "addon", "invoice (partial)", 0,
                              outcome="expected: being refunded by someone else"))
    assert run.report(CLEAN, [], 600.0) == 0
    out = capsys.readouterr().out
    assert "book checks: met" in out
    assert "throughput addon/core 0.80 (>= 0.8): met" in out
    assert "at a front desk's pace 900 ms (< 1500): met" in out


def test_a_failed_book_check_exits_1(run, capsys):
    checks = [*CLEAN, ("card refund sent to Stripe more than once (per idempotency key)", 1,
                       "('idem-1', 2)")]
    assert run.report(checks, [], 600.0) == 1
    out = capsys.readouterr().out
    assert "FAIL  card refund sent to Stripe more than once" in out
    assert "book checks: FAILED" in out


def test_an_unexpected_error_of_the_addon_exits_1(run, capsys):
    run.samples.append(sample("contention", "addon", "invoice (partial)", 0,
                              outcome="serialization failure reaching the user"))
    assert run.report(CLEAN, [], 600.0) == 1
    assert "no unexpected errors (addon): MISSED" in capsys.readouterr().out


def test_a_side_with_no_refund_made_misses_the_latency_target(run, capsys):
    run.samples = [s for s in run.samples if s["scenario"] != "paced"] + [
        sample("paced", "addon", "invoice", i, ms=30000.0, outcome="timeout") for i in range(10)]
    run.report(CLEAN, [], 600.0)
    assert "at a front desk's pace inf ms (< 1500): MISSED" in capsys.readouterr().out


def test_only_core_may_meet_the_addon_check_at_posting():
    """Core's path has no check of what is left: the addon's check at posting
    refuses its credit notes. The addon's path reaching it is a failure."""
    error = "odoo.exceptions.UserError"
    message = "Invoice INV/1 would be credited $ 42.00, more than its total of $ 40.00."
    assert outcomes.classify(error, message, "core") == "expected: nothing left to refund"
    assert outcomes.classify(error, message, "addon") == "other error: UserError"
    assert (outcomes.classify(error, "Only $ 3.00 of invoice INV/1 is left to refund", "addon")
            == "expected: nothing left to refund")
    assert (outcomes.classify("psycopg2.errors.SerializationFailure", "could not serialize",
                              "addon") == "serialization failure reaching the user")
