"""./dev's set-up (the README's `./dev lab` and `./dev test`), run for real on a stubbed machine.

The script under test is the repository's own ``dev``, copied into a small checkout. Nothing is
downloaded or installed: ``PYTHON`` names a wrapper whose ``-m venv`` makes real virtual
environments without pip and puts a stub ``pip`` in them (it logs its arguments; ``install -e``
points the venv at the checkout with a .pth file, as an editable install does; ``install torch``
makes an empty ``torch``) and a stub ``pytest`` (it prints where ``lensnb`` imports from).
``id`` and ``apt-get`` are stubbed on PATH where a scenario needs root or an offline apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.name == "nt" or shutil.which("bash") is None, reason="./dev is a bash script for POSIX systems"
)

STUB_PIP = """
import os, sys, sysconfig
args = sys.argv[1:]
with open(os.environ["DEV_STUB_LOG"], "a") as log:
    log.write("pip " + " ".join(args) + "\\n")
site = sysconfig.get_paths()["purelib"]
if args and args[0] == "install":
    if "-e" in args:
        path = args[args.index("-e") + 1].split("[")[0]
        with open(os.path.join(site, "_stub_editable_lensnb.pth"), "w") as pth:
            pth.write(os.path.realpath(path) + "\\n")
    if any(a.startswith("torch") for a in args):
        os.makedirs(os.path.join(site, "torch"), exist_ok=True)
        open(os.path.join(site, "torch", "__init__.py"), "w").close()
"""

STUB_PYTEST = """
import importlib.util, os, sys
del sys.path[0]  # the cwd (python -m puts it first): where the venv finds lensnb, as from notebooks/
spec = importlib.util.find_spec("lensnb")
print("PYTEST-STUB", sys.argv[1:], "lensnb from", os.path.dirname(spec.origin) if spec else None)
"""

FAKE_PYTHON = """#!/usr/bin/env bash
# stands for python3: '-m venv' makes a real venv, without pip, holding the stub pip and pytest
if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then
  shift 2
  "$REAL_PYTHON" -m venv --without-pip "$@" || exit $?
  for last in "$@"; do :; done
  site="$("$last/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  cp -R "$STUB_SITE"/. "$site"/
  touch "$last/bin/pip"
  echo "venv $*" >> "$DEV_STUB_LOG"
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def _write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def machine(tmp_path):
    """A stubbed machine: ``checkout(name)`` makes a checkout with this repo's dev; ``run(checkout, ...)`` runs it."""
    stubs = tmp_path / "stubs"
    _write(stubs / "site" / "pip" / "__init__.py", "")
    _write(stubs / "site" / "pip" / "__main__.py", STUB_PIP)
    _write(stubs / "site" / "pytest" / "__init__.py", "")
    _write(stubs / "site" / "pytest" / "__main__.py", STUB_PYTEST)
    fake_python = _write(stubs / "python3", FAKE_PYTHON, 0o755)
    log = tmp_path / "log"

    class Machine:
        root = tmp_path

        def checkout(self, name: str, dev: str | None = None) -> Path:
            folder = tmp_path / name
            _write(folder / "dev", dev if dev is not None else (REPO / "dev").read_text(), 0o755)
            shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")
            _write(folder / "lensnb" / "__init__.py", "")
            return folder

        def run(self, checkout: Path, *args: str, path: list[Path] = (), **env: str):
            log.write_text("")
            environment = {
                k: v for k, v in os.environ.items() if not k.startswith(("LENSNB_", "VIRTUAL_ENV", "PYTHON"))
            }
            environment.update(
                PYTHON=str(fake_python), REAL_PYTHON=sys.executable, STUB_SITE=str(stubs / "site"),
                DEV_STUB_LOG=str(log), PATH=os.pathsep.join([*map(str, path), environment.get("PATH", "")]),
                LENSNB_CHROMIUM="/stub/chromium",  # no browser step, unless a test passes LENSNB_CHROMIUM=""
            )  # fmt: skip
            environment.update(env)
            if not environment["LENSNB_CHROMIUM"]:
                del environment["LENSNB_CHROMIUM"]
            result = subprocess.run(
                ["bash", str(checkout / "dev"), *args], env=environment, capture_output=True, text=True, timeout=120
            )
            result.log = log.read_text().splitlines()
            result.pip = [line for line in result.log if line.startswith("pip ")]
            return result

    return Machine()


def _ran_pytest_on(result, checkout: Path) -> bool:
    return result.returncode == 0 and f"lensnb from {checkout.resolve() / 'lensnb'}" in result.stdout


