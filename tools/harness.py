#!/usr/bin/env python3
"""Test harness of the client_refund addon (called by the Makefile).

    harness.py stage SRC DEST_PARENT   copy the addon to DEST_PARENT/client_refund
    harness.py suite                   the Odoo suite (skipped, loudly, without an Odoo 18)
    harness.py run                     serve the addon on the salon demo database
    harness.py python SCRIPT [ARG...]  run SCRIPT with the project's Python and Odoo (make bench)

The databases are click-odoo-contrib's (click-odoo-initdb and its cache of
templates, click-odoo-dropdb), the logs are judged by checklog-odoo, the tests
run in pytest-odoo. What no library does stays here:

* finding Odoo 18 (ODOO_HOME, then .build/odoo), else cloning it shallowly from
  ODOO_REPO at ODOO_REF into .build/odoo;
* the project's virtual environment .build/venv: Odoo's requirements.txt with
  two fixes, and the project's requirements-test.txt (PYTHON overrides it);
* copying the addon under its module name, a PostgreSQL role for the user,
  Chromium and wkhtmltopdf for the tours and the PDF test (Debian, as root);
* the order of the suite and its report.

Only the standard library is used: this runs before any virtual environment.
"""

import ast
import contextlib
import getpass
import hashlib
import http.client
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET

MODULE = "client_refund"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, ".build")
VENV = os.path.join(BUILD, "venv")
CLONE = os.path.join(BUILD, "odoo")
# checklog-odoo lives with the lint tools: the checks that need no Odoo use it too.
CHECKLOG = os.path.join(BUILD, "venv-checks", "bin", "checklog-odoo")
DATA_DIR = os.environ.get("ODOO_DATA_DIR") or os.path.expanduser(f"~/.local/share/{MODULE}-odoo")
LOG_DIR = os.path.join(BUILD, "logs")
RUN_PREFIX = f"{MODULE}_run_"
DEMO_DB = f"{MODULE}_demo"
CACHE_PREFIX = "crdeps"  # click-odoo-initdb drops the old templates of this prefix
SKIP_NAMES = {".git", ".build", "__pycache__", ".pytest_cache"}
DEMO_TESTS = "tests/test_demo_tour.py"
ABBREVIATED_COMMIT = re.compile(r"[0-9a-f]{4,39}")
# Core's own tests of the modules the addon extends, run with the addon
# installed (paths under Odoo's addons/): the addon must not change what they
# check. Core's browser tours (pos_loyalty's frontend) are left out for time.
CORE_TESTS = (
    "account/tests/test_account_move_out_refund.py",
    "account/tests/test_account_payment_register.py",
    "account_payment/tests",
    "payment_stripe/tests",
    "point_of_sale/tests/test_point_of_sale_flow.py",
    "point_of_sale/tests/test_pos_basic_config.py",
    "pos_loyalty/tests/test_unlink_reward.py",
    "loyalty/tests",
    "membership/tests",
)
# Warnings of other modules are not the addon's to fix: the databases come
# from templates where everything else is installed. The database field is
# skipped, as run databases are named after the module.
OTHERS_WARNINGS = rf"(?s)\A\S+ \S+ \d+ WARNING \S+ (?!.*{MODULE.replace('_', '[._]')})"
ANY_WARNING = r"\A\S+ \S+ \d+ WARNING "


def say(msg):
    print(f"[harness] {msg}", flush=True)


def loud(msg):
    print(f"!!! {msg} !!!", flush=True)


class Failure(Exception):
    pass


def run(cmd, check=True, **kwargs):
    proc = subprocess.run(cmd, check=False, **kwargs)
    if check and proc.returncode:
        raise Failure(f"command failed ({proc.returncode}): {shlex.join(map(str, cmd))}")
    return proc


def capture(cmd, **kwargs):
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def step(name, timings):
    say(f"{name} ...")
    start = time.monotonic()
    try:
        yield
    finally:
        timings.append((name, time.monotonic() - start))
        say(f"{name}: {timings[-1][1]:.0f}s")


