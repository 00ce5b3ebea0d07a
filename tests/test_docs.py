"""Every example the README and the docs site show works as shown.

A newcomer copies fenced blocks, so each kind is checked against the code it describes:

- ```toml blocks are validated by pytest_mlci.config. Most are fragments (one table of
  ``[tool.mlci]``), so each is merged into a minimal valid base (the required keys, which the
  block may override) and must load; a block whose first line is ``# invalid`` must raise
  ConfigError instead. A block without ``[tool.mlci...]`` tables is read as ``mlci.toml``.
- ```sh / ```console blocks: every ``mlci`` command is parsed by the real click group (the
  subcommand must exist, every option must exist, values must convert, arguments must fit),
  ``pytest`` options must be ones ``pytest --help`` lists (plugins included), and ``dvc``
  commands must parse with DVC's own argument parser. ``mlci init`` is also run for real in
  an empty directory, since it needs nothing but the directory.
- ```python blocks compile; ```yaml blocks load, and a pre-commit hook they name exists.
- ``mkdocs build --strict`` (slow) fails on a broken link, a missing page or an object
  mkdocstrings cannot find.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from pytest_mlci.config import parse_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.project import project_from_table

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASE = {
    "model": "docs-example",
    "task": "binary_classification",
    "target": "label",
    "artifact": "models/model.skops",
}
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is (for the test id and messages) and what it says."""

    path: Path
    line: int
    lang: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(text: str, path: Path) -> Iterator[Block]:
    """The fenced blocks of a Markdown text, indented ones (inside list items) included."""
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        body = "\n".join(
            row[len(match["indent"]) :] if row.startswith(match["indent"]) else row
            for row in match["body"].splitlines()
        )
        yield Block(path, line, match["lang"].lower(), body)


def _blocks(*langs: str) -> list[Block]:
    return [
        block
        for path in DOCUMENTS
        for block in fenced_blocks(path.read_text(encoding="utf-8"), path)
        if block.lang in langs
    ]


def _ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


# ---------------------------------------------------------------- TOML: the configuration


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_toml(block: Block, project: Path) -> str | None:
    """None when the block loads as documented, else what is wrong (for the failure message)."""
    try:
        document = tomllib.loads(block.body)
    except tomllib.TOMLDecodeError as exc:
        return f"{block.where}: not valid TOML: {exc}"
    if "tool" in document:
        table, source, prefix = document["tool"].get("mlci", {}), "pyproject.toml", "tool.mlci."
    else:
        table, source, prefix = document, "mlci.toml", ""
    expect_invalid = block.body.lstrip().startswith("# invalid")
    try:
        if "models" in table:  # many models: each gets what the snippet leaves out
            template = {k: v for k, v in BASE.items() if k not in ("model", "artifact")}
            models = {
                name: _merge({"artifact": f"models/{name}.skops"}, body)
                for name, body in table["models"].items()
            }
            merged = {**_merge(template, table), "models": models}
            project_from_table(merged, root=project, source=project / source, prefix=prefix)
            return f"{block.where}: marked '# invalid' but loads" if expect_invalid else None
        parse_config(_merge(BASE, table), root=project, source=project / source, prefix=prefix)
    except ConfigError as exc:
        return None if expect_invalid else f"{block.where}: the loader refuses it: {exc}"
    return f"{block.where}: marked '# invalid' but loads" if expect_invalid else None


@pytest.mark.parametrize("block", _blocks("toml"), ids=_ids(_blocks("toml")))
def test_every_toml_example_loads_as_the_docs_say(block: Block, tmp_path: Path) -> None:
    assert check_toml(block, tmp_path) is None


def test_a_toml_example_with_a_wrong_key_fails_the_check(tmp_path: Path) -> None:
    block = Block(ROOT / "docs" / "x.md", 1, "toml", "[tool.mlci.canary]\nstepz = [0.5, 1.0]\n")
    problem = check_toml(block, tmp_path)
    assert problem is not None and "canary.stepz" in problem


