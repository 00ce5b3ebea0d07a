"""Model cards: what a registered version is for, what it was trained and judged on, and where
it falls short, as Markdown and as one self-contained HTML page.

Everything on the card comes from what was recorded at registration (the version's tags and
the ``mlci/`` files stored beside the model: ``lineage.json``, ``evaluation.json``), never from
the working tree, so a card generated a year later says the same thing. The card carries no
generation time for the same reason: the same registry state gives the same bytes, and the
card's sha256 can be compared across evidence packages.

Intended use is not a config key (a statement about purpose belongs with the model, not the
build settings): it is the registered model's description in MLflow. When that is empty the
card says :data:`INTENDED_USE_NOT_STATED`, a fixed marker a compliance check can look for.

Only the standard library is imported at module level; MLflow and jinja2 load when used.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_mlci.errors import CheckFailed
from pytest_mlci.redact import redact_text

__all__ = [
    "ATTACHMENT_DIR",
    "INTENDED_USE_NOT_STATED",
    "TAG_MODEL_CARD",
    "ModelCard",
    "VersionFacts",
    "attach_model_card",
    "build_model_card",
    "read_version_facts",
]

#: The placeholder written when no intended use is recorded; compliance checks match on it.
#: No characters HTML would escape, so the same string is found in both renderings.
INTENDED_USE_NOT_STATED = (
    "NOT STATED: no intended use is recorded for this model. Set the description of the "
    "registered model in MLflow to say what it is for and what it must not be used for."
)
#: Where the card is stored in the version's run (beside ``model/`` and ``mlci/``).
ATTACHMENT_DIR = "model_card"
#: Version tag holding the sha256 of the attached Markdown card.
TAG_MODEL_CARD = "mlci.model_card_sha256"
#: The files registration stores beside the model (see ``mlci_local.pipeline``).
LINEAGE_FILES = ("lineage.json", "dvc.lock", "evaluation.json")

_VERDICT_ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "waived": "➖"}


@dataclass(frozen=True)
class VersionFacts:
    """What the registry recorded about one model version: tags, run files, description.

    Read once and shared by the model card and the evidence package, so both describe the
    same state. ``files`` maps a name from :data:`LINEAGE_FILES` to its text (absent if it was
    not stored); ``lineage`` and ``evaluation`` are the parsed JSON (None if absent or broken).
    """

    model: str
    version: str
    digest: str | None
    run_id: str | None
    source: str
    tags: Mapping[str, str]
    aliases: tuple[str, ...]
    created: str | None
    description: str
    files: Mapping[str, str] = field(default_factory=dict)
    lineage: Mapping[str, Any] | None = None
    evaluation: Mapping[str, Any] | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelCard:
    """A rendered card; ``limitations`` and ``intended_use_stated`` are there for checks."""

    model: str
    version: str
    markdown: str
    html: str
    intended_use_stated: bool
    has_evaluation: bool
    limitations: tuple[str, ...]

    @property
    def markdown_sha256(self) -> str:
        return hashlib.sha256(self.markdown.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- reading


def read_version_facts(registry: Any, version: str) -> VersionFacts:
    """Read ``version`` of ``registry.model``: a version that does not exist is a "no".

    ``registry`` is a :class:`mlci_local.registry.Registry`. A missing version raises
    :class:`CheckFailed` listing the versions that do exist, before anything else is read.
    """
    version = str(version).lstrip("v")
    known = registry.versions()
    if not known:
        raise CheckFailed(f"no registered model named '{registry.model}' in {registry.shown_uri}")
    found = next((v for v in known if v.version == version), None)
    if found is None:
        listed = ", ".join(v.version for v in known[-10:])
        raise CheckFailed(
            f"{registry.model} has no version '{version}' (versions: {listed}); see `mlci status`"
        )
    client = registry.client
    raw = registry.call(f"read version {version}", client.get_model_version,
                         registry.model, version)  # fmt: skip
    model = registry.call("read model", client.get_registered_model, registry.model)
    created = getattr(raw, "creation_timestamp", None)
    files, problems = _download_lineage(registry, found.run_id)
    lineage, lineage_problem = _parse_json(files, "lineage.json")
    evaluation, evaluation_problem = _parse_json(files, "evaluation.json")
    problems += tuple(p for p in (lineage_problem, evaluation_problem) if p)
    return VersionFacts(
        model=registry.model,
        version=found.version,
        digest=found.digest,
        run_id=found.run_id,
        source=found.source,
        tags=dict(found.tags),
        aliases=tuple(sorted(getattr(raw, "aliases", None) or found.aliases)),
        created=_millis_to_iso(created),
        description=(getattr(model, "description", None) or "").strip(),
        files=files,
        lineage=lineage,
        evaluation=evaluation,
        problems=problems,
    )


def _download_lineage(registry: Any, run_id: str | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``mlci/`` files of the version's run; what is missing is noted, not fatal."""
    if not run_id:
        return {}, ("the version has no run, so no lineage or evaluation files were stored",)
    from mlflow.exceptions import MlflowException

    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = registry.download_run_folder(run_id, "mlci", tmp)
        except (MlflowException, OSError) as exc:
            detail = redact_text(getattr(exc, "message", None) or str(exc))
            return {}, (f"the run's mlci/ files could not be read: {detail}",)
        for name in LINEAGE_FILES:
            path = local / name
            if path.is_file():
                files[name] = path.read_text(encoding="utf-8")
    missing = [n for n in LINEAGE_FILES if n not in files]
    return files, tuple(f"mlci/{n} was not stored with this version" for n in missing)


