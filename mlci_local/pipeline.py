"""``mlci run``: the seven stages in order, each with a one-line verdict.

Each stage is a method returning a short detail line or raising an
:class:`~pytest_mlci.errors.MlciError`; the first failure stops the run, so nothing after a
failed gate is registered or promoted. Evaluation runs as ``pytest --mlci`` in a child
process, so a gate means exactly the same thing here as in any CI job.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlci.config import MlciConfig
from pytest_mlci.errors import CheckFailed, ConfigError, MlciError
from pytest_mlci.redact import redact_text

STAGES = ("static", "data", "train", "evaluate", "register", "stage", "promote")
TITLES = {
    "static": "code validation",
    "data": "data validation",
    "train": "training",
    "evaluate": "evaluation",
    "register": "registration",
    "stage": "staging",
    "promote": "promotion",
}
EVAL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class StageOutcome:
    """One stage's verdict line."""

    stage: str
    status: str  # ok | up to date | failed | skipped
    detail: str
    seconds: float


@dataclass
class RunContext:
    """What earlier stages hand to later ones."""

    digest: str | None = None  # exact sha256 of the artifact every later check verifies
    content_digest: str | None = None  # "same model" (pytest_mlci.content_digest)
    version: str | None = None
    report: dict[str, Any] | None = None
    report_path: Path | None = None
    reproduced: tuple[str, ...] = ()
    training: Any = None  # mlci_local.mlflow_training.TrainingLink: the linked MLflow run
    prepared: Any = None  # stage 2's ReproResult (dvc repro of the stages making the data)
    lock_noted: bool = False  # whether lock_before holds dvc.lock's state before any repro
    lock_before: str | None = None  # sha256 of dvc.lock before this run's first dvc repro
    lock_written: str | None = None  # sha256 of dvc.lock as this run's last dvc repro left it
    lock_entries: dict[str, Any] | None = None  # many models: this model's dvc.lock entries then
    already_production: str | None = None
    outcomes: list[StageOutcome] = field(default_factory=list)
    # stage 2's drift rows, {dataset: {column: {test, score, threshold, verdict}}}: the run
    # record keeps them, so the dashboard's drift heat map needs no registry
    drift: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # printed under the current stage's line


