"""The canary judge: from what both arms saw so far, is the candidate no worse than production?

The controller calls :func:`judge` after every batch of traffic with the observations of each
arm *cumulated since the canary began*, and it may call it any number of times: it keeps
collecting batches while the verdict is inconclusive. A test simply repeated after every
batch at level 0.05 would roll back a good canary far more often than 5 % of the time (with
20 looks, roughly a quarter of the time). Alpha spending over a planned number of looks does
not fit either, because the number of looks is not known in advance. So every criterion is judged
with **always-valid** (anytime-valid) bounds, whose error guarantee holds uniformly over
every look the controller takes and every data-dependent moment it stops.

The sequential test (one mechanism for all three criteria)
    For each criterion there is a *harm* statistic ``h`` with an estimate, a standard error and
    the information ``I = 1/SE²`` (which grows as data arrive):

    * errors: canary error rate minus control error rate;
    * quality: control accuracy minus canary accuracy (from delayed labels); for regression,
      the canary's mean absolute (or squared) error minus the control's (see below);
    * latency: Mann-Whitney's common-language effect ``P(canary slower) - 1/2``.

    Under the usual normal approximation the score process ``S = h·I`` is a Brownian motion in
    information time (also when the traffic split changes between steps: the arms' samples are
    nested, so the increments stay independent). The one-sided normal-mixture likelihood ratio
    (Robbins 1970; the "mSPRT" of Johari et al. 2017, here with a half-normal mixing
    distribution of scale ``tau`` over harmful shifts only)::

        L = 2·sqrt(rho/(I+rho)) · exp(S²/(2(I+rho))) · Phi(S/sqrt(I+rho)),   rho = 1/tau²

    is a non-negative supermartingale whenever the canary is no worse, so by Ville's
    inequality ``P(L ever reaches 1/a) <= a``: at most ``a`` chance that harm is *ever*
    declared for a canary that is in truth no worse, however often the judge looks. The
    criteria share ``alpha`` (Bonferroni, ``a = alpha/3``, or ``alpha/2`` without quality), so
    ``alpha`` bounds the probability that a canary no worse than production is ever rolled
    back by the judge, over all looks and all criteria together. ``L = 1/a`` is the critical
    value ``z(I)`` of :func:`always_valid_z`: about 3.1-3.4 over the information of a canary
    at the defaults (the fixed-sample one-sided value would be 2.1), growing slowly (like
    ``sqrt(log I)``) with the information. The mirror-image test (is the harm below the
    margin?) uses the same boundary, so that claim has the same error bound. ``tau`` is twice
    the criterion's margin, so power is concentrated on shifts of one to a few margins, where
    decisions matter; any fixed ``tau`` keeps the guarantee.

    For the two proportion criteria, harm is significant when Fisher's exact test (one-sided)
    reaches ``z(I)`` (exact, because the counts that matter are small: 0-5 errors among 200
    canary requests, where a Wilson/Newcombe lower bound is too high and an A/A canary would
    be rolled back several times more often than the level says); the margin side is
    Newcombe's hybrid score interval of the difference (built from Wilson intervals) computed
    at ``z(I)``. For latency it is Mann-Whitney's normal approximation (scipy) against
    ``z(I)``. Each criterion's ``p_value`` is the always-valid p-value of *harm* (``1/L`` at
    the observed evidence, times the number of criteria): ``p_value < alpha`` exactly when
    harm is significant.

    The guarantees are asymptotic (normal approximation of the score process), conservative
    with few looks (the bound is paid for continuous monitoring), and checked by simulation in
    ``benchmarks/sim_canary.py``. The price of validity under any number of looks is sample
    size: 1,000 labels per arm cannot yet show a 5-point accuracy drop (the judge holds:
    inconclusive, beyond the margin, not yet significant), 1,000 canary labels against a
    control with 9,000 can.

Regression quality
    A regression model has no right or wrong answer to count, so its quality criterion
    compares the arms' mean error on the delayed labels: absolute error by default
    (``judge.regression_error = "squared"`` for squared error). The margin is *relative*:
    ``judge.regression_margin`` (default 0.10) is the share of production's mean error by
    which the candidate's may exceed it, so one number means the same for prices in euros and
    temperatures in kelvin, and a squared-error margin is not in squared units. Harm is
    ``mean_c - mean_0`` with Welch's standard error and the same always-valid boundary
    (the sample means are approximately normal at the ``min_labels`` the judge demands). It
    is significant when ``(mean_c - mean_0)/SE`` reaches the boundary; non-inferiority is the
    always-valid upper bound of the contrast ``mean_c - (1 + m)·mean_0`` below 0, i.e. the
    relative excess ``mean_c/mean_0 - 1`` shown below ``m`` with production's own
    uncertainty counted. Reported as relative excess with that bound. A production whose
    mean error on the labelled traffic is 0 leaves a relative margin undefined: inconclusive.

Verdicts (``m`` is the criterion's margin or effect threshold)
    * **fail**: harm is significant (its evidence reaches ``z(I)``) *and* the estimate is
      beyond ``m``, so a huge sample with a trivial shift never fails; for latency also a
      canary p95 over ``p95_limit_ms``.
    * **pass**: the bound shows the harm below ``m`` (non-inferiority with the margin). At an
      *interim* step (``JudgeSettings.interim``, set by the controller for weights below
      100 %) a criterion whose estimate is within ``m`` and whose harm is not significant
      also passes: the rollout may advance and gather more evidence, while the final
      judgement before promotion needs non-inferiority shown.
    * **inconclusive** otherwise, in particular when the estimate is beyond ``m`` but not yet
      significant: the controller keeps the weight and collects more data.

Fail closed: an arm with no requests, fewer than ``min_requests``, a NaN or negative count
or latency, a label that is not 0/1 (a residual that is not finite), or no labels source while
quality is judged makes the criterion (and so the step) inconclusive. :func:`judge` never
returns pass on empty data.

Quality not judged
    Where no labels reach the judge, it says so ("quality not judged: no labels") in the
    criterion and the step's line rather than passing silently on errors and latency. With
    quality switched on (the default) that criterion is inconclusive, so the step holds (fail
    closed: a feedback loop that should deliver labels and does not is a problem to look at).
    With ``judge.quality = false`` (a model deliberately without a feedback loop) the
    criterion is ``not judged`` and does not hold the step: it is judged on errors and
    latency, and every step line says that quality was not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from statistics import NormalDist
from typing import Any

from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.compare import wilson_interval
from pytest_mlci.gates import FAIL, INCONCLUSIVE, PASS

ERRORS, LATENCY, QUALITY = "errors", "latency", "quality"
NOT_JUDGED = "not judged"  # a criterion switched off by configuration; holds nothing
NO_LABELS = "quality not judged: no labels"
REGRESSION_ERRORS = ("absolute", "squared")
_SEVERITY = {PASS: 0, NOT_JUDGED: 0, INCONCLUSIVE: 1, FAIL: 2}
_NORMAL = NormalDist()
_Z_MAX = 40.0  # beyond this a z-statistic carries no more information (p < 1e-300)


@dataclass(frozen=True)
class ArmObservations:
    """What one arm (control = production, canary = candidate) saw since the canary began."""

    requests: int
    errors: int
    latency_ms: Sequence[float]  # one per successful request
    labelled_correct: Sequence[int] | None = None  # 1/0 per request whose delayed label arrived
    # regression: prediction minus label per request whose delayed label arrived
    labelled_residual: Sequence[float] | None = None


@dataclass(frozen=True)
class JudgeSettings:
    """Thresholds of the judge. The first seven fields are the controller's contract.

    ``interim``: True for a judgement at a weight below 100 %, where "no evidence of harm and
    an estimate within the margin" is enough to advance; False (the default, and what
    promotion needs) demands non-inferiority shown. ``quality``: whether delayed labels are
    judged at all (False for a model without a feedback loop); when True, missing labels make
    the step inconclusive. ``regression``: judge quality on the mean error of a regression
    model (set from ``task`` by the controller) with ``regression_error`` ("absolute" or
    "squared") and the relative ``regression_margin`` (module doc).
    """

    min_requests: int = 200  # per arm, below this -> inconclusive ("not enough traffic")
    error_rate_margin: float = 0.01  # canary error rate may exceed control's by at most this
    latency_effect: float = 0.1  # P(canary slower) - 1/2 beyond this is a relevant slowdown
    p95_limit_ms: float | None = None  # absolute limit on the canary's p95
    quality_margin: float = 0.02  # non-inferiority margin on accuracy from delayed labels
    min_labels: int = 100  # per arm, else quality is inconclusive
    alpha: float = 0.05  # bound on a false rollback, over all looks and criteria together
    interim: bool = False
    quality: bool = True
    regression: bool = False
    regression_error: str = "absolute"  # or "squared"
    regression_margin: float = 0.10  # share of production's mean error the canary may add

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"{why} (got {getattr(self, key)!r})", key=f"judge.{key}")

        for key in ("min_requests", "min_labels"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise bad(key, "must be a whole number of at least 1")
        for key in ("error_rate_margin", "quality_margin"):
            value = getattr(self, key)
            if not _finite(value) or not 0.0 < value < 1.0:
                raise bad(key, "must be a proportion between 0 and 1 (exclusive)")
        if not _finite(self.latency_effect) or not 0.0 < self.latency_effect < 0.5:
            raise bad("latency_effect", "must be between 0 and 0.5 (exclusive)")
        if not _finite(self.alpha) or not 0.0 < self.alpha < 0.5:
            raise bad("alpha", "must be between 0 and 0.5 (exclusive)")
        if self.regression_error not in REGRESSION_ERRORS:
            raise bad("regression_error", 'must be "absolute" or "squared"')
        if not _finite(self.regression_margin) or not 0.0 < self.regression_margin <= 1.0:
            raise bad(
                "regression_margin",
                "must be a share of production's mean error above 0 and at most 1, e.g. 0.1",
            )
        if self.p95_limit_ms is not None and (
            not _finite(self.p95_limit_ms) or self.p95_limit_ms <= 0
        ):
            raise bad("p95_limit_ms", "must be a positive number of milliseconds, or unset")

    @property
    def criteria_count(self) -> int:
        """How many criteria share ``alpha`` (Bonferroni: each is tested at alpha/criteria)."""
        return 3 if self.quality else 2


@dataclass(frozen=True)
class Criterion:
    """One criterion's verdict.

    ``statistic`` is the harm estimate (errors: canary minus control error rate; quality:
    control minus canary accuracy; latency: ``P(canary slower) - 1/2``); ``p_value`` is the
    always-valid p-value of harm, Bonferroni-adjusted over the criteria (below ``alpha``
    exactly when harm is significant).
    """

    name: str  # "errors" | "latency" | "quality"
    verdict: str  # pass | fail | inconclusive | not judged
    message: str
    statistic: float | None = None
    p_value: float | None = None
    detail: str = ""  # a few words for the step's one-line summary, e.g. "no labels"

    def short(self) -> str:
        """``verdict`` with its detail, for a step's line: ``quality pass (absolute error
        -3.1 %)``, ``quality not judged: no labels``."""
        if self.detail == "no labels":
            return "not judged: no labels"
        return f"{self.verdict} ({self.detail})" if self.detail else self.verdict


@dataclass(frozen=True)
class Judgement:
    """The step's verdict: the worst of its criteria (fail > inconclusive > pass)."""

    verdict: str
    criteria: tuple[Criterion, ...]

    def summary(self) -> str:
        lines = [f"canary judge: {self.verdict}"]
        lines += [f"  {c.name}: {c.verdict}: {c.message}" for c in self.criteria]
        return "\n".join(lines)