def _parse_json(files: Mapping[str, str], name: str) -> tuple[dict[str, Any] | None, str | None]:
    if name not in files:
        return None, None
    try:
        value = json.loads(files[name])
    except ValueError as exc:
        return None, f"mlci/{name} is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"mlci/{name} is not a JSON object"
    return value, None


def _millis_to_iso(millis: Any) -> str | None:
    if not isinstance(millis, (int, float)):
        return None
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- building


def build_model_card(config: Any, registry: Any, version: str) -> ModelCard:
    """Generate the card of ``version`` from the registry (and ``config`` for defaults).

    Never fails for missing evaluation or lineage files: the card says what is missing, in
    its limitations, because a card that silently drops a section reads as a clean bill.
    """
    return card_from_facts(read_version_facts(registry, version), config)


def card_from_facts(facts: VersionFacts, config: Any = None) -> ModelCard:
    """Render a card from already-read facts (the evidence package reads them only once)."""
    context = _context(facts, config)
    return ModelCard(
        model=facts.model,
        version=facts.version,
        markdown=_markdown(context),
        html=_html(context),
        intended_use_stated=context["intended_use_stated"],
        has_evaluation=facts.evaluation is not None,
        limitations=tuple(context["limitations"]),
    )


def _context(facts: VersionFacts, config: Any) -> dict[str, Any]:
    """Everything the two renderings show, computed once so they cannot disagree."""
    tags = facts.tags
    lineage = facts.lineage or {}
    evaluation = facts.evaluation
    git = lineage.get("git") or {}
    commit = tags.get("mlci.git.commit") or git.get("commit") or "unknown"
    branch = tags.get("mlci.git.branch") or git.get("branch") or "unknown"
    dirty = tags.get("mlci.git.dirty")
    if dirty is None and "dirty" in git:
        dirty = "unknown" if git["dirty"] is None else str(git["dirty"]).lower()
    dirty = dirty or "unknown"
    dvc_hashes = dict(lineage.get("dvc_hashes") or {}) or {
        key.removeprefix("mlci.dvc."): value
        for key, value in tags.items()
        if key.startswith("mlci.dvc.")
    }
    params = _flatten(lineage["params"]) if isinstance(lineage.get("params"), dict) else {
        key.removeprefix("mlci.param."): value
        for key, value in tags.items()
        if key.startswith("mlci.param.")
    }  # fmt: skip
    # The project's own MLflow training run (mlci_local.mlflow_training), as registered.
    training = {
        f"mlflow.{key.removeprefix('mlci.training.')}": value
        for key, value in tags.items()
        if key.startswith(("mlci.training.param.", "mlci.training.metric."))
        or key == "mlci.training.run_id"
    }
    intended = facts.description
    task = (evaluation or {}).get("task") or getattr(config, "task", None) or "unknown"
    tier = tags.get("mlci.tier") or getattr(config, "tier", None) or "unknown"
    data = dict((evaluation or {}).get("data") or {})
    gates = [_gate_row(g) for g in (evaluation or {}).get("gates") or [] if isinstance(g, dict)]
    fairness = [
        _fairness_table(t) for t in (evaluation or {}).get("fairness") or [] if isinstance(t, dict)
    ]
    baseline = dict((evaluation or {}).get("baseline") or {})
    return {
        "model": facts.model,
        "version": facts.version,
        "digest": facts.digest or "unknown",
        "artifact_file": tags.get("mlci.artifact_file", "unknown"),
        "aliases": ", ".join(facts.aliases) or "none",
        "created": facts.created or "unknown",
        "run_id": facts.run_id or "none",
        "task": task,
        "tier": tier,
        "approvals": _approval_identity(tags.get("mlci.approvals.identity")),
        "intended_use": intended or INTENDED_USE_NOT_STATED,
        "intended_use_stated": bool(intended),
        "commit": commit,
        "branch": branch,
        "dirty": dirty,
        "data_path": data.get("path", "unknown"),
        "data_rows": data.get("rows"),
        "data_sha256": data.get("sha256") or tags.get("mlci.data_digest") or "unknown",
        "dvc_hashes": sorted(dvc_hashes.items()),
        "params": sorted({**params, **training}.items()),
        "has_evaluation": evaluation is not None,
        "evaluation_passed": (evaluation or {}).get("passed"),
        "baseline": baseline,
        "gates": gates,
        "fairness": fairness,
        "limitations": _limitations(facts, gates, fairness, dirty, intended, baseline),
    }


