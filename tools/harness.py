#!/usr/bin/env python3
"""Test harness of the client_refund addon (called by the Makefile).

    harness.py pip-install REQUIREMENTS [CONSTRAINTS]
    harness.py stage SRC DEST_PARENT   copy the addon to DEST_PARENT/client_refund
    harness.py check-files ADDON       manifest and XML validity (needs lxml, no Odoo)
    harness.py suite                   the Odoo suite (skipped, loudly, without Odoo 18)
    harness.py run                     serve the addon on a demo database

Environment: ADDON_DIR (default: the repository root), ODOO_HOME (default
/opt/odoo), PYTHON (the python3 that runs Odoo), FAST=1 (skip the install with
demo data and the uninstall), PYTEST_ARGS (extra pytest arguments),
ODOO_DATA_DIR (Odoo's data_dir, where the templates' filestores live),
HARNESS_LOG_DIR (where Odoo's logs are kept, default .build/logs).

Only the standard library is used, so that this runs before any `pip install`.
"""

import ast
import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

MODULE = "client_refund"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("PYTHON") or sys.executable
ODOO_HOME = os.environ.get("ODOO_HOME") or "/opt/odoo"
DATA_DIR = os.environ.get("ODOO_DATA_DIR") or os.path.expanduser(f"~/.local/share/{MODULE}-odoo")
LOG_DIR = os.environ.get("HARNESS_LOG_DIR") or os.path.join(REPO, ".build", "logs")
TEMPLATE_PREFIX = f"{MODULE}_deps_"
RUN_PREFIX = f"{MODULE}_run_"
RUN_DEMO_DB = f"{MODULE}_demo"
# Databases are shared by every checkout on the machine: one lock for all.
LOCK_FILE = os.path.join(tempfile.gettempdir(), f"{MODULE}-harness-{getpass.getuser()}.lock")
# Never copied: VCS data, build output, caches.
SKIP_NAMES = {".git", ".build", "__pycache__", ".pytest_cache"}

LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) (?P<db>\S+) (?P<rest>.*)$"
)


def say(msg):
    print(f"[harness] {msg}", flush=True)


class Failure(Exception):
    pass


def run(cmd, check=True, **kwargs):
    proc = subprocess.run(cmd, check=False, **kwargs)
    if check and proc.returncode:
        raise Failure(f"command failed ({proc.returncode}): {shlex.join(map(str, cmd))}")
    return proc


def capture(cmd, **kwargs):
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)


class Timer:
    """Collects how long each step took, for the closing report."""

    def __init__(self):
        self.steps = []

    @contextlib.contextmanager
    def step(self, name):
        say(f"{name} ...")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.steps.append((name, elapsed))
            say(f"{name}: {elapsed:.0f}s")

    def report(self):
        for name, elapsed in self.steps:
            print(f"  {elapsed:6.0f}s  {name}")


# --------------------------------------------------------------------------
# Checks that need no Odoo


def read_manifest(addon):
    path = os.path.join(addon, "__manifest__.py")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    # Odoo reads it with ast.literal_eval: anything but a literal dict breaks the install.
    manifest = ast.literal_eval(source)
    if not isinstance(manifest, dict):
        raise Failure(f"{path}: not a dict")
    return manifest


def check_files(addon):
    """Return the problems found in the manifest and the XML files."""
    from lxml import etree  # only the lint venv and Odoo's python have it

    problems = []
    try:
        manifest = read_manifest(addon)
    except (OSError, SyntaxError, ValueError, Failure) as exc:
        return [f"__manifest__.py: not a literal dict: {exc}"]
    if not isinstance(manifest.get("depends", []), list):
        problems.append("__manifest__.py: depends is not a list")
    for key in ("data", "demo"):
        for name in manifest.get(key, []):
            if not os.path.isfile(os.path.join(addon, name)):
                problems.append(f"__manifest__.py: {key} file {name} does not exist")
    for root, dirs, files in os.walk(addon):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES and not d.startswith(".venv"))
        for name in sorted(files):
            if name.endswith(".xml"):
                path = os.path.join(root, name)
                try:
                    etree.parse(path)
                except etree.XMLSyntaxError as exc:
                    problems.append(f"{os.path.relpath(path, addon)}: {exc}")
    return problems


def cmd_check_files(addon):
    problems = check_files(addon)
    for problem in problems:
        print(problem)
    if problems:
        raise Failure(f"{len(problems)} problem(s) in the manifest or XML files")
    say("manifest and XML files: OK")