def test_a_fresh_checkout_installs_once_then_skips_the_install(machine):
    checkout = machine.checkout("repo")
    first = machine.run(checkout, "test", "-k", "store")
    assert _ran_pytest_on(first, checkout), first.stderr
    assert "PYTEST-STUB ['-k', 'store']" in first.stdout
    assert [line.split()[-1] for line in first.pip] == ["torch==2.13.0", ".[test,notebooks]"]
    second = machine.run(checkout, "test")
    assert _ran_pytest_on(second, checkout) and second.pip == [], second.stderr


def test_a_venv_whose_python_is_gone_is_made_again_and_installed_into(machine):
    """The .venv of a Python since removed: bin/python dangles; its install stamp must not survive."""
    checkout = machine.checkout("with space/repo")
    assert _ran_pytest_on(machine.run(checkout, "test"), checkout)
    venv = checkout / ".venv"
    assert list(venv.glob(".lensnb-installed-*"))
    for name in ("python", "python3", f"python3.{sys.version_info.minor}"):
        (venv / "bin" / name).unlink(missing_ok=True)
    (venv / "bin" / "python").symlink_to("/opt/gone/python3.10")
    (venv / "bin" / "python3").symlink_to("python")
    result = machine.run(checkout, "test")
    assert _ran_pytest_on(result, checkout), result.stderr
    assert "does not run" in result.stderr and "making it again" in result.stderr
    assert any("--clear" in line for line in result.log if line.startswith("venv "))
    assert [line.split()[-1] for line in result.pip] == ["torch==2.13.0", ".[test,notebooks]"]
    again = machine.run(checkout, "test")
    assert _ran_pytest_on(again, checkout) and again.pip == [] and "does not run" not in again.stderr


def test_a_folder_that_is_not_a_venv_is_never_emptied(machine):
    checkout = machine.checkout("repo")
    precious = checkout / "not-a-venv"
    _write(precious / "keep.txt", "mine")
    (precious / "bin").mkdir()
    (precious / "bin" / "python").symlink_to("/opt/gone/python3")
    result = machine.run(checkout, "test", LENSNB_VENV=str(precious))
    assert result.returncode == 1 and "is not a virtual environment" in result.stderr
    assert (precious / "keep.txt").read_text() == "mine"


def test_a_venv_shared_by_two_checkouts_gets_each_ones_lensnb(machine):
    """LENSNB_VENV shared, pyproject.toml the same: the second checkout must install its own editable lensnb."""
    shared = machine.root / "shared-venv"
    first, second = machine.checkout("A"), machine.checkout("B")
    assert _ran_pytest_on(machine.run(first, "test", LENSNB_VENV=str(shared)), first)
    result = machine.run(second, "test", LENSNB_VENV=str(shared))
    assert _ran_pytest_on(result, second), result.stdout
    assert [line.split()[-1] for line in result.pip] == [".[test,notebooks]"]  # torch is there already
    back = machine.run(first, "test", LENSNB_VENV=str(shared))
    assert _ran_pytest_on(back, first) and len(back.pip) == 1
    assert machine.run(first, "test", LENSNB_VENV=str(shared)).pip == []


def test_as_root_with_apt_get_failing_the_tests_still_run_and_say_why_the_browser_tests_skip(machine):
    """An offline machine, as root, without chromium: set -e must not stop ./dev before pytest."""
    dev = (REPO / "dev").read_text().replace("/usr/bin/chromium", str(machine.root / "no-chromium"))
    checkout = machine.checkout("repo", dev=dev)
    fakebin = machine.root / "fakebin"
    _write(fakebin / "id", '#!/bin/sh\nif [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi\n', 0o755)
    _write(fakebin / "apt-get", '#!/bin/sh\necho "E: offline ($*)" >&2\nexit 100\n', 0o755)
    result = machine.run(checkout, "test", "-k", "store", path=[fakebin], LENSNB_CHROMIUM="")
    assert _ran_pytest_on(result, checkout), result.stderr
    assert "PYTEST-STUB ['-k', 'store']" in result.stdout
    assert "could not install chromium" in result.stderr and "browser tests will be skipped" in result.stderr
    ci = machine.run(checkout, "test", path=[fakebin], LENSNB_CHROMIUM="", LENSNB_REQUIRE_BROWSER="1")
    assert _ran_pytest_on(ci, checkout) and "browser tests will fail (LENSNB_REQUIRE_BROWSER=1)" in ci.stderr


def test_the_dev_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(REPO / "dev")], check=True)
    subprocess.run(["bash", "-n", str(REPO / ".ci" / "run")], check=True)