class Pipeline:
    """Runs the stages for one configured project."""

    def __init__(self, config: MlciConfig, *, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        self.ctx = RunContext()
        self._registry: Any = None
        self._ledger: Any = None

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from mlci_local.registry import Registry

            self._registry = Registry(self.config)
        return self._registry

    @property
    def ledger(self) -> Any:
        if self._ledger is None:
            from mlci_local.promotion import ledger_for

            self._ledger = ledger_for(self.config)
        return self._ledger

    # ------------------------------------------------------------------ driver

    def run(self, until: str = "promote", status: Callable[[str], Any] | None = None) -> int:
        """Run stages up to ``until``; return the exit code (0 ok, 1 a stage said no).

        The run is recorded in the ledger from start to end however it ends (a verdict, an
        error, SIGINT or SIGTERM): :mod:`mlci_local.run_journal`.
        """
        from mlci_local.promotion import _fault
        from mlci_local.run_journal import RunInterrupted, RunJournal, sigterm_unwinds

        journal = RunJournal(self.ledger, self.config.model, self.config.root, until)
        journal.start()
        try:
            with sigterm_unwinds():
                _fault("run.started")
                code = self._run_stages(until, status)
        except (KeyboardInterrupt, RunInterrupted) as stop:
            name = str(stop) if isinstance(stop, RunInterrupted) else "SIGINT"
            self._end_run(journal, None, interrupted=name)
            raise
        except BaseException:  # our bug or an untranslated failure: exit 3, recorded so
            self._end_run(journal, 3)
            raise
        self._end_run(journal, code)
        return code

    def _end_run(self, journal: Any, code: int | None, *, interrupted: str | None = None) -> None:
        """The run's end record; failing to write it never changes the run's verdict (a start
        without an end then reads as a lost run, which is what happened to the record)."""
        try:
            journal.end(code, self.ctx.outcomes, interrupted=interrupted, drift=self.ctx.drift)
        except MlciError as exc:
            self.echo(f"warning: the end of this run is not in the ledger: {exc}")

    def _run_stages(self, until: str, status: Callable[[str], Any] | None) -> int:
        last = STAGES.index(until)
        code = self._preflight()
        if code:
            self._write_summary(code)
            return code
        for number, stage in enumerate(STAGES[: last + 1], start=1):
            label = f"[{number}/{len(STAGES)}] {TITLES[stage]}"
            started = time.perf_counter()
            try:
                if self.ctx.already_production and stage in STAGES[3:]:
                    outcome_status = "up to date"
                    detail = (
                        f"v{self.ctx.already_production} holds this model (same content "
                        "digest) and is production; nothing new to register"
                        if stage == "evaluate"
                        else "nothing to do"
                    )
                else:
                    with status(label) if status else _null():
                        outcome_status, detail = getattr(self, f"stage_{stage}")()
            except MlciError as exc:
                seconds = time.perf_counter() - started
                message = redact_text(str(exc))
                self._record(stage, "failed", message.splitlines()[0], seconds)
                self.echo(f"{label:<28} FAILED ({seconds:.1f} s)")
                self.echo(_indent(message))
                self._echo_lines()
                from mlci_local.workspace import exit_code_for

                code = exit_code_for(exc)
                break
            seconds = time.perf_counter() - started
            self._record(stage, outcome_status, detail, seconds)
            self.echo(f"{label:<28} {outcome_status}: {detail} ({seconds:.1f} s)")
            self._echo_lines()
            if stage == "evaluate" and self.ctx.report and outcome_status == "ok":
                from pytest_mlci.report.json_report import results_from_report
                from pytest_mlci.report.text import gate_table

                for line in gate_table(results_from_report(self.ctx.report)):
                    self.echo("      " + line)
        self._write_summary(code)
        return code

    def _preflight(self) -> int:
        """Check the whole configuration before stage 1 (:mod:`mlci_local.preflight`): a gate
        typo exits 2 here, whether or not anything is new to train; 0 when clean."""
        from mlci_local.preflight import preflight

        started = time.perf_counter()
        try:
            preflight(self.config)
        except MlciError as exc:
            from mlci_local.workspace import exit_code_for

            seconds = time.perf_counter() - started
            message = redact_text(str(exc))
            self._record("configuration", "failed", message.splitlines()[0], seconds)
            self.echo(f"{'configuration':<28} FAILED: nothing ran ({seconds:.1f} s)")
            self.echo(_indent(message))
            return exit_code_for(exc)
        return 0

    def _echo_lines(self) -> None:
        for line in self.ctx.lines:
            self.echo("      " + line)
        self.ctx.lines = []

    def _record(self, stage: str, status: str, detail: str, seconds: float) -> None:
        self.ctx.outcomes.append(StageOutcome(stage, status, detail, round(seconds, 3)))

    def _write_summary(self, code: int) -> None:
        from pytest_mlci.fileio import write_atomically

        summary = {"exit_code": code, "stages": [asdict(o) for o in self.ctx.outcomes]}
        name = f"last-run-{self.config.label}.json" if self.config.multi else "last-run.json"
        write_atomically(self.config.state_dir / "reports" / name, json.dumps(summary, indent=2))

    # ------------------------------------------------------------------ stages

    def stage_static(self) -> tuple[str, str]:
        from pytest_mlci.rules import check_paths

        paths = [self.config.root / p for p in self.config.static.paths]
        if not paths:
            return "skipped", "no [tool.mlci.static] paths configured"
        findings = check_paths(paths, self.config.static)
        if findings:
            shown = "\n".join(f.format() for f in findings[:20])
            more = f"\n... and {len(findings) - 20} more" if len(findings) > 20 else ""
            raise CheckFailed(f"{len(findings)} static finding(s):\n{shown}{more}")
        return "ok", f"no findings in {', '.join(self.config.static.paths)}"

    def stage_data(self) -> tuple[str, str]:
        from mlci_local.run_journal import drift_summary
        from mlci_local.training import reproduce, stages_producing
        from pytest_mlci.data.results import overall
        from pytest_mlci.data.validate import validate_dataset

        datasets = list(self.config.datasets.values())
        if not datasets:
            return "skipped", "no datasets declared"
        producers = stages_producing(self.config.root, [d.path for d in datasets])
        self._note_lock(before=True)
        prepared = reproduce(self.config.root, producers) if producers else None
        if prepared is not None:
            self.ctx.prepared = prepared
            self._note_lock()
        notes = []
        for dataset in datasets:
            outcome = validate_dataset(dataset, root=self.config.root, task=self.config.task)
            drifted = drift_summary(outcome.rows)
            if drifted:
                self.ctx.drift[dataset.name] = drifted
            if not outcome.checks and not outcome.error:
                # Nothing declared is nothing judged, not a failure: the evaluation still
                # reads the file; the line says how to switch checks on.
                notes.append(
                    f"{dataset.name}: no checks declared (add schema, reference, expected_rows "
                    "or a quality key)"
                )
                continue
            if outcome.error:
                raise CheckFailed(f"dataset '{dataset.name}': {outcome.error}")
            if overall(outcome.rows) != "pass":
                lines = outcome.reasons()[:15]  # never empty: the reason, not "()"
                raise CheckFailed(
                    f"dataset '{dataset.name}' did not pass ({', '.join(outcome.checks)}):\n"
                    + "\n".join(lines)
                )
            rows = f"{outcome.row_count:,} rows, " if outcome.row_count is not None else ""
            rows = f"{outcome.shape}, " if outcome.shape else rows  # a loader's X: its shape
            notes.append(f"{dataset.name} {rows}{'/'.join(outcome.checks)} ok")
        made = ""
        if prepared is not None and prepared.ran:
            made = f"; dvc produced it ({', '.join(prepared.ran)})"
        elif prepared is not None and prepared.restored:
            made = f"; dvc restored it from its run cache ({', '.join(prepared.restored)})"
        return "ok", f"{'; '.join(notes)}{made}"

    def stage_train(self) -> tuple[str, str]:
        from mlci_local.training import reproduce
        from pytest_mlci.content_digest import content_digest
        from pytest_mlci.model_io import artifact_digest, artifact_exists

        self._note_lock(before=True)
        if self.config.training.mlflow_model:  # the script logs the model with MLflow
            from mlci_local.mlflow_training import reproduce_in_run

            result, self.ctx.training = reproduce_in_run(self.config)
            shown = self.config.artifact.relative_to(self.config.root).as_posix()
            self.ctx.lines.append(self.ctx.training.describe(shown))
        elif self.config.multi:  # only this model's stages (and what they depend on)
            from mlci_local.training import stages_producing

            makers = stages_producing(self.config.root, [self.config.artifact])
            if not makers:
                raise ConfigError(
                    f"no dvc.yaml stage has {_shown(self.config.artifact, self.config.root)} "
                    "in its outs; add it to the stage that trains this model",
                    file=str(self.config.source),
                    key=f"models.{self.config.label}.artifact",
                )
            result = reproduce(self.config.root, makers)
        else:
            result = reproduce(self.config.root)
        self._note_lock()
        artifact = self.config.artifact
        if not artifact_exists(artifact):
            raise CheckFailed(f"{artifact}: dvc repro finished but produced no artifact")
        self.ctx.digest = artifact_digest(artifact)
        self.ctx.content_digest = content_digest(artifact)
        production = self.registry.by_alias("production")
        # The same model counts even as other bytes: a retrain without DVC's cache (a fresh CI
        # runner, `dvc repro -f`) writes the same skops model differently every time.
        if production is not None and (
            production.digest == self.ctx.digest
            or production.content_digest == self.ctx.content_digest
        ):
            self.ctx.already_production = production.version
        artifact = f"artifact {self.ctx.digest[:12]}"
        earlier = self._made_in_stage_2()
        if result.up_to_date and earlier:
            # The data stage's repro trained too (the evaluation file is a side output of
            # training): that was this run's training, not "nothing to do".
            self.ctx.reproduced = self.ctx.prepared.reproduced
            return earlier[0], f"{earlier[1]}; {artifact}"
        if result.up_to_date:
            return "up to date", f"dvc repro ran nothing; artifact {self.ctx.digest[:12]}"
        self.ctx.reproduced = result.reproduced
        if not result.ran:
            restored = ", ".join(result.restored)
            return "restored", (
                f"dvc restored {restored} from its run cache (same code, params and data as an "
                f"earlier run); {artifact}"
            )
        cached = f"; restored {', '.join(result.restored)}" if result.restored else ""
        before = f"; {earlier[1]}" if earlier else ""
        return "trained", f"dvc repro ran {', '.join(result.ran)}{cached}{before}; {artifact}"

    def _made_in_stage_2(self) -> tuple[str, str] | None:
        """("trained" or "restored", why) when stage 2's dvc repro ran (or restored from
        DVC's run cache) a stage that makes the artifact; None otherwise."""
        from mlci_local.training import stages_producing

        prepared = self.ctx.prepared
        if prepared is None or not prepared.reproduced:
            return None
        root = self.config.root
        makers = set(stages_producing(root, [self.config.artifact]))
        ran = [name for name in prepared.ran if name in makers]
        restored = [name for name in prepared.restored if name in makers]
        if not ran and not restored:
            return None
        stages = set(ran or restored)
        data = [
            _shown(dataset.path, root)
            for dataset in self.config.datasets.values()
            if stages & set(stages_producing(root, [dataset.path]))
        ]
        produce = f" to produce {', '.join(data)}" if data else ""
        if ran:
            return "trained", f"trained in stage 2 (dvc repro ran {', '.join(ran)}{produce})"
        restored_from = f"dvc restored {', '.join(restored)} from its run cache"
        return "restored", f"restored in stage 2 ({restored_from}{produce})"

    def _note_lock(self, *, before: bool = False) -> None:
        """Remember dvc.lock's sha256 before this run's first dvc repro (``before``) or as
        its latest repro left it: registration tells the run's own lock from an edit."""
        from mlci_local.lineage import sha256_of

        if before and self.ctx.lock_noted:
            return
        lock = self.config.root / "dvc.lock"
        digest = sha256_of(lock)
        if before:
            self.ctx.lock_before, self.ctx.lock_noted = digest, True
        else:
            self.ctx.lock_written = digest
            if self.config.multi and lock.is_file():
                from mlci_local.affected import lock_entries, model_inputs

                stages = model_inputs(self.config).stages
                self.ctx.lock_entries = lock_entries(lock.read_text(encoding="utf-8"), stages)

    def _lock_is_others(self, lock: Path) -> bool:
        """Many models: whether this model's stages' entries in dvc.lock are the committed
        ones (HEAD) or the ones its own repro wrote, whatever other models changed."""
        from mlci_local.affected import lock_entries, model_inputs

        stages = model_inputs(self.config).stages
        now = lock_entries(lock.read_text(encoding="utf-8") if lock.is_file() else "", stages)
        committed = subprocess.run(
            ["git", "show", "HEAD:./dvc.lock"], cwd=self.config.root, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        if committed.returncode == 0 and lock_entries(committed.stdout, stages) == now:
            return True
        return self.ctx.lock_entries is not None and self.ctx.lock_entries == now

    def stage_evaluate(self) -> tuple[str, str]:
        from pytest_mlci.model_io import sha256_file

        digest = self._digest()
        report_path = self.config.state_dir / "reports" / f"evaluation-{digest[:12]}.json"
        report_path.unlink(missing_ok=True)
        targets = [str(self.config.root / t) for t in self.config.tests]
        if not targets:  # gates only: point pytest at an empty folder, not the project's tests
            empty = self.config.state_dir / "cache" / "no-tests"
            empty.mkdir(parents=True, exist_ok=True)
            targets = [str(empty)]
        arguments = [
            "--mlci", "-q", "--no-header",
            "-p", "no:randomly",
            f"--mlci-config={self.config.source}",
            f"--mlci-report-json={report_path}",
            "-m", "not mlci_static and not mlci_data",
            *targets,
        ]  # fmt: skip
        from mlci_local.children import run
        from pytest_mlci.config import child_env

        try:  # a child tied to this process: it dies with a killed `mlci run`
            done = run("pytest", arguments, cwd=self.config.root, timeout=EVAL_TIMEOUT_S,
                       env=child_env(self.config))  # fmt: skip
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"evaluation did not finish in {EVAL_TIMEOUT_S} s") from None
        if not report_path.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise CheckFailed(
                f"evaluation produced no report (pytest exit {done.returncode}):\n{tail}"
            )
        report = json.loads(report_path.read_text(encoding="utf-8"))
        self.ctx.report, self.ctx.report_path = report, report_path
        _raise_for_crash(report, done)  # a crash's reason, not a digest mismatch it causes
        candidate = report.get("candidate", {})
        if candidate.get("sha256") != digest:
            raise CheckFailed("evaluation judged a different artifact than training produced")
        passed = bool(report.get("passed"))
        self.ledger.append(
            "evaluation",
            {
                "model": self.config.model,
                "digest": digest,
                "data_digest": report.get("data", {}).get("sha256"),
                "baseline_version": report.get("baseline", {}).get("version"),
                "report_sha256": sha256_file(report_path),
                "gates": {g["gate"]: g["verdict"] for g in report.get("gates", [])},
                "passed": passed,
            },
        )
        if not passed:
            from pytest_mlci.report.json_report import results_from_report
            from pytest_mlci.report.text import failure_lines

            lines = failure_lines(results_from_report(report)) or [
                f"pytest exit {done.returncode}:",
                *(done.stdout.strip().splitlines()[-15:]),
            ]
            raise CheckFailed("gates failed; nothing is registered:\n" + "\n".join(lines))
        gates = report.get("gates", [])
        waived = sum(1 for g in gates if g["verdict"] == "waived")
        note = f"; {waived} waived (first model)" if waived else ""
        return "ok", f"{len(gates) - waived}/{len(gates)} gates passed{note}"

    def stage_register(self) -> tuple[str, str]:
        from mlci_local.lineage import dvc_lineage, git_state, read_params
        from mlci_local.registry import flatten
        from mlci_local.run_journal import quality_summary

        digest = self._digest()
        lock = self.config.root / "dvc.lock"
        # dvc.lock as this run's repro left it is the run's output, not an uncommitted change
        written = {lock: self.ctx.lock_written} if self.ctx.lock_written else None
        if self.config.multi and self._lock_is_others(lock):
            # Other models' runs rewrote their entries of the shared dvc.lock meanwhile; this
            # model's own entries are committed (or this run's): not an uncommitted change.
            from mlci_local.lineage import sha256_of

            written = {lock: sha256_of(lock)}
        git = git_state(self.config.root, own_outputs=written)
        lineage = dvc_lineage(self.config.root)
        params = read_params(self.config.root)
        report = self.ctx.report or {}
        tags: dict[str, str] = {
            **git.tags(),
            "mlci.tier": self.config.tier,
            "mlci.approvals.identity": self.config.approvals.identity,
            "mlci.data_digest": str(report.get("data", {}).get("sha256")),
            **{f"mlci.dvc.{path}": md5 for path, md5 in lineage.hashes.items()},
            **flatten("mlci.param", params),
            **{
                f"mlci.metric.{g['metric']}": f"{g['candidate']['value']:.6f}"
                for g in report.get("gates", [])
                if g.get("candidate")
            },
        }
        if self.ctx.training is not None:  # the project's own MLflow run, linked
            from mlci_local.mlflow_training import training_tags

            tags.update(training_tags(self.ctx.training))
        post_repro = lineage.sha256 is not None and lineage.sha256 == self.ctx.lock_written
        origin = "the lock this run's dvc repro left" if post_repro else "the workspace's lock"
        dvc_lock = {
            "sha256": lineage.sha256,
            "post_repro": post_repro,
            "written_by_this_run": post_repro and self.ctx.lock_written != self.ctx.lock_before,
            "note": f"the attached dvc.lock is {origin}",
        }
        provenance = {"git": asdict(git), "dvc_lock": dvc_lock, "dvc_hashes": lineage.hashes}
        attachments = {
            "lineage.json": json.dumps({**provenance, "params": params}, indent=2),
            "dvc.lock": lineage.lock_text,
            "evaluation.json": json.dumps(report, indent=2),
        }
        registration = self.registry.register(
            self.config.artifact, digest, tags=tags, attachments=attachments
        )
        version = registration.version.version
        self.ctx.version = version
        same_model_new_bytes = registration.version.digest not in (None, digest)
        if same_model_new_bytes:
            # From here on the registered bytes are what is staged, verified and promoted;
            # their ledger records (evaluation, staging, canary) are keyed by that digest.
            digest = self.ctx.digest = registration.version.digest
        if registration.created:
            from mlci_local.model_card import attach_model_card

            attach_model_card(self.config, self.registry, version)
        self.registry.set_alias("candidate", version)
        self.ledger.append(
            "register",
            {
                "model": self.config.model,
                "version": version,
                "digest": digest,
                "created": registration.created,
                "commit": git.commit,
                "dirty": git.dirty,
                "author": git.author,
                # what the dashboard compares versions by, without asking the registry
                "quality": quality_summary(report),
                "lineage": {
                    "data": report.get("data", {}).get("sha256"),
                    "dvc": lineage.hashes,
                    "params": {k.lstrip("."): v for k, v in flatten("", params).items()},
                },
            },
        )
        dirty = {True: ", uncommitted changes", False: "", None: ", not a git repo"}[git.dirty]
        if registration.created:
            return "ok", f"{self.config.model} v{version} (commit {git.commit[:8]}{dirty})"
        if same_model_new_bytes:
            return "up to date", (
                f"v{version} already holds this model (same content digest, other bytes); "
                "no new version"
            )
        return "up to date", f"v{version} already holds this artifact; no new version"

    def stage_stage(self) -> tuple[str, str]:
        from mlci_local.staging import describe, stage_version

        # By the version this run registered, not by alias: other runners move `candidate`.
        result = stage_version(
            self.config,
            self.registry,
            self.ledger,
            "candidate",
            version=self.ctx.version,
            expected_digest=self._digest(),
        )
        return "ok", describe(result)

    def stage_promote(self) -> tuple[str, str]:
        from mlci_local.promotion import (
            is_first_production,
            latest_record,
            promote,
            reconcile_locked,
        )
        from mlci_local.tiers import policy_for

        if self.ctx.version is None:
            raise CheckFailed("nothing registered in this run to promote")
        policy = policy_for(self.config)
        digest = self._digest()
        # An earlier run killed mid-move, or a rollout state left behind: settled first, even
        # when there is nothing to promote, so traffic follows the aliases again.
        notes = reconcile_locked(self.config, self.registry, self.ledger)
        production = self.registry.by_alias("production")
        if production is not None and production.version == self.ctx.version:
            settled = f" ({'; '.join(notes)})" if notes else ""
            return "up to date", f"v{production.version} is already production{settled}"
        held = self._through_the_chain()
        if held is not None:
            return held
        canary_record = latest_record(self.ledger, "canary", self.config.model, digest)
        canary_passed = canary_record is not None and bool(canary_record.data.get("passed"))
        # The canary runs here when production exists to compare with and either the tier
        # demands one or [tool.mlci.canary] in_run says so.
        in_run = self.config.canary.in_run
        canary_here = (policy.canary if in_run is None else in_run) and not canary_passed
        waiting = []
        first = is_first_production(self.registry, self.ledger, self.config.model, production)
        if policy.canary and not canary_passed and not (canary_here and production) and not first:
            waiting.append(
                "a passing canary"
                if production is not None
                else "a passing canary, which needs the `production` alias back (the model "
                "was in production before; restore it with `mlci rollback`)"
            )
        approve = f"mlci approve {self.config.model} {self.ctx.version}"
        if policy.approvals:
            have = self._approvals(policy.approvals)
            if self.config.approvals.identity != "unverified":
                signing = "gpg" if self.config.approvals.identity == "gpg" else "ssh"
                approve += " --key " + {"ssh": "~/.ssh/id_ed25519", "gpg": "YOUR_KEY_ID"}[signing]
            if have < policy.approvals:
                # Before the canary: a high-risk model meets users only once people approved it.
                waiting.append(f"{policy.approvals - have} more approval(s)")
        if waiting:
            # A human or a canary decides next: production is untouched and nothing failed.
            settled = self._already_in_production()
            if settled:
                return settled
            return "held", (
                f"tier {self.config.tier} waits for {' and '.join(waiting)} before "
                f"v{self.ctx.version} can go to production (`{approve}`, "
                f"then `mlci run` or `mlci promote {self.ctx.version}`)"
            )
        if canary_here and production is not None:
            if self.config.strategy == "blue-green":
                return self._blue_green(production.version)
            if self.config.strategy == "shadow-then-canary":
                self._shadow_first()
            return self._canary(production.version)
        move = promote(self.config, self.registry, self.ledger, self.ctx.version)
        if not move.changed:
            return "up to date", f"v{move.production} is already production"
        if move.replaced:
            return "ok", f"production -> v{move.production} (previous: v{move.replaced})"
        note = " (first production model"
        if canary_here or policy.canary:
            note += ", without a canary: there is no production model to compare it with"
        return "ok", f"production -> v{move.production}{note})"

    def _through_the_chain(self) -> tuple[str, str] | None:
        """A declared promotion chain: enter each environment after the first (stage 6 put
        the version there) while its checks pass; "held" at the first that waits, naming
        why, production included. None: the version may go on to production's own checks."""
        from mlci_local.environments import enter, entry_problems, is_custom

        if not is_custom(self.config):
            return None
        version = self.ctx.version
        assert version is not None
        for name in self.config.environment_names[1:]:
            holder = self.registry.by_alias(name)
            if holder is not None and holder.version == version:
                continue
            problems = entry_problems(self.config, self.registry, self.ledger, name, version)
            if problems:
                self.ctx.lines += problems
                where = self.config.environment_names[self.config.environment_names.index(name) - 1]
                return "held", (
                    f"v{version} is in {where}; {name} waits ({problems[0]}); then "
                    f"`mlci promote --to {name} {version}` or `mlci run`"
                )
            if name == "production":
                return None
            enter(self.config, self.registry, self.ledger, name, version)
            self.ctx.lines.append(f"{name} -> v{version}")
        return None

    def _approvals(self, required: int) -> int:
        """Count the approvals that hold now and say under which identity rule, so nobody
        mistakes unverified names for signatures; the count."""
        from mlci_local.approvals import UNVERIFIED_NOTE, tally

        assert self.ctx.version is not None
        found = tally(self.config, self.ledger, self.registry.by_version(self.ctx.version))
        if found.identity == "unverified":
            self.ctx.lines.append(f"approvals: {len(found.counted)}/{required}, {UNVERIFIED_NOTE}")
        else:
            self.ctx.lines.append(
                f"approvals: {len(found.counted)}/{required} signed"
                f"{': ' + ', '.join(found.counted) if found.counted else ''} "
                f"(verified against {found.source})"
            )
        self.ctx.lines += [f"approval not counted: {r.line()}" for r in found.rejected]
        return len(found.counted)

    def _canary(self, control: str) -> tuple[str, str]:
        """Stage 7's canary through the local router with synthetic traffic.

        Pass promotes (ok); fail rolls back and fails the run (exit 1); inconclusive holds at
        the step's weight (exit 0, like a hold for approvals: production is untouched,
        nothing was found wrong, and a person decides next: `mlci approve` lets the next run
        go on from the following step, `mlci canary --abort` rolls back).
        """
        from mlci_local.rollout.controller import abort_canary, in_flight
        from mlci_local.rollout.traffic import run_local_canary

        model, version = self.config.model, self.ctx.version
        assert version is not None
        lines: list[str] = []
        stale = in_flight(self.ledger, model)
        if stale is not None and stale.version != version:
            abort_canary(self.config, self.registry, self.ledger, stale.version,
                         reason=f"superseded by v{version}")  # fmt: skip
            lines.append(
                f"the unfinished canary of v{stale.version} (at {stale.weight:.0%}) was rolled "
                f"back: v{version} supersedes it"
            )
        outcome = run_local_canary(self.config, self.registry, self.ledger, version)
        if outcome.resumed_at:
            lines.append(f"resumed at step {outcome.resumed_at + 1}, where the last canary stopped")
        lines += [step.line() for step in outcome.steps]
        self.ctx.lines = lines
        requests = sum(step.canary_requests for step in outcome.steps)
        last = outcome.steps[-1] if outcome.steps else None
        if outcome.verdict == "pass":
            steps = " → ".join(f"{s.weight:.0%}" for s in outcome.steps)
            return "ok", (
                f"canary {steps} passed on {requests:,} candidate requests; "
                f"production -> v{version} (previous: v{control})"
            )
        # The criteria that did not pass, in the judge's words.
        summary = last.summary.splitlines()[1:] if last else []
        details = "\n".join(line.strip() for line in summary if ": pass:" not in line)
        if outcome.verdict == "fail":
            weight = f"{last.weight:.0%}" if last else "?"
            raise CheckFailed(
                f"canary of v{version} failed at {weight}: rolled back, all traffic to "
                f"production v{control}\n{details}"
            )
        settled = self._already_in_production()
        if settled:
            return settled
        return "held", (
            f"canary of v{version} held at {outcome.weight:.0%}: the judge cannot decide yet "
            f"(`mlci approve {model} {version}` and `mlci run` go on from the next step; "
            f"`mlci canary --abort` rolls back)"
        )

    def _blue_green(self, control: str) -> tuple[str, str]:
        """Stage 7 with ``strategy = "blue-green"`` (mlci_local.rollout.blue_green): pass
        promotes; fail switches back and fails the run; no verdict switches back and holds."""
        from mlci_local.rollout.traffic import run_local_blue_green

        version = self.ctx.version
        assert version is not None
        outcome = run_local_blue_green(self.config, self.registry, self.ledger, version)
        self.ctx.lines.append(outcome.line())
        details = [line.strip() for line in outcome.summary.splitlines()[1:]]
        if outcome.verdict == "pass":
            return "ok", (
                f"blue-green: v{version} took all traffic and held it for "
                f"{outcome.soak_seconds:.1f} s; production -> v{version} (previous: v{control})"
            )
        if outcome.verdict == "fail":
            where = "its smoke test" if outcome.phase == "smoke" else "the soak"
            raise CheckFailed(
                f"blue-green of v{version} failed in {where}: all traffic back to production "
                f"v{control}\n" + "\n".join(line for line in details if ": pass:" not in line)
            )
        self.ctx.lines += details
        return "held", (
            f"blue-green of v{version}: the judge could not decide in the soak, so traffic is "
            f"back on v{control}; `mlci run` tries again (more traffic: "
            "[tool.mlci.canary.traffic] max_requests_per_step)"
        )

    def _shadow_first(self) -> None:
        """``strategy = "shadow-then-canary"``: a shadow before the first canary step; the
        new version failing on copies production answered stops the run there."""
        from mlci_local.rollout.traffic import run_local_shadow

        version = self.ctx.version
        assert version is not None
        summary = run_local_shadow(self.config, self.registry, self.ledger, version)
        if summary is None:
            return
        self.ctx.lines += summary.lines()
        if summary.errors or not summary.compared:
            why = f"{summary.errors} errors" if summary.errors else "nothing compared"
            raise CheckFailed(
                f"shadow of v{version} ({why}): the canary does not start; production untouched\n"
                + "\n".join(summary.lines())
            )

    def _already_in_production(self) -> tuple[str, str] | None:
        """The verdict when this run's version is production by now, read fresh: another
        run (or a person) finished it meanwhile. Never "held" for what is already live."""
        production = self.registry.by_alias("production")
        if production is None or not (
            production.version == self.ctx.version or production.digest == self._digest()
        ):
            return None
        return "up to date", f"v{production.version} is already in production; nothing to hold"

    def _digest(self) -> str:
        if self.ctx.digest is None:
            from pytest_mlci.model_io import artifact_digest

            self.ctx.digest = artifact_digest(self.config.artifact)
        return self.ctx.digest


def _raise_for_crash(report: dict[str, Any], done: Any) -> None:
    """Fail with why the evaluation crashed, one line per crashed item; or, when pytest judged
    no gate at all (a collection error, nothing selected), with the end of its output.

    Checked before the candidate digest: a report without results carries no digest, and
    "judged a different artifact" would then name a consequence instead of the cause."""
    crashed = list(report.get("crashed") or [])
    reasons = report.get("crash_reasons") or {}
    if crashed:
        lines = [
            f"{nodeid}: {reasons.get(nodeid) or 'crashed (run pytest --mlci to see why)'}"
            for nodeid in crashed
        ]
        raise CheckFailed(
            "the evaluation crashed; nothing is registered:\n" + redact_text("\n".join(lines))
        )
    if not report.get("gates") and not report.get("candidate"):
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = [line for line in output if line.strip()][-15:]
        raise CheckFailed(
            f"the evaluation judged no gate (pytest exit {done.returncode}); its output ends:\n"
            + redact_text("\n".join(tail))
        )


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the project root where it lies inside it."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