def pip_install(requirements, constraints=None):
    """Install REQUIREMENTS into this python, failing on any new `pip check` problem.

    The machine image has conflicts of its own (flask, awscli, ...), so only
    the problems that were not there before the install are ours."""
    def pip_check():
        out = capture([PYTHON, "-m", "pip", "check"]).stdout.splitlines()
        return {line for line in out if "No broken requirements" not in line}

    before = pip_check()
    cmd = [PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "-r", requirements]
    if constraints:
        cmd += ["-c", constraints]
    proc = capture(cmd)
    # The machine's pip.conf names local indexes that lack most packages: pure noise.
    noise = re.compile(r"Location '.*' is ignored|Running pip as the 'root' user")
    for line in (proc.stdout + proc.stderr).splitlines():
        if not noise.search(line):
            print(line)
    if proc.returncode:
        raise Failure(f"pip install -r {requirements} failed")
    new = sorted(pip_check() - before)
    if new:
        print("\n".join(new))
        raise Failure("pip check: the install above broke the requirements listed")


def stage(src, dest_parent):
    """Copy the addon into DEST_PARENT/client_refund and return that path.

    pytest-odoo names the module after the real folder, so a clone in a
    folder of another name is copied (a symbolic link would be resolved)."""
    src = os.path.abspath(src)
    target = os.path.join(dest_parent, MODULE)
    if os.path.exists(target):
        shutil.rmtree(target)
    os.makedirs(target)
    listed = capture(["git", "-C", src, "ls-files", "-z", "--cached", "--others",
                      "--exclude-standard"])
    toplevel = capture(["git", "-C", src, "rev-parse", "--show-toplevel"]).stdout.strip()
    if listed.returncode == 0 and os.path.realpath(toplevel or "/") == os.path.realpath(src):
        files = [f for f in listed.stdout.split("\0") if f]
    else:
        files = []
        for root, dirs, names in os.walk(src):
            dirs[:] = [d for d in dirs if d not in SKIP_NAMES and not d.startswith(".venv")]
            files += [os.path.relpath(os.path.join(root, n), src) for n in names]
    for rel in files:
        if set(rel.split(os.sep)) & SKIP_NAMES:
            continue
        path = os.path.join(src, rel)
        if not os.path.lexists(path):  # deleted in the work tree, not yet in git
            continue
        os.makedirs(os.path.dirname(os.path.join(target, rel)), exist_ok=True)
        shutil.copy2(path, os.path.join(target, rel), follow_symlinks=False)
    return target


# --------------------------------------------------------------------------
# Finding Odoo


class Odoo:
    def __init__(self, cmd, addons_paths, version, commit, home, pythonpath):
        self.cmd = cmd  # argv prefix that runs odoo-bin
        self.addons_paths = addons_paths
        self.version = version
        self.commit = commit
        self.home = home
        self.pythonpath = pythonpath  # what pytest needs to `import odoo`

    @property
    def major(self):
        return int(self.version.split(".")[0].split("~")[-1].replace("saas", "") or 0)


def find_odoo():
    """The Odoo in ODOO_HOME, else an importable `odoo`, else None."""
    if os.path.isfile(os.path.join(ODOO_HOME, "odoo-bin")):
        home = os.path.abspath(ODOO_HOME)
        release = {}
        with open(os.path.join(home, "odoo", "release.py"), encoding="utf-8") as f:
            exec(f.read(), release)  # pylint: disable=exec-used
        commit = capture(["git", "-C", home, "rev-parse", "HEAD"]).stdout.strip() or None
        addons = [p for p in (os.path.join(home, "odoo", "addons"), os.path.join(home, "addons"))
                  if os.path.isdir(p)]
        return Odoo([PYTHON, os.path.join(home, "odoo-bin")], addons, release["version"],
                    commit, home, home)
    # Run from / so that nothing of this repository shadows a real `odoo`.
    probe = capture(
        [PYTHON, "-c", "import json, os, odoo, odoo.release as r;"
         "print(json.dumps([r.version, os.path.dirname(odoo.__file__)]))"],
        cwd="/",
    )
    if probe.returncode:
        return None
    version, package = json.loads(probe.stdout.strip().splitlines()[-1])
    addons = [p for p in (os.path.join(package, "addons"),
                          os.path.join(os.path.dirname(package), "addons"))
              if os.path.isdir(p)]
    return Odoo([PYTHON, "-c", "import os; os.environ['TZ'] = 'UTC'; import odoo; odoo.cli.main()"],
                addons, version, None, os.path.dirname(package), None)


