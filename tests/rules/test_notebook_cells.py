"""Notebook cells are read as IPython runs them: IPython syntax is never an MLC000 finding.

Each notebook is written to disk as nbformat-4 JSON and checked through ``check_file``, the
path the pre-commit hook takes. Every IPython form must parse silently, and a real mistake on a
later line of the same cell must still be found on the right line of the right cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlci.analysis.ipython_cells import cell_to_python
from pytest_mlci.config import StaticSettings
from pytest_mlci.rules import check_file

IMPORTS = (
    "import pandas as pd\n"
    "from sklearn.cluster import KMeans\n"
    "from sklearn.model_selection import train_test_split\n"
    "from sklearn.preprocessing import StandardScaler\n"
    "df = pd.read_csv('data.csv')\n"
    "X, y = df.drop(columns=['churn']), df['churn']"
)
UNSEEDED = "km = KMeans(3).fit(X)"  # MLC101: an estimator without a seed


def write_notebook(tmp_path: Path, cells: list[str | list[str]]) -> Path:
    """A notebook whose code cells hold ``cells`` (a string, or nbformat's list of lines)."""
    document = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Model"},
            *(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for source in cells
            ),
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "analysis.ipynb"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def found(path: Path, *codes: str) -> list[tuple[int | None, int, str]]:
    settings = StaticSettings(select=codes) if codes else None
    return [(f.cell, f.line, f.code) for f in check_file(path, settings)]


# Cell sources that IPython runs; the last line of each is the unseeded estimator.
IPYTHON_FORMS = {
    "line magic": "%matplotlib inline\n%load_ext autoreload\n%autoreload 2",
    "magic with options": "%config InlineBackend.figure_format = 'retina'",
    "time keeps its statement": "%time scores = [1, 2]\n%timeit -n 10 -r 3 sum(scores)",
    "magic continued with backslash": "%env \\\n    DATA_DIR=data",
    "shell line": "!pip install -q scikit-learn\n!!ls",
    "shell continued with backslash": "!pip install \\\n    scikit-learn \\\n    pandas",
    "captured shell": "files = !ls data\nout, err = !cat log\nmem = %sx free -m",
    "help suffix": "df.describe?\npd.read_csv??\npd.*read*?",
    "help prefix": "?KMeans\n??train_test_split",
    "magic help": "%timeit?",
    "autocall escape": "/print 1 2",
    "magic inside a block": "for name in ['a', 'b']:\n    !echo $name\n    %time len(name)",
    "get_ipython forms": (
        "get_ipython().run_line_magic('matplotlib', 'inline')\n"
        "get_ipython().system('ls')\n"
        "ip = get_ipython()"
    ),
    "percent continuing a format": "print('%d rows'\n      % len(df))\n!ls",
    "magic-looking line in a string": "query = '''\n%not a magic\n!nor a shell\n'''\n!ls",
    "comment ending in a question mark": "x = 1  # why?\n%pwd",
    "top-level await": "import asyncio\nawait asyncio.sleep(0)",
}


@pytest.mark.parametrize("form", IPYTHON_FORMS, ids=list(IPYTHON_FORMS))
def test_ipython_forms_parse_and_a_later_mistake_keeps_its_line(tmp_path: Path, form: str) -> None:
    source = IPYTHON_FORMS[form] + "\n" + UNSEEDED
    path = write_notebook(tmp_path, [IMPORTS, source])
    last_line = len(source.splitlines())
    assert found(path) == [(3, last_line, "MLC101")]


def test_a_cell_indented_as_a_whole_parses(tmp_path: Path) -> None:
    source = "    %matplotlib inline\n    scaled = X * 2\n    " + UNSEEDED
    path = write_notebook(tmp_path, [IMPORTS, source])
    assert found(path) == [(3, 3, "MLC101")]


def test_source_as_a_list_of_lines_is_the_same_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path, [IMPORTS, ["!ls\n", "files = !ls\n", UNSEEDED]])
    assert found(path) == [(3, 3, "MLC101")]