def judge(control: ArmObservations, canary: ArmObservations, settings: JudgeSettings) -> Judgement:
    """Judge the canary against the control from cumulative observations of both arms."""
    criteria = [
        _errors(control, canary, settings),
        _latency(control, canary, settings),
    ]
    if not settings.quality:
        criteria.append(
            Criterion(
                QUALITY,
                NOT_JUDGED,
                f"{NO_LABELS} (judge.quality = false): judged on errors and latency only",
                detail="no labels",
            )
        )
    elif settings.regression:
        criteria.append(_regression_quality(control, canary, settings))
    else:
        criteria.append(_quality(control, canary, settings))
    verdict = max((c.verdict for c in criteria), key=_SEVERITY.__getitem__)
    return Judgement(verdict, tuple(criteria))


# -- the sequential boundary ------------------------------------------------------------------


def always_valid_z(information: float, tau: float, alpha: float) -> float:
    """The critical z at ``information`` of the one-sided normal-mixture test (module doc).

    Crossing ``z`` at *any* look has probability at most ``alpha`` under no harm.
    """
    if not information > 0 or not math.isfinite(information):
        return math.inf
    target = -math.log(alpha)
    low, high = 0.0, _Z_MAX
    if _log_mixture(high, information, tau) < target:
        return math.inf
    for _ in range(80):  # the log-likelihood ratio rises monotonically with z
        mid = (low + high) / 2
        if _log_mixture(mid, information, tau) < target:
            low = mid
        else:
            high = mid
    return high