def pytest_env(odoo):
    env = dict(os.environ)
    if odoo.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [odoo.pythonpath, env.get("PYTHONPATH")]))
    return env


# --------------------------------------------------------------------------
# PostgreSQL


def ensure_postgres():
    if run(["pg_isready", "-q"], check=False).returncode:
        say("PostgreSQL is not running: service postgresql start")
        run(["service", "postgresql", "start"])
        for _ in range(60):
            if run(["pg_isready", "-q"], check=False).returncode == 0:
                break
            time.sleep(1)
        else:
            raise Failure("PostgreSQL did not start")
    if capture(["psql", "-X", "-d", "postgres", "-Atc", "select 1"]).returncode:
        user = getpass.getuser()
        if os.geteuid() != 0:
            raise Failure(f"cannot connect to PostgreSQL as {user}: create a superuser role for it")
        say(f"creating the PostgreSQL superuser role {user}")
        # su keeps the environment: a PGUSER of ours would be taken for postgres's.
        env = {k: v for k, v in os.environ.items() if k not in ("PGUSER", "PGPASSWORD")}
        run(["su", "postgres", "-c", f"createuser --superuser {shlex.quote(user)}"],
            cwd="/", env=env)


def databases():
    out = capture(["psql", "-X", "-d", "postgres", "-Atc", "select datname from pg_database"])
    if out.returncode:
        raise Failure(out.stderr)
    return set(out.stdout.split())


def filestore(db):
    return os.path.join(DATA_DIR, "filestore", db)


def drop_db(db):
    run(["dropdb", "--if-exists", "--force", db], check=False, stderr=subprocess.DEVNULL)
    shutil.rmtree(filestore(db), ignore_errors=True)


def copy_db(template, db):
    drop_db(db)
    run(["createdb", "-T", template, db])
    if os.path.isdir(filestore(template)):
        shutil.copytree(filestore(template), filestore(db))


