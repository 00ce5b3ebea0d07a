"""Start-up paths import nothing heavy: `mlci --help`, and pytest without --mlci."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mlflow", "dvc", "pandas", "sklearn", "pandera", "numpy", "scipy", "skops")

PROBE = """
import sys
from mlci_local.cli import main
code = main({argv!r})
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:", ",".join(loaded))
"""


def loaded_by(argv: list[str]) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    heavy_line = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    assert heavy_line, done.stdout + done.stderr
    return heavy_line[-1].removeprefix("HEAVY:").strip(), done.stdout


def test_mlci_help_imports_nothing_heavy():
    heavy, output = loaded_by(["--help"])
    assert "Commands:" in output
    assert heavy == ""


def test_every_subcommand_help_imports_nothing_heavy():
    commands = ("run", "check", "validate-data", "drift", "status", "promote", "rollback",
                "approve", "audit", "canary", "evidence", "metrics", "serve",
                "init")  # fmt: skip
    for command in commands:
        heavy, output = loaded_by([command, "--help"])
        assert "Usage:" in output
        assert heavy == "", f"mlci {command} --help imported {heavy}"


def test_plain_pytest_with_the_plugin_installed_imports_nothing_heavy(pytester):
    pytester.makepyfile(
        test_probe=f"""
        import sys

        def test_nothing_heavy_was_imported(request):
            assert request.config.pluginmanager.has_plugin("mlci"), "plugin not loaded"
            heavy = [m for m in {HEAVY!r} if m in sys.modules]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