def _approval_identity(identity: str | None) -> str:
    """How approvals of this version identify people, as recorded at registration."""
    if identity in ("ssh", "gpg"):
        kind = "an SSH" if identity == "ssh" else "an OpenPGP"
        return (
            f"signed: an approval counts only as {kind} signature verified against the allowed "
            "signers file committed in this version's commit"
        )
    if identity == "unverified":
        return (
            "UNVERIFIED: approver names come from $MLCI_ACTOR or git user.email and are not "
            "authenticated (approvals.identity = unverified)"
        )
    return "not recorded at registration"


def _gate_row(gate: Mapping[str, Any]) -> dict[str, Any]:
    verdict = str(gate.get("verdict", "unknown"))
    return {
        "gate": str(gate.get("gate", "?")),
        "metric": str(gate.get("metric", "?")),
        "candidate": _estimate(gate.get("candidate")),
        "baseline": _number(gate.get("baseline")),
        "delta": _estimate(gate.get("delta")),
        "verdict": verdict,
        "icon": _VERDICT_ICON.get(verdict, ""),
        "message": str(gate.get("message", "")),
    }


def _fairness_table(table: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for group in table.get("groups") or []:
        rows.append(
            {
                "group": str(group.get("group", "?")),
                "count": _count(group.get("count")),
                "selection_rate": _number(group.get("selection_rate"), 3),
                "accuracy": _number(group.get("accuracy"), 3),
                "recall": _number(group.get("recall"), 3),
                "precision": _number(group.get("precision"), 3),
                "excluded": bool(group.get("excluded")),
            }
        )
    return {
        "attribute": str(table.get("attribute", "?")),
        "rows": rows,
        "excluded": [str(g) for g in table.get("excluded") or []],
    }


def _limitations(
    facts: VersionFacts,
    gates: list[dict[str, Any]],
    fairness: list[dict[str, Any]],
    dirty: str,
    intended: str,
    baseline: Mapping[str, Any],
) -> list[str]:
    """Everything a reader should weigh before trusting the numbers above it."""
    out: list[str] = []
    if not intended:
        out.append("Intended use is not stated (the registered model has no description).")
    evaluation = facts.evaluation
    if evaluation is None:
        out.append(
            "No evaluation report (mlci/evaluation.json) is stored with this version: its "
            "metrics, fairness and gate verdicts are unknown."
        )
    else:
        if not evaluation.get("passed"):
            out.append("The evaluation did not pass.")
        if evaluation.get("crashed"):
            out.append(f"The evaluation crashed in: {', '.join(map(str, evaluation['crashed']))}.")
        if not gates:
            out.append("No gates were evaluated.")
        for gate in gates:
            if gate["verdict"] in ("fail", "inconclusive", "waived"):
                what = {
                    "fail": "failed",
                    "inconclusive": "was inconclusive",
                    "waived": "was waived",
                }
                out.append(f"Gate `{gate['gate']}` {what[gate['verdict']]}: {gate['message']}")
        if baseline.get("status") not in (None, "present"):
            out.append(
                f"Not compared with a production model (baseline {baseline.get('status')}): "
                f"{baseline.get('reason') or 'no reason recorded'}"
            )
        if not fairness:
            out.append(
                "No fairness results: declare `protected` columns on the evaluation dataset "
                "to have groups compared."
            )
        for table in fairness:
            if table["excluded"]:
                out.append(
                    f"Groups of `{table['attribute']}` too small to judge, left out of the "
                    f"fairness gaps: {', '.join(table['excluded'])}."
                )
    if dirty == "true":
        out.append(
            "Trained from a working tree with uncommitted changes: the commit does not fully "
            "describe the code that produced this model."
        )
    elif dirty != "false":
        out.append("Whether the working tree had uncommitted changes is unknown (no git state).")
    out.extend(f"Lineage incomplete: {problem}." for problem in facts.problems)
    return out


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, Mapping):
            out.update(_flatten(inner, name + "."))
        else:
            out[name] = inner if isinstance(inner, str) else json.dumps(inner)
    return out


