"""Unit tests of tools/harness.py: the parts that need neither Odoo nor PostgreSQL."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # noqa: E402  pylint: disable=wrong-import-position

LOG = """\
2025-01-01 10:00:00,001 42 INFO client_refund_run_1 odoo.modules.loading: loading client_refund
2025-01-01 10:00:00,002 42 WARNING client_refund_run_1 odoo.fields: Field res.partner.x: odd
2025-01-01 10:00:00,003 42 WARNING client_refund_run_1 odoo.fields: Field client.refund.amount: odd
2025-01-01 10:00:00,004 42 ERROR client_refund_run_1 odoo.sql_db: bad query
Traceback (most recent call last):
  File "/x/client_refund/models/a.py", line 1
2025-01-01 10:00:00,005 42 WARNING client_refund_run_1 odoo.addons.client_refund.models: x
"""


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "odoo.log"
    path.write_text(LOG)
    return str(path)


def test_log_records_keep_tracebacks_with_their_record(log):
    records = list(harness.log_records(log))
    assert [level for level, _ in records] == ["INFO", "WARNING", "WARNING", "ERROR", "WARNING"]
    assert "Traceback" in records[3][1]


def test_database_name_is_no_mention_of_the_module(log):
    bad = harness.bad_log_records(log)
    assert len(bad) == 3
    assert not any("res.partner" in b for b in bad)
    assert harness.other_warnings(log) == [
        "WARNING odoo.fields: Field res.partner.x: odd\n"]


def test_uninstall_check_counts_only_errors(log):
    bad = harness.bad_log_records(log, warnings=False)
    assert [b.split()[0] for b in bad] == ["ERROR"]


def test_template_name_follows_depends_and_odoo():
    odoo = harness.Odoo([], [], "18.0", None, "/opt/odoo", "/opt/odoo")
    name = harness.template_name(["b", "a"], odoo, demo=False)
    assert name.startswith(harness.TEMPLATE_PREFIX)
    assert name == harness.template_name(["a", "b"], odoo, demo=False)
    assert harness.template_name(["a", "b"], odoo, demo=True) == name + "-demo"
    assert harness.template_name(["a", "b", "c"], odoo, demo=False) != name
    odoo.commit = "abc"
    assert harness.template_name(["a", "b"], odoo, demo=False) != name


def test_odoo_major():
    assert harness.Odoo([], [], "18.0", None, "", "").major == 18
    assert harness.Odoo([], [], "saas~17.4", None, "", "").major == 17


def test_junit_counts_and_summary(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite tests="7" failures="1" errors="1" skipped="2"/>'
                     "</testsuites>")
    counts = harness.junit_counts(str(junit))
    assert harness.summary_line(counts) == "odoo-suite: 3 passed, 2 failed, 2 skipped"
    assert harness.junit_counts(str(tmp_path / "missing.xml"))["tests"] == 0


def make_addon(path, manifest, files=()):
    path.mkdir()
    (path / "__manifest__.py").write_text(manifest)
    for name, text in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return str(path)


def test_check_files(tmp_path):
    good = make_addon(tmp_path / "good", "{'data': ['views/a.xml']}",
                      [("views/a.xml", "<odoo/>")])
    assert harness.check_files(good) == []
    bad = make_addon(tmp_path / "bad", "{'data': ['views/a.xml', 'views/missing.xml']}",
                     [("views/a.xml", "<odoo>"), ("other/b.xml", "<a></b>")])
    problems = harness.check_files(bad)
    assert len(problems) == 3, problems
    assert harness.check_files(make_addon(tmp_path / "code", "dict(a=1)"))[0].startswith(
        "__manifest__.py: not a literal dict")


def test_stage_copies_tracked_and_untracked_but_not_ignored(tmp_path):
    src = make_addon(tmp_path / "some-clone", "{}",
                     [("models/a.py", ""), (".gitignore", "/.build/\n*.pyc\n"),
                      (".build/junk", ""), ("models/b.pyc", ""), ("new.py", "")])
    subprocess.run(["git", "init", "-q", src], check=True)
    subprocess.run(["git", "-C", src, "add", "__manifest__.py", "models/a.py", ".gitignore"],
                   check=True)
    target = harness.stage(src, str(tmp_path / "addons"))
    assert os.path.basename(target) == "client_refund"
    copied = sorted(os.path.relpath(os.path.join(r, f), target)
                    for r, _, fs in os.walk(target) for f in fs)
    assert copied == [".gitignore", "__manifest__.py", "models/a.py", "new.py"]