def always_valid_p(z: float, information: float, tau: float) -> float:
    """The always-valid p-value ``min(1, 1/L)`` of observed standardized evidence ``z``."""
    if not information > 0 or math.isnan(z):
        return 1.0
    return min(1.0, math.exp(-_log_mixture(min(z, _Z_MAX), information, tau)))


def _log_mixture(z: float, information: float, tau: float) -> float:
    """log L for ``S = z·sqrt(I)`` with a half-normal(tau) mixture over harmful drifts."""
    rho = 1.0 / (tau * tau)
    share = information / (information + rho)
    tail = max(_NORMAL.cdf(z * math.sqrt(share)), 1e-300)
    prior = 0.5 * math.log(rho / (information + rho))
    return math.log(2.0) + prior + 0.5 * z * z * share + math.log(tail)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float) -> tuple[float, float]:
    """Newcombe's (1998) hybrid score interval for ``x1/n1 - x2/n2`` (independent samples).

    Built from the two Wilson intervals, so it stays sound at 0 or n successes, where the Wald
    interval of the difference collapses to a point.
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


# -- the criteria -----------------------------------------------------------------------------


def _errors(control: ArmObservations, canary: ArmObservations, s: JudgeSettings) -> Criterion:
    problem = _traffic_problem(control, canary, s)
    if problem:
        return Criterion(ERRORS, INCONCLUSIVE, problem)
    return _proportions(
        ERRORS,
        (int(canary.errors), int(canary.requests)),
        (int(control.errors), int(control.requests)),
        s.error_rate_margin,
        s,
        what="error rate",
        higher_is_worse=True,
    )


def _quality(control: ArmObservations, canary: ArmObservations, s: JudgeSettings) -> Criterion:
    for name, arm in (("control", control), ("canary", canary)):
        problem = _count_problem(name, arm)
        if problem:
            return Criterion(QUALITY, INCONCLUSIVE, problem)
        if arm.labelled_correct is None:
            return _no_labels(f"no labels source for the {name}")
    tallies = []
    for name, arm in (("canary", canary), ("control", control)):
        labels, problem = _labels(name, arm)
        if problem:
            return Criterion(QUALITY, INCONCLUSIVE, problem)
        short = _too_few_labels(name, len(labels), s)
        if short:
            return short
        tallies.append((len(labels) - int(labels.sum()), len(labels)))  # wrong, labelled
    return _proportions(
        QUALITY, tallies[0], tallies[1], s.quality_margin, s, what="accuracy", higher_is_worse=False
    )


def _too_few_labels(name: str, count: int, s: JudgeSettings) -> Criterion | None:
    """Why ``count`` labels of arm ``name`` cannot be judged yet, or None when enough arrived."""
    if count == 0:
        return _no_labels(f"no labels arrived for the {name} (it needs {s.min_labels})")
    if count < s.min_labels:
        return Criterion(
            QUALITY,
            INCONCLUSIVE,
            f"{count} labels arrived for the {name}, fewer than the {s.min_labels} "
            "needed: not enough labelled traffic yet",
        )
    return None


def _no_labels(why: str) -> Criterion:
    """Quality that cannot be judged while it should be: inconclusive, so the step holds."""
    return Criterion(QUALITY, INCONCLUSIVE, f"quality not judged: {why}", detail="no labels")


def _regression_quality(
    control: ArmObservations, canary: ArmObservations, s: JudgeSettings
) -> Criterion:
    """Non-inferiority of the canary's mean absolute (or squared) error (module doc)."""
    import numpy as np

    errors = {}
    for name, arm in (("control", control), ("canary", canary)):
        problem = _count_problem(name, arm)
        if problem:
            return Criterion(QUALITY, INCONCLUSIVE, problem)
        if arm.labelled_residual is None:
            return _no_labels(f"no labels source for the {name}")
    for name, arm in (("canary", canary), ("control", control)):
        residuals, problem = _residuals(name, arm)
        if problem:
            return Criterion(QUALITY, INCONCLUSIVE, problem)
        short = _too_few_labels(name, len(residuals), s)
        if short:
            return short
        errors[name] = np.abs(residuals) if s.regression_error == "absolute" else residuals**2
    what = f"mean {s.regression_error} error"
    cand, ctrl = errors["canary"], errors["control"]
    nc, n0 = len(cand), len(ctrl)
    mean_c, mean_0 = float(cand.mean()), float(ctrl.mean())
    if not mean_0 > 0:
        return Criterion(
            QUALITY,
            INCONCLUSIVE,
            f"production's {what} is 0 on {n0} labels: a margin relative to it cannot be judged",
        )
    m = s.regression_margin
    var_c, var_0 = float(cand.var(ddof=1)) / nc, float(ctrl.var(ddof=1)) / n0
    floor = (1e-9 * mean_0) ** 2  # identical errors on every row: no infinite precision
    var_harm = max(var_c + var_0, floor)
    var_contrast = max(var_c + (1.0 + m) ** 2 * var_0, floor)  # of mean_c - (1 + m)·mean_0
    harm = mean_c - mean_0
    excess = harm / mean_0
    tau = 2.0 * m * mean_0
    k = s.criteria_count
    p_value = min(1.0, k * always_valid_p(harm / math.sqrt(var_harm), 1.0 / var_harm, tau))
    z = always_valid_z(1.0 / var_contrast, tau, s.alpha / k)
    half = z * math.sqrt(var_contrast) / mean_0
    low, high = excess - half, excess + half
    shown = (
        f"canary {what} {mean_c:.4g} on {nc} labels vs control {mean_0:.4g} on {n0}; "
        f"excess {excess:+.1%} of the control's, always-valid bound [{low:+.1%}, "
        f"{high:+.1%}] (z={z:.2f}), p={p_value:.3g}"
    )
    margin = f"{m:.0%} margin" if round(m * 100, 6).is_integer() else f"{m:.2%} margin"
    if p_value < s.alpha and excess > m:
        verdict, why = FAIL, f"significantly worse, beyond the {margin}"
    elif high < m:
        verdict, why = PASS, f"within the {margin} (non-inferiority shown)"
    elif excess <= m and s.interim:
        verdict, why = PASS, f"within the {margin} so far, no evidence of harm"
    elif excess > m:
        verdict, why = INCONCLUSIVE, f"beyond the {margin} but not yet significant"
    else:
        verdict, why = INCONCLUSIVE, f"not yet shown within the {margin}"
    return Criterion(
        QUALITY,
        verdict,
        f"{why} of production's {what}: {shown}",
        excess,
        p_value,
        detail=f"{s.regression_error} error {excess:+.1%}",
    )