def test_an_example_marked_invalid_must_be_refused(tmp_path: Path) -> None:
    refused = Block(ROOT / "docs" / "x.md", 1, "toml", '# invalid\n[tool.mlci]\ntier = "top"\n')
    assert check_toml(refused, tmp_path) is None
    accepted = Block(ROOT / "docs" / "x.md", 1, "toml", '# invalid\n[tool.mlci]\ntier = "low"\n')
    assert "marked '# invalid' but loads" in (check_toml(accepted, tmp_path) or "")


def test_a_toml_example_that_toml_cannot_read_fails_the_check(tmp_path: Path) -> None:
    block = Block(
        ROOT / "docs" / "x.md", 1, "toml", "[tool.mlci.canary]\njudge = { a = 1,\n b = 2 }\n"
    )
    assert "not valid TOML" in (check_toml(block, tmp_path) or "")


# ---------------------------------------------------------------- shell: the commands


def shell_commands(block: Block) -> Iterator[list[str]]:
    """Each simple command of a shell block as argv (``$ `` prompts and continuations handled)."""
    text = block.body.replace("\\\n", " ")
    lines = text.splitlines()
    if block.lang == "console":
        lines = [row[2:] for row in lines if row.startswith("$ ")]
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        skip_next = False
        for token in [*lexer, ";"]:
            if skip_next:
                skip_next = False
            elif token in (">", ">>", "<", "2>"):
                skip_next = True  # the file a redirection names
            elif token in ("&&", "||", "|", ";", "&"):
                while command and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0]):
                    command.pop(0)  # VAR=value prefixes
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def _parse_click(command: click.Command, name: str, args: list[str], parent: Any = None) -> None:
    """Parse ``args`` the way ``mlci`` would, down to the subcommand, without running it."""
    ctx = command.make_context(name, list(args), parent=parent)
    if isinstance(command, click.Group):
        # What the group left for its subcommand (click keeps the first word separately).
        rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        sub_name, sub, sub_args = command.resolve_command(ctx, rest)
        assert sub is not None and sub_name is not None
        _parse_click(sub, sub_name, sub_args, ctx)


@cache
def _pytest_options() -> frozenset[str]:
    """Every option ``pytest --help`` lists, with the installed plugins (mlci, xdist)."""
    shown = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", shown))


def check_command(argv: list[str]) -> str | None:
    """None when the command parses as mlci/pytest/dvc would parse it (other programs pass)."""
    program = Path(argv[0]).name
    if program == "mlci":
        from mlci_local.cli import cli

        try:
            _parse_click(cli, "mlci", argv[1:])
        except click.ClickException as exc:
            return f"{shlex.join(argv)}: {exc.format_message()}"
        return None
    if program == "pytest":
        unknown = [
            arg.split("=", 1)[0]
            for arg in argv[1:]
            if arg.startswith("-") and arg.split("=", 1)[0] not in _pytest_options()
        ]
        return f"{shlex.join(argv)}: pytest has no option {unknown}" if unknown else None
    if program == "dvc":
        from dvc.cli import DvcParserError, parse_args

        try:
            parse_args(argv[1:])
        except (DvcParserError, SystemExit):
            return f"{shlex.join(argv)}: dvc's parser refuses it"
        return None
    return None


SHELL = _blocks("sh", "bash", "shell", "console")


@pytest.mark.parametrize("block", SHELL, ids=_ids(SHELL))
def test_every_shell_example_parses_as_the_docs_show_it(block: Block) -> None:
    problems = [problem for argv in shell_commands(block) if (problem := check_command(argv))]
    assert problems == [], f"{block.where}: {problems}"


def test_the_shell_examples_cover_the_commands_a_newcomer_types() -> None:
    programs = {Path(argv[0]).name for block in SHELL for argv in shell_commands(block)}
    assert {"mlci", "pytest", "pip"} <= programs