# --------------------------------------------------------------------------
# The addon


def read_manifest(addon):
    with open(os.path.join(addon, "__manifest__.py"), encoding="utf-8") as f:
        manifest = ast.literal_eval(f.read())  # as Odoo reads it
    if not isinstance(manifest, dict):
        raise Failure("__manifest__.py: not a dict")
    return manifest


def stage(src, dest_parent):
    """Copy the addon into DEST_PARENT/client_refund: pytest-odoo names the
    module after its real folder, and a clone may be called anything."""
    target = os.path.join(dest_parent, MODULE)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns(
        *SKIP_NAMES, ".venv*", "*.pyc"))
    return target


# --------------------------------------------------------------------------
# Odoo's source and the project's Python


class Odoo:
    def __init__(self, home, version):
        self.home = home
        self.version = version
        self.addons_paths = [p for p in (os.path.join(home, "odoo", "addons"),
                                         os.path.join(home, "addons")) if os.path.isdir(p)]

    @property
    def major(self):
        return int(self.version.split(".")[0].split("~")[-1].replace("saas", "") or 0)


def odoo_at(home):
    """The Odoo source tree at HOME (odoo-bin and odoo/release.py), or None."""
    release = os.path.join(home, "odoo", "release.py")
    if not (os.path.isfile(os.path.join(home, "odoo-bin")) and os.path.isfile(release)):
        return None
    namespace = {}
    with open(release, encoding="utf-8") as f:
        exec(f.read(), namespace)  # pylint: disable=exec-used  (Odoo's own setup.py does so)
    return Odoo(os.path.abspath(home), namespace["version"])


def clone_odoo(repo, ref, dest):
    """Fetch REF (a branch, tag or commit, full or abbreviated) of REPO, one
    commit deep, into DEST."""
    say(f"cloning Odoo: {repo} at {ref} into {dest} (shallow)")
    partial = f"{dest}.partial"  # never taken for a clone if interrupted
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    why = git(partial, "init", "-q") or git(partial, "fetch", "-q", "--depth", "1", repo, ref)
    if why and ABBREVIATED_COMMIT.fullmatch(ref):
        full, why = resolve_commit(repo, ref, f"{dest}.resolve")
        if full:
            why = git(partial, "fetch", "-q", "--depth", "1", repo, full)
    why = why or git(partial, "checkout", "-q", "FETCH_HEAD")
    if why:
        shutil.rmtree(partial, ignore_errors=True)
        return why
    os.rename(partial, dest)
    return None


def git(gitdir, *args):
    """Run git in GITDIR: None when it worked, else the last line it said."""
    proc = capture(["git", "-C", gitdir, *args], stdin=subprocess.DEVNULL)
    if proc.returncode:
        return (proc.stderr.strip().splitlines() or [f"git {args[0]} failed"])[-1]
    return None


