"""Tests of tools/harness.py: the parts that need neither Odoo nor PostgreSQL.

They run in the checks' venv (.build/venv-checks), which has checklog-odoo,
with real git repositories and real virtual environments in tmp_path."""

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # noqa: E402  pylint: disable=wrong-import-position

LOG = """\
2025-01-01 10:00:00,001 42 INFO client_refund_run_1 odoo.modules.loading: loading client_refund
2025-01-01 10:00:00,002 42 WARNING client_refund_run_1 odoo.fields: Field res.partner.x: odd
"""
ADDON_WARNING = ("2025-01-01 10:00:00,003 42 WARNING client_refund_run_1 odoo.fields: "
                 "Field client.refund.amount: odd\n")
OTHER_MODULES_ERROR = """\
2025-01-01 10:00:00,004 42 ERROR client_refund_run_1 odoo.sql_db: bad query
Traceback (most recent call last):
  File "/x/odoo/addons/account/models/a.py", line 1
"""
TRACEBACK_OF_THE_ADDON = """\
2025-01-01 10:00:00,005 42 WARNING client_refund_run_1 odoo.http: odd
Traceback (most recent call last):
  File "/x/client_refund/models/a.py", line 1
"""


@pytest.fixture(name="logs")
def fixture_logs(tmp_path, monkeypatch):
    """Writes a log; checklog-odoo is the one installed beside this python."""
    monkeypatch.setattr(harness, "CHECKLOG",
                        os.path.join(os.path.dirname(sys.executable), "checklog-odoo"))
    monkeypatch.setattr(harness, "LOG_DIR", str(tmp_path / "kept"))

    def write(*records):
        path = tmp_path / "odoo.log"
        path.write_text("".join(records))
        return str(path)
    return write


def test_log_warnings_of_other_modules_pass(logs, capsys):
    assert harness.checklog(logs(LOG), "install")
    assert "clean log" in capsys.readouterr().out


def test_log_warning_of_the_addon_fails_though_the_database_is_named_after_it(logs, capsys):
    assert not harness.checklog(logs(LOG, ADDON_WARNING), "install")
    assert "install: its log" in capsys.readouterr().out
    assert not harness.checklog(logs(LOG, TRACEBACK_OF_THE_ADDON), "install")


def test_log_error_fails_whoever_logs_it(logs):
    assert not harness.checklog(logs(LOG, OTHER_MODULES_ERROR), "install")
    assert not harness.checklog(logs(LOG, OTHER_MODULES_ERROR), "uninstall", warnings=False)


def test_uninstall_log_allows_warnings_of_the_addon(logs):
    assert harness.checklog(logs(LOG, ADDON_WARNING), "uninstall", warnings=False)


def test_exit_code_and_module_state_fail_a_clean_log(logs, capsys):
    assert not harness.checklog(logs(LOG), "install", exit_code=1)
    assert not harness.checklog(logs(LOG), "install", wrong_state=["to install"])
    out = capsys.readouterr().out
    assert "exited with code 1" in out and "client_refund is ['to install']" in out


def test_odoo_major():
    assert harness.Odoo("/x", "18.0").major == 18
    assert harness.Odoo("/x", "saas~17.4").major == 17