def _proportions(
    name: str,
    canary: tuple[int, int],
    control: tuple[int, int],
    margin: float,
    s: JudgeSettings,
    *,
    what: str,
    higher_is_worse: bool,
) -> Criterion:
    """Judge ``harm = bad rate of the canary - bad rate of the control`` (module doc).

    For quality the "bad" count is wrong answers, so harm is the drop in accuracy.
    """
    (xc, nc), (x0, n0) = canary, control
    harm = xc / nc - x0 / n0
    information = 1.0 / (_variance(xc, nc) + _variance(x0, n0))
    tau = 2.0 * margin
    z = always_valid_z(information, tau, s.alpha / s.criteria_count)
    low, high = newcombe_interval(xc, nc, x0, n0, z)
    p_value = min(
        1.0, s.criteria_count * always_valid_p(_evidence(xc, nc, x0, n0), information, tau)
    )

    def rate(x: int, n: int) -> str:
        return f"{(x / n if higher_is_worse else 1 - x / n):.2%} of {n}"

    shown = (
        f"canary {what} {rate(xc, nc)} vs control {rate(x0, n0)}; "
        f"{'excess' if higher_is_worse else 'drop'} {harm:+.2%}, always-valid bound "
        f"[{low:+.2%}, {high:+.2%}] (z={z:.2f}), p={p_value:.3g}"
    )
    if p_value < s.alpha and harm > margin:
        verdict, why = FAIL, f"significantly worse, beyond the {margin:.2%} margin"
    elif high < margin:
        verdict, why = PASS, f"within the {margin:.2%} margin (non-inferiority shown)"
    elif harm <= margin and s.interim:
        verdict, why = PASS, f"within the {margin:.2%} margin so far, no evidence of harm"
    elif harm > margin:
        verdict, why = INCONCLUSIVE, f"beyond the {margin:.2%} margin but not yet significant"
    else:
        verdict, why = INCONCLUSIVE, f"not yet shown within the {margin:.2%} margin"
    return Criterion(name, verdict, f"{why}: {shown}", harm, p_value)