@contextlib.contextmanager
def db_lock():
    with open(LOCK_FILE, "w", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def drop_abandoned_runs():
    """Drop the run databases of harness processes that died before cleaning up."""
    for db in databases():
        match = re.fullmatch(re.escape(RUN_PREFIX) + r"(\d+)(-demo)?", db)
        if match and not pid_alive(int(match.group(1))):
            say(f"dropping abandoned database {db}")
            drop_db(db)


# --------------------------------------------------------------------------
# Odoo runs and their logs


def write_config(path, addons_paths, logfile=None, http_port=None):
    options = {
        "addons_path": ",".join(addons_paths),
        "data_dir": DATA_DIR,
        # False is Odoo's default: the local socket, as the current user.
        "db_host": os.environ.get("PGHOST", "False"),
        "db_port": os.environ.get("PGPORT", "False"),
        "db_user": os.environ.get("PGUSER", "False"),
        "db_password": os.environ.get("PGPASSWORD", "False"),
        "max_cron_threads": "0" if logfile else "1",
        # Test servers (pytest-odoo's --odoo-http, make run) listen on loopback only.
        "http_interface": "127.0.0.1",
        "log_level": "info",
    }
    if logfile:
        options["logfile"] = logfile
    if http_port:
        options["http_port"] = str(http_port)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[options]\n")
        f.writelines(f"{key} = {value}\n" for key, value in options.items())


def log_records(path):
    """Yield (level, text) per log record; a traceback belongs to its record.

    The database name is left out of the text: run databases are named
    after the module, and would make every line "mention" it."""
    level, lines = None, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = LOG_RECORD.match(line)
            if match:
                if level:
                    yield level, "".join(lines)
                level, lines = match.group("level"), [match.group("rest") + "\n"]
            elif level:
                lines.append(line)
    if level:
        yield level, "".join(lines)


# A warning is the addon's when it names the module or one of its models
# (client.refund, client.refund.reason, ...): the install runs on a copy of a
# template where everything else is already installed.
MENTIONS_MODULE = re.compile(rf"{MODULE}|{MODULE.replace('_', '[.]')}\b")


def bad_log_records(path, warnings=True):
    """Every ERROR/CRITICAL record, and every WARNING that mentions the module."""
    bad = []
    for level, text in log_records(path):
        if level in ("ERROR", "CRITICAL") or (
            warnings and level == "WARNING" and MENTIONS_MODULE.search(text)
        ):
            bad.append(f"{level} {text}")
    return bad


def other_warnings(path):
    return [f"WARNING {text}" for level, text in log_records(path)
            if level == "WARNING" and not MENTIONS_MODULE.search(text)]


def keep_log(path):
    os.makedirs(LOG_DIR, exist_ok=True)
    kept = os.path.join(LOG_DIR, os.path.basename(path))
    shutil.copy(path, kept)
    return kept


def odoo_cmd(odoo, conf, db, *args, logfile):
    """Run odoo-bin and check its log; return the problems found."""
    open(logfile, "w", encoding="utf-8").close()
    proc = run(odoo.cmd + ["-c", conf, "-d", db, "--logfile", logfile, *args],
               check=False, stdin=subprocess.DEVNULL)
    problems = bad_log_records(logfile)
    if proc.returncode:
        problems.append(f"odoo exited with code {proc.returncode}")
    return problems


def report_problems(what, problems, logfile):
    kept = keep_log(logfile)
    notes = other_warnings(logfile)
    if notes:
        say(f"{what}: {len(notes)} other warning(s), not counted as failures:")
        for note in notes:
            print("    " + note.rstrip().replace("\n", "\n    "))
    if problems:
        print(f"!!! {what}: {len(problems)} problem(s) (log: {kept})")
        for problem in problems:
            print(problem.rstrip())
        return False
    say(f"{what}: clean log ({kept})")
    return True


def module_state(db):
    out = capture(["psql", "-X", "-d", db, "-Atc",
                   f"select state from ir_module_module where name = '{MODULE}'"])
    return out.stdout.strip() or "absent"


def template_name(depends, odoo, demo):
    key = json.dumps([sorted(depends), os.path.realpath(odoo.home), odoo.version, odoo.commit])
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"{TEMPLATE_PREFIX}{digest}" + ("-demo" if demo else "")


def ensure_template(odoo, depends, demo, workdir):
    """Return the template database with DEPENDS installed, building it if needed.

    It is built under a temporary name and renamed at the end, so that an
    interrupted build is never taken for a template."""
    name = template_name(depends, odoo, demo)
    current = {template_name(depends, odoo, False), template_name(depends, odoo, True)}
    with db_lock():
        for db in sorted(databases()):
            if db.startswith(TEMPLATE_PREFIX) and db not in current:
                say(f"dropping stale template {db}")
                drop_db(db)
        if name in databases() and os.path.isdir(filestore(name)):
            say(f"template {name}: reused")
            return name
        building = f"{name}-building"
        drop_db(building)
        drop_db(name)
        kind = "with demo data" if demo else "without demo data"
        say(f"building template {name} ({kind}: {', '.join(sorted(depends))}); takes 1-2 min")
        conf = os.path.join(workdir, "template.conf")
        write_config(conf, odoo.addons_paths)
        logfile = os.path.join(workdir, f"template{'-demo' if demo else ''}.log")
        args = ["-i", ",".join(sorted(depends)), "--stop-after-init", "--no-http"]
        if not demo:
            args.append("--without-demo=all")
        problems = odoo_cmd(odoo, conf, building, *args, logfile=logfile)
        if not report_problems(f"template {name}", problems, logfile):
            drop_db(building)
            raise Failure(f"could not build the template {name}")
        run(["psql", "-X", "-q", "-d", "postgres", "-c",
             f'ALTER DATABASE "{building}" RENAME TO "{name}"'])
        os.makedirs(filestore(building), exist_ok=True)
        os.rename(filestore(building), filestore(name))
        return name


def install_and_check(odoo, conf, db, logfile, what):
    problems = odoo_cmd(odoo, conf, db, "-i", MODULE, "--stop-after-init", "--no-http",
                        logfile=logfile)
    state = module_state(db)
    if state != "installed":
        problems.append(f"{MODULE} is '{state}' after the install")
    return report_problems(what, problems, logfile)


UNINSTALL = f"""
module = env["ir.module.module"].search([("name", "=", "{MODULE}")])
module.button_immediate_uninstall()
env.cr.commit()
"""


def uninstall_and_check(odoo, conf, db, logfile):
    open(logfile, "w", encoding="utf-8").close()
    proc = run(odoo.cmd + ["shell", "-c", conf, "-d", db, "--logfile", logfile, "--no-http"],
               check=False, input=UNINSTALL, text=True)
    problems = bad_log_records(logfile, warnings=False)
    if proc.returncode:
        problems.append(f"odoo shell exited with code {proc.returncode}")
    state = module_state(db)
    if state != "uninstalled":
        problems.append(f"{MODULE} is '{state}' after the uninstall")
    return report_problems(f"uninstall of {MODULE} (demo data)", problems, logfile)


def run_pytest(odoo, addon, conf, db, workdir):
    """Run the addon's tests; return (ok, counts)."""
    junit = os.path.join(workdir, "junit.xml")
    # --odoo-http: without it pytest-odoo skips every HttpCase (browser tours).
    cmd = [PYTHON, "-m", "pytest", f"--odoo-database={db}", f"--odoo-config={conf}",
           "--odoo-http", "--odoo-log-level=warn", "-p", "no:cacheprovider",
           f"--junitxml={junit}", "-rfEs", "tests"]
    cmd += shlex.split(os.environ.get("PYTEST_ARGS", ""))
    say(f"cd {addon} && {shlex.join(cmd)}")
    proc = run(cmd, check=False, cwd=addon, env=pytest_env(odoo), stdin=subprocess.DEVNULL)
    counts = junit_counts(junit)
    if proc.returncode == 5:
        print("!!! pytest collected no test: a missing suite must not pass")
        return False, counts
    if proc.returncode:
        print(f"!!! pytest exited with code {proc.returncode} "
              f"(Odoo's warnings: {os.path.join(LOG_DIR, 'pytest-odoo.log')})")
    return proc.returncode == 0, counts


def junit_counts(path):
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not os.path.isfile(path):
        return counts
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    return counts


def summary_line(counts):
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    failed = counts["failures"] + counts["errors"]
    return f"odoo-suite: {passed} passed, {failed} failed, {counts['skipped']} skipped"


def apt_install(packages, what):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    capture(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL)
    proc = capture(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   env=env, stdin=subprocess.DEVNULL)
    if proc.returncode:
        print(proc.stdout + proc.stderr)
        raise Failure(f"could not install {what}")


def ensure_chromium():
    """Browser tours skip themselves (and pass) when Chromium is missing: install it."""
    if any(shutil.which(b) for b in ("google-chrome", "chromium", "chromium-browser")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("!!! no Chromium and no way to install it: browser tours will be skipped")
        return
    say("installing Chromium for the browser tours (once per machine)")
    apt_install(["chromium"], "Chromium")


def ensure_wkhtmltopdf():
    """The PDF receipt test prints through wkhtmltopdf and skips itself without it:
    install it (Debian's package; Odoo warns that its Qt is unpatched, which
    the test allows for)."""
    if shutil.which("wkhtmltopdf"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("!!! no wkhtmltopdf and no way to install it: the PDF receipt test will be skipped")
        return
    say("installing wkhtmltopdf for the PDF receipt test (once per machine)")
    apt_install(["wkhtmltopdf"], "wkhtmltopdf")


def no_odoo_banner(odoo):
    found = f", found Odoo {odoo.version} instead" if odoo else ""
    print(f"!!! NO ODOO 18 FOUND (ODOO_HOME={ODOO_HOME}{found}): "
          "running only the checks that need no Odoo !!!", flush=True)


def cmd_suite():
    odoo = find_odoo()
    if not odoo or odoo.major != 18:
        no_odoo_banner(odoo)
        return 0
    addon_src = os.environ.get("ADDON_DIR") or REPO
    depends = read_manifest(addon_src).get("depends", [])
    fast = os.environ.get("FAST") == "1"
    say(f"Odoo {odoo.version} at {odoo.home}; addon {addon_src}; FAST={int(fast)}")
    timer = Timer()
    ok = True
    counts = None
    run_dbs = []
    workdir = tempfile.mkdtemp(prefix=f"{MODULE}-suite-")
    try:
        with timer.step("system packages"):
            ensure_chromium()
            ensure_wkhtmltopdf()
        with timer.step("PostgreSQL"):
            ensure_postgres()
            drop_abandoned_runs()
        with timer.step("template without demo data"):
            template = ensure_template(odoo, depends, False, workdir)
        addon = stage(addon_src, os.path.join(workdir, "addons"))
        conf = os.path.join(workdir, "odoo.conf")
        write_config(conf, odoo.addons_paths + [os.path.dirname(addon)],
                     logfile=os.path.join(workdir, "pytest-odoo.log"))
        db = f"{RUN_PREFIX}{os.getpid()}"
        run_dbs.append(db)
        with timer.step(f"install {MODULE}"):
            with db_lock():
                copy_db(template, db)
            installed = install_and_check(odoo, conf, db, os.path.join(workdir, "install.log"),
                                          f"install of {MODULE}")
        ok = installed
        if installed:
            with timer.step("pytest-odoo"):
                ok, counts = run_pytest(odoo, addon, conf, db, workdir)
        # A failed install would fail the same way with demo data: no need to see it twice.
        if installed and not fast:
            with timer.step("template with demo data"):
                demo_template = ensure_template(odoo, depends, True, workdir)
            demo_db = f"{db}-demo"
            run_dbs.append(demo_db)
            with timer.step(f"install {MODULE} with demo data, then uninstall"):
                with db_lock():
                    copy_db(demo_template, demo_db)
                demo_ok = install_and_check(odoo, conf, demo_db,
                                            os.path.join(workdir, "install-demo.log"),
                                            f"install of {MODULE} with demo data")
                if demo_ok:
                    demo_ok = uninstall_and_check(odoo, conf, demo_db,
                                                  os.path.join(workdir, "uninstall-demo.log"))
                ok = ok and demo_ok
    except Failure as exc:
        print(f"!!! {exc}")
        ok = False
    finally:
        for run_db in run_dbs:
            drop_db(run_db)
        if os.path.isfile(os.path.join(workdir, "pytest-odoo.log")):
            keep_log(os.path.join(workdir, "pytest-odoo.log"))
        shutil.rmtree(workdir, ignore_errors=True)
    print("Timing:")
    timer.report()
    if counts is None:
        print("!!! the Odoo tests did not run")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        ok = False
    elif counts["errors"]:
        print(f"({counts['failures']} test failures and {counts['errors']} errors)")
    print(summary_line(counts))
    if not ok:
        print("!!! Odoo suite FAILED")
    return 0 if ok else 1


def cmd_run():
    odoo = find_odoo()
    if not odoo or odoo.major != 18:
        raise Failure(f"no Odoo 18 found (ODOO_HOME={ODOO_HOME})")
    addon_src = os.path.abspath(os.environ.get("ADDON_DIR") or REPO)
    depends = read_manifest(addon_src).get("depends", [])
    rundir = os.path.join(REPO, ".build", "run")
    addons_dir = os.path.join(rundir, "addons")
    os.makedirs(addons_dir, exist_ok=True)
    # Odoo, unlike pytest-odoo, takes the module name from the link's name.
    link = os.path.join(addons_dir, MODULE)
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(addon_src, link)
    conf = os.path.join(rundir, "odoo.conf")
    write_config(conf, odoo.addons_paths + [addons_dir], http_port=8069)
    ensure_postgres()
    if RUN_DEMO_DB not in databases():
        template = ensure_template(odoo, depends, True, rundir)
        with db_lock():
            copy_db(template, RUN_DEMO_DB)
        if not install_and_check(odoo, conf, RUN_DEMO_DB, os.path.join(rundir, "install.log"),
                                 f"install of {MODULE} on {RUN_DEMO_DB}"):
            drop_db(RUN_DEMO_DB)
            raise Failure(f"could not install {MODULE} on {RUN_DEMO_DB}")
    say(f"Odoo on http://localhost:8069 (database {RUN_DEMO_DB}, login admin / admin)")
    sys.stdout.flush()
    # -u: the database follows the code that is served (views, data, fields).
    os.execvp(odoo.cmd[0], odoo.cmd + ["-c", conf, "-d", RUN_DEMO_DB, "-u", MODULE,
                                       "--db-filter", f"^{RUN_DEMO_DB}$"])


def main(argv):
    try:
        if argv[:1] == ["pip-install"] and len(argv) in (2, 3):
            pip_install(*argv[1:])
        elif argv[:1] == ["stage"] and len(argv) == 3:
            print(stage(argv[1], argv[2]))
        elif argv[:1] == ["check-files"] and len(argv) == 2:
            cmd_check_files(argv[1])
        elif argv == ["suite"]:
            return cmd_suite()
        elif argv == ["run"]:
            cmd_run()
        else:
            print(__doc__)
            return 2
    except Failure as exc:
        print(f"!!! {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