def _estimate(value: Any) -> str:
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), (int, float)):
        return "-"
    low, high = value.get("low"), value.get("high")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        return f"{value['value']:.4f} [{low:.4f}, {high:.4f}]"
    return f"{value['value']:.4f}"


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _count(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) else "-"


# --------------------------------------------------------------------------- rendering


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes or line breaks to split the row."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(c: dict[str, Any]) -> str:
    lines = [
        f"# Model card: {c['model']} v{c['version']}",
        "",
        "| | |",
        "|---|---|",
        f"| model | `{_cell(c['model'])}` |",
        f"| version | {_cell(c['version'])} |",
        f"| task | {_cell(c['task'])} |",
        f"| tier | {_cell(c['tier'])} |",
        f"| approvals | {_cell(c['approvals'])} |",
        f"| aliases | {_cell(c['aliases'])} |",
        f"| registered | {_cell(c['created'])} |",
        f"| artifact | `{_cell(c['artifact_file'])}` sha256 `{_cell(c['digest'])}` |",
        f"| run | `{_cell(c['run_id'])}` |",
        "",
        "## Intended use",
        "",
        c["intended_use"],
        "",
        "## Training lineage",
        "",
        f"- git commit `{c['commit']}` on branch `{c['branch']}`; uncommitted changes: "
        f"{c['dirty']}",
    ]
    if c["params"]:
        lines += ["", "| parameter | value |", "|---|---|"]
        lines += [f"| `{_cell(k)}` | {_cell(v)} |" for k, v in c["params"]]
    lines += [
        "",
        "## Data",
        "",
        f"- evaluation data `{c['data_path']}`: "
        f"{c['data_rows'] if c['data_rows'] is not None else 'unknown'} rows, "
        f"sha256 `{c['data_sha256']}`",
    ]
    if c["dvc_hashes"]:
        lines += ["", "| DVC-tracked path | md5 |", "|---|---|"]
        lines += [f"| `{_cell(k)}` | `{_cell(v)}` |" for k, v in c["dvc_hashes"]]
    else:
        lines += ["- no DVC hashes were recorded"]
    lines += ["", "## Metrics", ""]
    if not c["has_evaluation"]:
        lines.append("No evaluation report is stored with this version (mlci/evaluation.json).")
    elif not c["gates"]:
        lines.append("The evaluation report has no gates.")
    else:
        verdict = "passed" if c["evaluation_passed"] else "did not pass"
        lines += [
            f"The evaluation {verdict}. Intervals are seeded bootstrap confidence intervals.",
            "",
            "| gate | candidate [interval] | baseline | delta [interval] | verdict |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{_cell(g['gate'])}` | {g['candidate']} | {g['baseline']} | {g['delta']} | "
            f"{g['icon']} {_cell(g['verdict'])} |"
            for g in c["gates"]
        ]
    lines += ["", "## Fairness", ""]
    if not c["has_evaluation"]:
        lines.append("Unknown: no evaluation report is stored with this version.")
    elif not c["fairness"]:
        lines.append("Not evaluated: the evaluation report has no fairness tables.")
    for table in c["fairness"]:
        lines += [
            f"### By `{_cell(table['attribute'])}`",
            "",
            "| group | rows | selection rate | accuracy | recall | precision |",
            "|---|---|---|---|---|---|",
        ]
        for row in table["rows"]:
            note = " (too small, left out of gaps)" if row["excluded"] else ""
            lines.append(
                f"| {_cell(row['group'])}{note} | {row['count']} | {row['selection_rate']} | "
                f"{row['accuracy']} | {row['recall']} | {row['precision']} |"
            )
        lines.append("")
    lines += ["", "## Limitations", ""]
    lines += [f"- {item}" for item in c["limitations"]] or ["- none recorded"]
    lines += ["", "---", "Generated by pytest-mlci from the model registry.", ""]
    return "\n".join(lines)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Model card: {{ c.model }} v{{ c.version }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font-size: .9em; }