def test_a_leak_between_magics_is_found_and_time_keeps_the_split(tmp_path: Path) -> None:
    # The split only exists inside `%time`: if the statement were dropped there would be no
    # test partition and no MLC001 - so this also proves `%time` keeps what it times.
    source = (
        "%matplotlib inline\n"
        "!pip install -q scikit-learn\n"
        "files = !ls\n"
        "scaler = StandardScaler()\n"
        "X_scaled = scaler.fit_transform(X)\n"
        "%time X_train, X_test, y_train, y_test = train_test_split(X_scaled, y, random_state=0)"
    )
    path = write_notebook(tmp_path, [IMPORTS, source])
    assert found(path, "MLC001") == [(3, 5, "MLC001")]


@pytest.mark.parametrize("magic", ["%%time", "%%timeit -n 1 -r 1", "%%capture output"])
def test_python_cell_magics_keep_their_body_checked(tmp_path: Path, magic: str) -> None:
    source = f"{magic}\n!ls\nscaled = X * 2\n{UNSEEDED}"
    path = write_notebook(tmp_path, [IMPORTS, source])
    assert found(path) == [(3, 4, "MLC101")]


@pytest.mark.parametrize("magic", ["%%bash", "%%sql", "%%html", "%%writefile train.py"])
def test_other_cell_magics_are_not_python_and_are_not_checked(tmp_path: Path, magic: str) -> None:
    source = f"{magic}\nfor f in *.csv; do echo $f; done\nkm = KMeans(3).fit(X)"
    path = write_notebook(tmp_path, [IMPORTS, source, UNSEEDED])
    assert found(path) == [(4, 1, "MLC101")]


def test_broken_python_in_a_cell_is_mlc000_that_says_it_is_a_notebook_problem(
    tmp_path: Path,
) -> None:
    path = write_notebook(
        tmp_path, [IMPORTS, "!ls\nx = (1,\n", "%%time\nfor for in range(3)", UNSEEDED]
    )
    # a notebook parse problem is not a default finding: the rest is checked all the same
    assert [(f.cell, f.code) for f in check_file(path)] == [(5, "MLC101")]
    findings = check_file(path, StaticSettings(confidence="medium"))
    assert [(f.cell, f.code, f.confidence) for f in findings] == [
        (3, "MLC000", "medium"),
        (4, "MLC000", "medium"),
        (5, "MLC101", "high"),
    ]
    message = findings[0].message
    assert "cannot parse notebook cell 3" in message
    assert "cell 3 was skipped" in message
    assert "notebook parse problem, not a finding about the ML code" in message
    assert findings[1].line == 2  # the line of the %%time body that is not Python


def test_a_broken_plain_python_file_is_still_reported(tmp_path: Path) -> None:
    broken = tmp_path / "train.py"
    broken.write_text("%matplotlib inline\nkm = KMeans(3).fit(X)\n", encoding="utf-8")
    [finding] = check_file(broken)
    assert finding.code == "MLC000"  # IPython syntax is only accepted in notebooks
    assert "no ML checks ran on this file" in finding.message


@pytest.mark.parametrize("source", [*IPYTHON_FORMS.values(), "%%bash\nls\n\n", "\n\n  x = 1\n"])
def test_the_python_of_a_cell_has_as_many_lines_as_the_cell(source: str) -> None:
    assert len(cell_to_python(source)) == len(source.splitlines() or [""])


def test_cell_to_python_maps_each_form_to_a_harmless_line() -> None:
    assert cell_to_python("%time x = f()\n%timeit -n 10 -r 3 g(x)") == ["x = f()", "g(x)"]
    assert cell_to_python("files = !ls\nx = %time f()") == ["files = None", "x = f()"]
    assert cell_to_python("if ok:\n    !ls\n    df?") == ["if ok:", "    pass", "    pass"]
    assert cell_to_python("!pip install \\\n  x\ny = 1") == ["pass", "", "y = 1"]
    assert cell_to_python("%%bash\necho hi") == ["", ""]
    assert cell_to_python("x = 1\n") == ["x = 1"]  # Python stays as it is