def _variance(x: int, n: int) -> float:
    """Binomial variance of a proportion, smoothed so 0 of n does not claim infinite precision."""
    p = (x + 0.5) / (n + 1.0)
    return p * (1.0 - p) / n


def _evidence(xc: int, nc: int, x0: int, n0: int) -> float:
    """Evidence that the canary's bad rate is higher, standardized: ``z`` of Fisher's exact test.

    Exact because the counts that matter are small (a few errors among 200 canary requests):
    there the Wilson/Newcombe lower bound is too high, and a normal test would declare harm
    for an A/A canary several times more often than its level says.
    """
    from scipy.stats import fisher_exact, norm

    _, p = fisher_exact([[xc, nc - xc], [x0, n0 - x0]], alternative="greater")
    return min(max(float(norm.isf(p)), 0.0), _Z_MAX) if p > 0 else _Z_MAX


def _latency(control: ArmObservations, canary: ArmObservations, s: JudgeSettings) -> Criterion:
    import numpy as np
    from scipy.stats import mannwhitneyu, norm

    problem = _traffic_problem(control, canary, s)
    if problem:
        return Criterion(LATENCY, INCONCLUSIVE, problem)
    samples = {}
    needed = math.ceil(s.min_requests / 2)
    for name, arm in (("canary", canary), ("control", control)):
        try:
            values = np.asarray(arm.latency_ms, dtype=float).ravel()
        except (TypeError, ValueError):
            return Criterion(LATENCY, INCONCLUSIVE, f"the {name}'s latencies are not numbers")
        if not np.isfinite(values).all() or (values < 0).any():
            return Criterion(
                LATENCY, INCONCLUSIVE, f"the {name}'s latencies hold NaN, inf or negative values"
            )
        if len(values) < needed:
            return Criterion(
                LATENCY,
                INCONCLUSIVE,
                f"{len(values)} latencies for the {name}, fewer than the {needed} needed",
            )
        samples[name] = values
    cand, ctrl = samples["canary"], samples["control"]
    nc, n0 = len(cand), len(ctrl)
    u, p_fixed = mannwhitneyu(cand, ctrl, alternative="greater", method="asymptotic")
    effect = float(u) / (nc * n0) - 0.5  # P(canary slower) + ties/2 - 1/2
    evidence = min(float(norm.isf(p_fixed)), _Z_MAX) if p_fixed > 0 else _Z_MAX
    information = 12.0 * nc * n0 / (nc + n0 + 1.0)  # 1 / Var(U/(nc·n0)) with no shift
    tau = 2.0 * s.latency_effect
    z = always_valid_z(information, tau, s.alpha / s.criteria_count)
    p_value = min(1.0, s.criteria_count * always_valid_p(evidence, information, tau))
    upper = effect + z / math.sqrt(information)
    p95 = float(np.quantile(cand, 0.95))
    shown = (
        f"P(canary slower) {0.5 + effect:.3f} (threshold {0.5 + s.latency_effect:.2f}, "
        f"bound {0.5 + upper:.3f}), p={p_value:.3g}; p95 canary {p95:.1f} ms vs control "
        f"{float(np.quantile(ctrl, 0.95)):.1f} ms"
    )
    if s.p95_limit_ms is not None and p95 > s.p95_limit_ms:
        verdict, why = FAIL, f"canary p95 {p95:.1f} ms over the {s.p95_limit_ms:g} ms limit"
    elif p_value < s.alpha and effect > s.latency_effect:
        verdict, why = FAIL, "significantly slower, beyond the effect-size threshold"
    elif upper < s.latency_effect:
        verdict, why = PASS, "any slowdown is within the effect-size threshold"
    elif effect <= s.latency_effect and s.interim:
        verdict, why = PASS, "within the effect-size threshold so far, no evidence of harm"
    elif effect > s.latency_effect:
        verdict, why = INCONCLUSIVE, "slower beyond the threshold but not yet significant"
    else:
        verdict, why = INCONCLUSIVE, "not yet shown within the effect-size threshold"
    return Criterion(LATENCY, verdict, f"{why}: {shown}", effect, p_value)


