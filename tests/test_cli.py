"""`smx`, the project's one command (tb/cli.py): every subcommand names a module with a main()."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tb.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_a_main(name):
    assert callable(getattr(importlib.import_module(COMMANDS[name][0]), "main", None)), name


def test_help_lists_every_subcommand_and_unknown_is_refused(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS) and "regression" in out
    assert main(["no-such-thing"]) == 2
    assert "unknown subcommand 'no-such-thing'" in capsys.readouterr().err


def test_installed_console_script_runs():
    # the Makefile installs the project into .venv: `smx` is on the venv's bin/
    smx = sys.prefix + "/bin/smx"
    res = subprocess.run([smx, "sim", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--config" in res.stdout