def test_a_nonexistent_option_or_command_fails_the_check() -> None:
    assert "No such option" in (check_command(["mlci", "run", "--untill", "train"]) or "")
    assert "No such command" in (check_command(["mlci", "deploy"]) or "")
    assert "'regresion'" in (check_command(["mlci", "init", "--task", "regresion"]) or "")
    assert "No such option" in (check_command(["mlci", "audit", "verify", "--fix"]) or "")
    assert "--mlci-typo" in (check_command(["pytest", "--mlci-typo"]) or "")
    assert check_command(["dvc", "repro", "--no-such-flag"]) is not None
    assert check_command(["dvc", "repro", "--dry"]) is None
    assert check_command([".venv/bin/mlci", "run", "--until", "train"]) is None
    assert check_command(["pytest", "--mlci", "-m", "mlci_gate", "-n", "2"]) is None


def test_shell_lines_split_into_commands_without_env_prefixes_or_redirections() -> None:
    block = Block(
        ROOT / "docs" / "x.md",
        1,
        "sh",
        'A=1 B=2 mlci run && echo "x $(cut -f1 y)" >> out  # git\'s note\n'
        "mlflow server --host 0.0.0.0 \\\n  --port 5000\n",
    )
    assert list(shell_commands(block)) == [
        ["mlci", "run"],
        ["echo", "x $(cut -f1 y)"],
        ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"],
    ]


def test_the_documented_mlci_init_runs_in_an_empty_project(tmp_path: Path) -> None:
    from mlci_local.cli import main

    inits = [argv for block in SHELL for argv in shell_commands(block) if argv[1:2] == ["init"]]
    assert inits, "the adoption steps show `mlci init`"
    for index, argv in enumerate(inits):
        project = tmp_path / f"project{index}"
        project.mkdir()
        assert main([*argv[1:], str(project)]) == 0, shlex.join(argv)
        assert (project / ".pre-commit-config.yaml").is_file()


# ---------------------------------------------------------------- python and yaml


PYTHON = _blocks("python", "py")


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_every_python_example_compiles(block: Block) -> None:
    compile(block.body, block.where, "exec")


YAML = _blocks("yaml", "yml")


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_every_yaml_example_loads_and_names_real_hooks(block: Block) -> None:
    document = yaml.safe_load(block.body)
    published = {
        hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    }
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for repo in (document or {}).get("repos", []) if isinstance(document, dict) else []:
        for hook in repo.get("hooks", []):
            assert hook["id"] in published, f"{block.where}: no hook {hook['id']!r}"
            if repo.get("repo") == "local":
                assert hook["entry"].split()[0] in scripts, f"{block.where}: {hook['entry']}"


# ---------------------------------------------------------------- README and the site


def test_readme_quickstart_is_exactly_two_shell_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = list(fenced_blocks(section, ROOT / "README.md"))
    assert [block.lang for block in blocks] == ["sh", "sh"]
    first, second = (block.body.strip() for block in blocks)
    assert first.endswith(".venv/bin/mlci run")
    test_command = second.rsplit("&& ", 1)[1]
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_has_the_adoption_section_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Adopting pytest-mlci in an existing project\n" in readme
    targets = re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [target for target in targets if not (ROOT / target).is_file()]
    assert missing == []


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [page.name for page in (ROOT / "docs").glob("*.md") if page.name not in nav]
    assert missing == []


@pytest.mark.slow
def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-4000:]
    assert (tmp_path / "site" / "cli" / "index.html").read_text().count("validate-data") > 0
    assert "MLC002" in (tmp_path / "site" / "rules" / "index.html").read_text()


def test_rule_docstrings_render_their_examples_as_python_code_on_the_site() -> None:
    pytest.importorskip(
        "griffe", reason="the docs tools are not installed: pip install -e '.[docs]'"
    )
    import importlib.util

    from pytest_mlci.rules import RULES

    spec = importlib.util.spec_from_file_location(
        "_griffe_ext", ROOT / "docs" / "griffe_rule_sections.py"
    )
    assert spec is not None and spec.loader is not None
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    for code, rule in RULES.items():
        rendered = extension.rule_docstring_to_markdown(rule.__doc__ or "")
        assert rendered.count("```python") == 2, code  # Example and Use instead
        assert "**Why is this bad?**" in rendered, code
    assert extension.sphinx_roles_to_code(":class:`~a.b.C` and :func:`x.y`") == "`C` and `x.y`"