.pass { color: #17692a; } .fail, .inconclusive { color: #a31515; font-weight: bold; }
.waived { color: #777; } .missing { color: #a31515; font-weight: bold; }
</style></head><body>
<h1>Model card: {{ c.model }} v{{ c.version }}</h1>
<table>
<tr><th>model</th><td><code>{{ c.model }}</code></td></tr>
<tr><th>version</th><td>{{ c.version }}</td></tr>
<tr><th>task</th><td>{{ c.task }}</td></tr>
<tr><th>tier</th><td>{{ c.tier }}</td></tr>
<tr><th>approvals</th><td>{{ c.approvals }}</td></tr>
<tr><th>aliases</th><td>{{ c.aliases }}</td></tr>
<tr><th>registered</th><td>{{ c.created }}</td></tr>
<tr><th>artifact</th><td><code>{{ c.artifact_file }}</code>
 sha256 <code>{{ c.digest }}</code></td></tr>
<tr><th>run</th><td><code>{{ c.run_id }}</code></td></tr>
</table>
<h2>Intended use</h2>
<p{% if not c.intended_use_stated %} class="missing"{% endif %}>{{ c.intended_use }}</p>
<h2>Training lineage</h2>
<p>git commit <code>{{ c.commit }}</code> on branch <code>{{ c.branch }}</code>;
 uncommitted changes: {{ c.dirty }}</p>
{% if c.params %}<table><tr><th>parameter</th><th>value</th></tr>
{% for k, v in c.params %}<tr><td><code>{{ k }}</code></td><td>{{ v }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Data</h2>
<p>evaluation data <code>{{ c.data_path }}</code>:
 {{ c.data_rows if c.data_rows is not none else "unknown" }} rows,
 sha256 <code>{{ c.data_sha256 }}</code></p>
{% if c.dvc_hashes %}<table><tr><th>DVC-tracked path</th><th>md5</th></tr>
{% for k, v in c.dvc_hashes %}<tr><td><code>{{ k }}</code></td><td><code>{{ v }}</code></td>
</tr>{% endfor %}</table>{% else %}<p>No DVC hashes were recorded.</p>{% endif %}
<h2>Metrics</h2>
{% if not c.has_evaluation %}<p class="missing">No evaluation report is stored with this
 version (mlci/evaluation.json).</p>
{% elif not c.gates %}<p>The evaluation report has no gates.</p>
{% else %}<p>The evaluation {{ "passed" if c.evaluation_passed else "did not pass" }}.
 Intervals are seeded bootstrap confidence intervals.</p>
<table><tr><th>gate</th><th>candidate [interval]</th><th>baseline</th>
<th>delta [interval]</th><th>verdict</th><th>why</th></tr>
{% for g in c.gates %}<tr><td><code>{{ g.gate }}</code></td><td>{{ g.candidate }}</td>
<td>{{ g.baseline }}</td><td>{{ g.delta }}</td>
<td class="{{ g.verdict }}">{{ g.icon }} {{ g.verdict }}</td><td>{{ g.message }}</td></tr>
{% endfor %}</table>{% endif %}
<h2>Fairness</h2>
{% if not c.has_evaluation %}<p class="missing">Unknown: no evaluation report is stored with
 this version.</p>
{% elif not c.fairness %}<p>Not evaluated: the evaluation report has no fairness tables.</p>
{% endif %}
{% for t in c.fairness %}<h3>By <code>{{ t.attribute }}</code></h3>
<table><tr><th>group</th><th>rows</th><th>selection rate</th><th>accuracy</th><th>recall</th>
<th>precision</th></tr>
{% for r in t.rows %}<tr><td>{{ r.group }}{% if r.excluded %} (too small, left out of gaps)
{% endif %}</td><td>{{ r.count }}</td><td>{{ r.selection_rate }}</td><td>{{ r.accuracy }}</td>
<td>{{ r.recall }}</td><td>{{ r.precision }}</td></tr>{% endfor %}</table>{% endfor %}
<h2>Limitations</h2>
<ul>{% for item in c.limitations %}<li>{{ item }}</li>{% else %}<li>none recorded</li>
{% endfor %}</ul>
<hr><p>Generated by pytest-mlci from the model registry.</p>
</body></html>
"""


def _html(context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(_TEMPLATE).render(c=context)


# --------------------------------------------------------------------------- attaching


def attach_model_card(
    config: Any, registry: Any, version: str, card: ModelCard | None = None
) -> ModelCard:
    """Upload the card (``model_card.md``, ``model_card.html``) into the version's run.

    The files go to ``model_card/`` in the run, beside ``model/`` and never inside it: the
    model's files and their sha256 manifest stay exactly as registered. The version is tagged
    with the Markdown card's sha256 so a reader can tell whether a card they hold is the one
    that was attached.
    """
    if card is None:
        card = build_model_card(config, registry, version)
    registry.attach_files(
        card.version,
        {"model_card.md": card.markdown, "model_card.html": card.html},
        ATTACHMENT_DIR,
    )
    registry.set_version_tag(card.version, TAG_MODEL_CARD, card.markdown_sha256)
    return card