def resolve_commit(repo, ref, gitdir):
    """(the full id of the abbreviated commit REF of REPO, None), or (None, why).

    A git server hands out a commit by its full id only: the history of REPO's
    branches and tags is fetched, commits only (no trees, no files), into
    GITDIR, which is removed afterwards."""
    say(f"{ref} is an abbreviated commit id, which a git server does not take: fetching "
        f"the history of {repo}'s branches and tags (commits only) to find it")
    shutil.rmtree(gitdir, ignore_errors=True)
    try:
        # A local path is hard-linked instead, filter or not: just as quick.
        proc = capture(["git", "clone", "-q", "--bare", "--filter=tree:0", repo, gitdir],
                       stdin=subprocess.DEVNULL)
        if proc.returncode:
            return None, (proc.stderr.strip().splitlines() or ["git clone failed"])[-1]
        proc = capture(["git", "-C", gitdir, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"])
        if proc.returncode:
            return None, (f"no single commit of {repo} starts with {ref}: give ODOO_REF a full "
                          "40-character commit id, a branch or a tag")
        return proc.stdout.strip(), None
    finally:
        shutil.rmtree(gitdir, ignore_errors=True)


def find_odoo(env=os.environ, clone_dest=CLONE):
    """Odoo 18 from ODOO_HOME, else from an earlier clone, else cloned now.

    Return (odoo, None), or (None, why) when there is none."""
    home = env.get("ODOO_HOME") or "/opt/odoo"
    found = [odoo for odoo in (odoo_at(home), odoo_at(clone_dest)) if odoo]
    for odoo in found:
        if odoo.major == 18:
            return odoo, None
    repo = env.get("ODOO_REPO") or "https://github.com/odoo/odoo.git"
    ref = env.get("ODOO_REF") or "18.0"
    shutil.rmtree(clone_dest, ignore_errors=True)  # an Odoo of another version
    failed = clone_odoo(repo, ref, clone_dest)
    odoo = None if failed else odoo_at(clone_dest)
    if odoo and odoo.major == 18:
        return odoo, None
    found_text = "".join(f", Odoo {o.version} at {o.home}" for o in found + [odoo] if o)
    why = failed or f"{repo} at {ref} is no Odoo 18 source tree"
    return None, (f"NO ODOO 18 (ODOO_HOME={home}{found_text}); could not clone {repo} at "
                  f"{ref}: {why}. Running only the checks that need no Odoo")


def odoo_requirements(odoo_home, ldap_headers=None):
    """Odoo's requirements.txt with the two fixes this harness applies."""
    with open(os.path.join(odoo_home, "requirements.txt"), encoding="utf-8") as f:
        text = f.read()
    # cbor2 5.4.2 has no wheel for Python 3.11 and its setup.py needs
    # pkg_resources, which today's setuptools no longer has.
    text = re.sub(r"^cbor2==5\.4\.2\b", "cbor2==5.6.2", text, flags=re.M)
    if ldap_headers is None:
        ldap_headers = any(os.path.isfile(os.path.join(d, "ldap.h"))
                           for d in ("/usr/include", "/usr/local/include"))
    if not ldap_headers:  # python-ldap builds from source: auth_ldap only needs it
        text = re.sub(r"^python-ldap\b.*\n?", "", text, flags=re.M)
    return text


def ensure_venv(requirements, venv=VENV, base_python=sys.executable):
    """Build VENV with REQUIREMENTS (text) unless it already has exactly them."""
    digest = hashlib.sha256(f"{requirements}\n{base_python}".encode()).hexdigest()
    stamp = os.path.join(venv, "requirements.sha256")
    python = os.path.join(venv, "bin", "python")
    if os.path.isfile(python) and os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as f:
            if f.read() == digest:
                say(f"virtual environment {venv}: reused")
                return python
    say(f"building the virtual environment {venv} (about a minute, once per requirements)")
    shutil.rmtree(venv, ignore_errors=True)
    run([base_python, "-m", "venv", venv])
    with open(os.path.join(venv, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write(requirements)
    proc = run([python, "-m", "pip", "install", "-qq", "--disable-pip-version-check",
                "--use-pep517", "-r", os.path.join(venv, "requirements.txt")], check=False)
    if proc.returncode:
        raise Failure(f"could not install the requirements into {venv} (pip said why above)")
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(digest)
    return python


def project_python(odoo):
    """PYTHON when given (installed into: never), else .build/venv."""
    python = os.environ.get("PYTHON")
    if not python:
        with open(os.path.join(REPO, "requirements-test.txt"), encoding="utf-8") as f:
            return ensure_venv(odoo_requirements(odoo.home) + "\n" + f.read())
    needed = ["pytest_odoo", "stripe", "click_odoo_contrib", "psycopg2"]
    missing = capture([python, "-c", "import importlib.util as u, sys; print(*(n for n in "
                       "sys.argv[1:] if not u.find_spec(n)))", *needed]).stdout.split()
    if missing:
        raise Failure(f"PYTHON={python} lacks {', '.join(missing)}: install Odoo's and the "
                      "project's requirements into it, or unset PYTHON to use .build/venv")
    return python


# --------------------------------------------------------------------------
# PostgreSQL and Odoo runs


def ensure_postgres():
    if run(["pg_isready", "-q"], check=False).returncode:
        say("PostgreSQL is not running: service postgresql start")
        run(["service", "postgresql", "start"], check=False)
        if run(["pg_isready", "-q", "-t", "60"], check=False).returncode:
            raise Failure("PostgreSQL did not start")
    if capture(["psql", "-X", "-d", "postgres", "-Atc", "select 1"]).returncode:
        user = getpass.getuser()
        if os.geteuid() != 0:
            raise Failure(f"cannot connect to PostgreSQL as {user}: create a role for it")
        say(f"creating the PostgreSQL superuser role {user}")
        env = {k: v for k, v in os.environ.items() if k not in ("PGUSER", "PGPASSWORD")}
        run(["su", "postgres", "-c", f"createuser --superuser {shlex.quote(user)}"],
            cwd="/", env=env)


def psql(db, query):
    out = capture(["psql", "-X", "-d", db, "-Atc", query])
    if out.returncode:
        raise Failure(out.stderr)
    return out.stdout.split()


def ensure_system_packages():
    """The tours and the PDF test skip themselves without Chromium and wkhtmltopdf."""
    wanted = [pkg for pkg, names in (("chromium", ("chromium", "google-chrome")),
                                     ("wkhtmltopdf", ("wkhtmltopdf",)))
              if not any(shutil.which(n) for n in names)]
    if not wanted:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        loud(f"{' and '.join(wanted)} missing, and no way to install them: their tests skip")
        return
    say(f"installing {' '.join(wanted)} (Debian packages, once per machine)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    capture(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL)
    proc = capture(["apt-get", "install", "-y", "-q", "--no-install-recommends", *wanted],
                   env=env, stdin=subprocess.DEVNULL)
    if proc.returncode:
        raise Failure(f"could not install {' '.join(wanted)}:\n{proc.stdout}{proc.stderr}")


def free_port():
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """An Odoo, the Python that runs it and a configuration file."""

    def __init__(self, odoo, python, conf, addons_paths, logfile=None, http_port=None):
        self.odoo, self.python, self.conf = odoo, python, conf
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [odoo.home, os.environ.get("PYTHONPATH")])))
        options = {
            "addons_path": ",".join(odoo.addons_paths + addons_paths),
            "data_dir": DATA_DIR,
            "max_cron_threads": "1" if http_port else "0",
            "http_interface": "127.0.0.1",  # test servers and make run: loopback only
            "http_port": str(http_port or free_port()),  # the tours' server
            "log_level": "info",
            **({"logfile": logfile} if logfile else {}),
            # False is Odoo's default: the local socket, as the current user.
            **{f"db_{k}": os.environ.get(f"PG{k.upper()}", "False")
               for k in ("host", "port", "user", "password")},
        }
        with open(conf, "w", encoding="utf-8") as f:
            f.write("[options]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))

    def click_odoo(self, tool, *args, logfile=None, quiet=False):
        log = ["--logfile", logfile, "--log-level", "info"] if logfile else []
        return run([self.python, "-m", f"click_odoo_contrib.{tool}", "-c", self.conf, *log,
                    *args], check=False, env=self.env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL if quiet else None).returncode

    def odoo_bin(self, db, *args, logfile, stdin=None):
        open(logfile, "w", encoding="utf-8").close()
        return run([self.python, os.path.join(self.odoo.home, "odoo-bin"), *args, "-c",
                    self.conf, "-d", db, "--logfile", logfile], check=False, env=self.env,
                   input=stdin, text=True, stdin=None if stdin else subprocess.DEVNULL).returncode

    def new_database(self, db, modules, demo, logfile):
        """DB with MODULES, from click-odoo-initdb's cache of templates."""
        self.drop_database(db)
        code = self.click_odoo("initdb", "-n", db, "-m", ",".join(sorted(modules)),
                               "--demo" if demo else "--no-demo", "--cache-prefix",
                               CACHE_PREFIX, "--cache-max-size", "4", logfile=logfile)
        if not checklog(logfile, f"database {db} ({'with' if demo else 'without'} demo data)",
                        code):
            raise Failure(f"could not create the database {db}")

    def drop_database(self, db):
        self.click_odoo("dropdb", "--if-exists", db, quiet=True)  # it says when there is none

    def install(self, db, logfile, what):
        code = self.odoo_bin(db, "-i", MODULE, "--stop-after-init", "--no-http", logfile=logfile)
        state = psql(db, f"select state from ir_module_module where name = '{MODULE}'")
        return checklog(logfile, what, code, None if state == ["installed"] else state)

    def uninstall(self, db, logfile):
        script = (f"env['ir.module.module'].search([('name', '=', '{MODULE}')])"
                  ".button_immediate_uninstall()\nenv.cr.commit()\n")
        code = self.odoo_bin(db, "shell", "--no-http", logfile=logfile, stdin=script)
        state = psql(db, f"select state from ir_module_module where name = '{MODULE}'")
        # Uninstalling drops columns and views: core warns about each, rightly.
        return checklog(logfile, f"uninstall of {MODULE}", code,
                        None if state == ["uninstalled"] else state, warnings=False)

    def pytest(self, addon, db, junit, *args):
        cmd = [self.python, "-m", "pytest", f"--odoo-database={db}", f"--odoo-config={self.conf}",
               "--odoo-http", "--odoo-log-level=warn", "-p", "no:cacheprovider",
               f"--junitxml={junit}", "-rfEs", *args]  # --odoo-http: HttpCase and tours run
        say(f"cd {addon} && {shlex.join(cmd)}")
        code = run(cmd, check=False, cwd=addon, env=self.env, stdin=subprocess.DEVNULL).returncode
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if os.path.isfile(junit):
            root = ET.parse(junit).getroot()
            for suite in [root] if root.tag == "testsuite" else root.findall("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
        counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        if code:
            loud(f"pytest exited with code {code}" + (" (no test collected)" if code == 5 else ""))
        return code == 0, counts


def checklog(logfile, what, exit_code=0, wrong_state=None, warnings=True):
    """checklog-odoo on LOGFILE: any ERROR, and any WARNING of the addon, fails."""
    if not os.path.isfile(CHECKLOG):
        raise Failure(f"{CHECKLOG} is missing: the Makefile's targets build it (`make check`)")
    os.makedirs(LOG_DIR, exist_ok=True)
    kept = shutil.copy(logfile, LOG_DIR) if os.path.isfile(logfile) else logfile
    ignore = ["-i", OTHERS_WARNINGS] + (["-i", ANY_WARNING] if not warnings else [])
    clean = run([CHECKLOG, "--no-err-if-empty", *ignore, kept], check=False).returncode == 0
    for problem, bad in ((f"exited with code {exit_code}", exit_code),
                         (f"{MODULE} is {wrong_state}", wrong_state), ("its log", not clean)):
        if bad:
            loud(f"{what}: {problem} (log: {kept})")
    ok = clean and not exit_code and not wrong_state
    if ok:
        say(f"{what}: clean log ({kept})")
    return ok


# --------------------------------------------------------------------------
# Commands


def prepare(workdir, logfile=None, http_port=None):
    """Odoo, the project's Python and the addon staged in WORKDIR, as a Site."""
    odoo, why = find_odoo()
    if not odoo:
        raise Failure(why)
    python = project_python(odoo)
    ensure_postgres()
    addon = stage(os.environ.get("ADDON_DIR") or REPO, os.path.join(workdir, "addons"))
    site = Site(odoo, python, os.path.join(workdir, "odoo.conf"), [os.path.dirname(addon)],
                logfile=logfile, http_port=http_port)
    for db in psql("postgres", f"select datname from pg_database where datname like '{RUN_PREFIX}%'"):
        pid = re.fullmatch(re.escape(RUN_PREFIX) + r"(\d+)(-demo)?", db)
        if pid and not os.path.exists(f"/proc/{pid.group(1)}"):
            say(f"dropping {db}, left by a run that died")
            site.drop_database(db)
    return site, addon


def cmd_suite():
    odoo, why = find_odoo()
    if not odoo:
        loud(why)
        return 0
    timings, counts, core_counts, ok = [], None, None, False
    workdir = tempfile.mkdtemp(prefix=f"{MODULE}-suite-")
    db = f"{RUN_PREFIX}{os.getpid()}"
    site = None
    try:
        with step("Python, PostgreSQL, Chromium and wkhtmltopdf", timings):
            site, addon = prepare(workdir, logfile=os.path.join(workdir, "pytest-odoo.log"))
            ensure_system_packages()
        say(f"Odoo {odoo.version} at {odoo.home}; Python {site.python}; addon {addon}")
        depends = read_manifest(addon).get("depends", [])
        with step(f"install {MODULE}", timings):
            site.new_database(db, depends, False, os.path.join(workdir, "initdb.log"))
            ok = site.install(db, os.path.join(workdir, "install.log"), f"install of {MODULE}")
        if ok:
            with step("pytest-odoo", timings):
                ok, counts = site.pytest(addon, db, os.path.join(workdir, "junit.xml"), "tests",
                                         *shlex.split(os.environ.get("PYTEST_ARGS", "")))
            if os.environ.get("CORE_TESTS", "1") != "0":
                with step("core's tests with the addon", timings):
                    core_ok, core_counts = site.pytest(
                        addon, db, os.path.join(workdir, "junit-core.xml"),
                        *(os.path.join(odoo.home, "addons", path) for path in CORE_TESTS))
                ok = ok and core_ok
        # A failed install would fail the same way with demo data: no need to see it twice.
        if ok and os.environ.get("FAST") != "1":
            with step(f"install {MODULE} with demo data, its tour, then uninstall", timings):
                ok = demo_round(site, addon, f"{db}-demo", workdir)
    except Failure as exc:
        loud(str(exc))
        ok = False
    finally:
        if site:
            site.drop_database(db)
            site.drop_database(f"{db}-demo")
        if os.path.isfile(os.path.join(workdir, "pytest-odoo.log")):
            shutil.copy(os.path.join(workdir, "pytest-odoo.log"), LOG_DIR)
        shutil.rmtree(workdir, ignore_errors=True)
    print("Timing:\n" + "".join(f"  {t:6.0f}s  {name}\n" for name, t in timings), end="")
    if counts is None:
        loud("the Odoo tests did not run")
    else:
        print(f"odoo-suite: {counts['passed']} passed, {counts['failures'] + counts['errors']} "
              f"failed, {counts['skipped']} skipped")
    if core_counts is not None:
        print(f"core-suite: {core_counts['passed']} passed, "
              f"{core_counts['failures'] + core_counts['errors']} failed")
    if not ok:
        loud("Odoo suite FAILED")
    return 0 if ok else 1


def demo_round(site, addon, db, workdir):
    """Install with demo data, run the tour on the salon's data, uninstall."""
    depends = read_manifest(addon).get("depends", [])
    site.new_database(db, depends, True, os.path.join(workdir, "initdb-demo.log"))
    if not site.install(db, os.path.join(workdir, "install-demo.log"),
                        f"install of {MODULE} with demo data"):
        return False
    ok, counts = site.pytest(addon, db, os.path.join(workdir, "junit-demo.xml"), DEMO_TESTS)
    if ok and (counts["skipped"] or not counts["passed"]):
        loud(f"{DEMO_TESTS} did not run on the demo data: {counts}")
        ok = False
    return site.uninstall(db, os.path.join(workdir, "uninstall-demo.log")) and ok


def cmd_run():
    port = os.environ.get("PORT") or "8069"
    if not port.isdigit():
        raise Failure(f"PORT={port} is no port number")
    port = int(port)
    url = f"http://127.0.0.1:{port}"
    taken = port_taken(port)
    if taken:
        raise Failure(f"{url}: {taken} (another Odoo?): stop it, or `make run PORT={port + 1}`")
    rundir = os.path.join(BUILD, "run")
    site, addon = prepare(rundir, http_port=port)
    if DEMO_DB not in psql("postgres", "select datname from pg_database"):
        depends = read_manifest(addon).get("depends", [])
        site.new_database(DEMO_DB, depends, True, os.path.join(rundir, "initdb.log"))
        if not site.install(DEMO_DB, os.path.join(rundir, "install.log"),
                            f"install of {MODULE} on {DEMO_DB}"):
            site.drop_database(DEMO_DB)
            raise Failure(f"could not install {MODULE} on {DEMO_DB}")
    set_base_url(DEMO_DB, url)
    # The first static file makes Odoo read every manifest (http.root.statics):
    # asked once here, not by the parallel requests of wkhtmltopdf or a browser,
    # which CPython 3.11's ast.parse does not always survive (SystemError: AST
    # constructor recursion depth mismatch).
    say_when_up([f"{url}/web/login", f"{url}/web/static/img/favicon.ico"],
                f"Odoo on {url} (database {DEMO_DB}): logins admin/admin, "
                "frontdesk/frontdesk, manager/manager. Ctrl-C stops it.")
    # -u: the database follows the code that is served (views, data, fields).
    os.execve(site.python, [site.python, os.path.join(site.odoo.home, "odoo-bin"), "-c",
                            site.conf, "-d", DEMO_DB, "-u", MODULE, "--db-filter",
                            f"^{DEMO_DB}$"], site.env)


def port_taken(port):
    """Why Odoo could not listen on 127.0.0.1:PORT (as it binds: SO_REUSEADDR), or None."""
    with contextlib.closing(socket.socket()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror
    return None


def set_base_url(db, url):
    """web.base.url of DB is URL: wkhtmltopdf fetches a report's styles and
    fonts from it (ir.actions.report._get_report_url, when report.url is unset),
    and a database made from a template names the port of an earlier run."""
    psql(db, "insert into ir_config_parameter (key, value, create_uid, write_uid, create_date, "
             f"write_date) values ('web.base.url', '{url}', 1, 1, now() at time zone 'UTC', "
             "now() at time zone 'UTC') on conflict (key) do update set value = excluded.value, "
             "write_date = excluded.write_date")


def say_when_up(urls, message):
    """Say MESSAGE once each of URLS has answered, in turn, from a process of
    its own, as this one becomes Odoo (exec): never before Odoo serves, never
    if it dies first."""
    odoo_pid = os.getpid()
    sys.stdout.flush()
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the watcher is the grandchild: Odoo reaps no children
        return
    try:
        if os.fork():
            return
        urls = list(urls)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy
        while urls and os.path.exists(f"/proc/{odoo_pid}"):
            try:
                # Odoo answers once the database is loaded (-u takes a while).
                with direct.open(urls[0], timeout=60) as response:
                    if response.status == 200:
                        urls.pop(0)
            except (OSError, http.client.HTTPException):
                time.sleep(1)
        if not urls:
            say(message)
    finally:
        os._exit(0)  # also on Ctrl-C; nothing of the parent's to clean up here


def cmd_python(script, args):
    odoo, why = find_odoo()
    if not odoo:
        raise Failure(why)
    python = project_python(odoo)
    os.execve(python, [python, script, *args],
              dict(os.environ, ODOO_HOME=odoo.home, PYTHON=python))


def main(argv):
    try:
        if argv[:1] == ["stage"] and len(argv) == 3:
            print(stage(argv[1], argv[2]))
        elif argv == ["suite"]:
            return cmd_suite()
        elif argv == ["run"]:
            cmd_run()
        elif argv[:1] == ["python"] and len(argv) >= 2:
            cmd_python(argv[1], argv[2:])
        else:
            print(__doc__)
            return 2
    except Failure as exc:
        loud(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