# -- input checks (fail closed) ---------------------------------------------------------------


def _traffic_problem(
    control: ArmObservations, canary: ArmObservations, s: JudgeSettings
) -> str | None:
    for name, arm in (("control", control), ("canary", canary)):
        problem = _count_problem(name, arm)
        if problem:
            return problem
        if arm.requests < s.min_requests:
            return (
                f"the {name} saw {arm.requests} requests, fewer than the {s.min_requests} "
                "needed: not enough traffic"
            )
    return None


def _count_problem(name: str, arm: ArmObservations) -> str | None:
    if not (_whole(arm.requests) and _whole(arm.errors)):
        return f"the {name}'s counts are not whole numbers ({arm.requests!r}, {arm.errors!r})"
    if arm.requests <= 0:
        return f"the {name} saw no requests"
    if not 0 <= arm.errors <= arm.requests:
        return f"the {name} reports {arm.errors} errors in {arm.requests} requests"
    return None


def _labels(name: str, arm: ArmObservations) -> tuple[Any, str | None]:
    import numpy as np

    try:
        labels = np.asarray(arm.labelled_correct, dtype=float).ravel()
    except (TypeError, ValueError):
        return None, f"the {name}'s labels are not 0/1 values"
    if not np.isin(labels, (0.0, 1.0)).all():
        return None, f"the {name}'s labels hold values other than 0 and 1 (NaN?)"
    if len(labels) > arm.requests:
        return None, f"the {name} has {len(labels)} labels for {arm.requests} requests"
    return labels, None


def _residuals(name: str, arm: ArmObservations) -> tuple[Any, str | None]:
    import numpy as np

    try:
        residuals = np.asarray(arm.labelled_residual, dtype=float).ravel()
    except (TypeError, ValueError):
        return None, f"the {name}'s residuals (prediction minus label) are not numbers"
    if not np.isfinite(residuals).all():
        return None, f"the {name}'s residuals hold NaN or infinite values"
    if len(residuals) > arm.requests:
        return None, f"the {name} has {len(residuals)} labels for {arm.requests} requests"
    return residuals, None


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, Integral):
        return True
    return isinstance(value, Real) and math.isfinite(value) and float(value).is_integer()


def _finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