def git(*args):
    subprocess.run(["git", *args], check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"))


def fake_odoo(path, version="18.0", requirements="cbor2==5.4.2 ; python_version < '3.12'\n"):
    """A directory that looks like Odoo's source tree to the harness."""
    (path / "odoo").mkdir(parents=True)
    (path / "odoo-bin").write_text("#!/usr/bin/env python3\n")
    (path / "odoo" / "release.py").write_text(f"version = {version!r}\n")
    (path / "requirements.txt").write_text(requirements)
    return path


@pytest.fixture(name="odoo_repo")
def fixture_odoo_repo(tmp_path):
    """A local git repository standing in for Odoo's, with a branch 18.0."""
    repo = fake_odoo(tmp_path / "odoo-mirror")
    git("-C", str(repo), "init", "-q", "-b", "18.0")
    git("-C", str(repo), "add", ".")
    git("-C", str(repo), "commit", "-q", "-m", "Odoo 18.0")
    return str(repo)


def test_odoo_home_is_used_when_it_holds_odoo_18(tmp_path):
    home = fake_odoo(tmp_path / "home")
    odoo, why = harness.find_odoo({"ODOO_HOME": str(home), "ODOO_REPO": "/nowhere"},
                                  str(tmp_path / "clone"))
    assert (odoo.home, odoo.major, why) == (str(home), 18, None)
    assert not (tmp_path / "clone").exists()


def test_odoo_is_cloned_when_none_is_found_then_reused(tmp_path, odoo_repo):
    clone = tmp_path / "build" / "odoo"
    home = fake_odoo(tmp_path / "odoo17", version="17.0")  # not an Odoo 18: not taken
    env = {"ODOO_HOME": str(home), "ODOO_REPO": odoo_repo, "ODOO_REF": "18.0"}
    odoo, why = harness.find_odoo(env, str(clone))
    assert (odoo.home, odoo.version, why) == (str(clone), "18.0", None)
    assert not os.path.exists(f"{clone}.partial")
    # shallow: one commit, no history fetched
    log = subprocess.run(["git", "-C", str(clone), "rev-list", "--count", "HEAD"],
                         capture_output=True, text=True, check=True)
    assert log.stdout.strip() == "1"
    # a second run takes the clone, even with the repository gone
    odoo, why = harness.find_odoo(dict(env, ODOO_REPO="/nowhere"), str(clone))
    assert (odoo.home, why) == (str(clone), None)


def test_odoo_ref_may_be_a_commit(tmp_path, odoo_repo):
    commit = subprocess.run(["git", "-C", odoo_repo, "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    git("-C", odoo_repo, "commit", "-q", "--allow-empty", "-m", "later")
    odoo, _why = harness.find_odoo({"ODOO_HOME": "/nowhere", "ODOO_REPO": odoo_repo,
                                    "ODOO_REF": commit}, str(tmp_path / "clone"))
    head = subprocess.run(["git", "-C", odoo.home, "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert head == commit


def test_odoo_ref_may_be_an_abbreviated_commit(tmp_path, odoo_repo):
    """A git server takes no abbreviated id: the harness finds the full one."""
    commit = subprocess.run(["git", "-C", odoo_repo, "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    git("-C", odoo_repo, "commit", "-q", "--allow-empty", "-m", "later")
    clone = tmp_path / "clone"
    odoo, why = harness.find_odoo({"ODOO_HOME": "/nowhere", "ODOO_REPO": odoo_repo,
                                   "ODOO_REF": commit[:8]}, str(clone))
    assert why is None
    head = subprocess.run(["git", "-C", odoo.home, "rev-list", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert head == [commit]  # that commit, still one deep
    assert sorted(os.listdir(tmp_path)) == ["clone", "odoo-mirror"]


def test_an_abbreviated_commit_found_nowhere_asks_for_a_full_id(tmp_path, odoo_repo):
    odoo, why = harness.find_odoo({"ODOO_HOME": "/nowhere", "ODOO_REPO": odoo_repo,
                                   "ODOO_REF": "0000000"}, str(tmp_path / "clone"))
    assert odoo is None
    assert "no single commit of" in why and "starts with 0000000" in why
    assert "give ODOO_REF a full 40-character commit id, a branch or a tag" in why
    assert sorted(os.listdir(tmp_path)) == ["odoo-mirror"]


def test_a_failed_clone_says_why_and_leaves_nothing(tmp_path):
    clone = tmp_path / "clone"
    odoo, why = harness.find_odoo({"ODOO_HOME": "/nowhere", "ODOO_REPO": str(tmp_path / "none"),
                                   "ODOO_REF": "18.0"}, str(clone))
    assert odoo is None
    assert why.startswith("NO ODOO 18 (ODOO_HOME=/nowhere)")
    assert f"could not clone {tmp_path / 'none'} at 18.0" in why
    assert "Running only the checks that need no Odoo" in why
    assert not clone.exists() and not os.path.exists(f"{clone}.partial")


def test_a_clone_of_another_version_is_refused(tmp_path):
    repo = fake_odoo(tmp_path / "mirror17", version="17.0")
    git("-C", str(repo), "init", "-q", "-b", "18.0")
    git("-C", str(repo), "add", ".")
    git("-C", str(repo), "commit", "-q", "-m", "Odoo 17 on a branch named 18.0")
    odoo, why = harness.find_odoo({"ODOO_HOME": "/nowhere", "ODOO_REPO": str(repo)},
                                  str(tmp_path / "clone"))
    assert odoo is None and "is no Odoo 18 source tree" in why


def test_odoo_requirements_fixes(tmp_path):
    home = fake_odoo(tmp_path / "odoo", requirements=(
        "cbor2==5.4.2 ; python_version < '3.12'\ncbor2==5.6.2 ; python_version >= '3.12'\n"
        "python-ldap==3.4.0 ; sys_platform != 'win32'\nlxml==4.9.3\n"))
    fixed = harness.odoo_requirements(str(home), ldap_headers=False)
    assert fixed == ("cbor2==5.6.2 ; python_version < '3.12'\n"
                     "cbor2==5.6.2 ; python_version >= '3.12'\nlxml==4.9.3\n")
    assert "python-ldap==3.4.0" in harness.odoo_requirements(str(home), ldap_headers=True)


def test_venv_is_built_once_then_rebuilt_when_requirements_change(tmp_path):
    venv = str(tmp_path / "venv")
    python = harness.ensure_venv("# nothing to install\n", venv)
    marker = os.path.join(venv, "marker")
    open(marker, "w", encoding="utf-8").close()
    out = subprocess.run([python, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"  # a virtual environment, not the interpreter it came from
    assert harness.ensure_venv("# nothing to install\n", venv) == python
    assert os.path.exists(marker), "the second run rebuilt the venv"
    harness.ensure_venv("# nothing to install, changed\n", venv)
    assert not os.path.exists(marker), "a change of requirements did not rebuild the venv"


def test_failed_install_leaves_no_venv_taken_for_good(tmp_path):
    venv = str(tmp_path / "venv")
    with pytest.raises(harness.Failure, match="could not install the requirements"):
        harness.ensure_venv(f"-r {tmp_path / 'missing.txt'}\n", venv)
    assert not os.path.exists(os.path.join(venv, "requirements.sha256"))


def make_addon(path, manifest, files=()):
    path.mkdir()
    (path / "__manifest__.py").write_text(manifest)
    for name, text in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return str(path)


def test_stage_copies_the_addon_but_not_build_output(tmp_path):
    src = make_addon(tmp_path / "some-clone", "{}",
                     [("models/a.py", ""), (".gitignore", "/.build/\n*.pyc\n"),
                      (".build/junk", ""), ("models/b.pyc", ""), ("new.py", "")])
    target = harness.stage(src, str(tmp_path / "addons"))
    assert os.path.basename(target) == "client_refund"
    copied = sorted(os.path.relpath(os.path.join(r, f), target)
                    for r, _, fs in os.walk(target) for f in fs)
    assert copied == [".gitignore", "__manifest__.py", "models/a.py", "new.py"]


def test_a_python_of_ones_own_is_checked_not_installed_into(monkeypatch):
    monkeypatch.setenv("PYTHON", sys.executable)  # the checks' venv: no Odoo packages
    with pytest.raises(harness.Failure, match=r"lacks pytest_odoo, stripe, click_odoo_contrib"):
        harness.project_python(harness.Odoo("/nowhere", "18.0"))


def test_a_port_in_use_is_told_before_odoo_starts():
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert harness.port_taken(sock.getsockname()[1]) == "Address already in use"
    assert harness.port_taken(harness.free_port()) is None


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name  (http.server's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def test_run_says_where_odoo_is_only_once_it_answers(capfd):
    port = harness.free_port()
    harness.say_when_up([f"http://127.0.0.1:{port}/web/login",
                         f"http://127.0.0.1:{port}/web/static/img/favicon.ico"], "Odoo is up")
    time.sleep(2)
    assert "Odoo is up" not in capfd.readouterr().out  # nothing listens yet
    server = http.server.HTTPServer(("127.0.0.1", port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = ""
        for _ in range(100):
            out += capfd.readouterr().out
            if "Odoo is up" in out:
                break
            time.sleep(0.1)
        assert out == "[harness] Odoo is up\n"
    finally:
        server.shutdown()
        server.server_close()
