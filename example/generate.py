"""Seeded synthetic marketing-conversion data for the bundled example.

Why synthetic: the quickstart must run offline from a fresh clone, and the tests need to *inject*
the failures pytest-mlci is meant to catch. Each knob breaks the data in one known way:

* ``drift`` shifts income up and time on site down proportionally to its value, and moves the
  channel mix towards social/display (fully at 1.0), so a current sample drifts away from the
  reference sample;
* ``group_bias`` relabels a share of the positives in one age band as negatives (historical label
  bias), so a model trained on it shows a fairness gap for that band;
* ``leakage`` adds ``post_conversion_survey``, a noisy copy of the target that only exists after
  the outcome, so a model that uses it looks too good to be true.

The signal is deliberately imperfect: conversion follows a logistic function of several features
with interactions plus unobserved noise, so a good model reaches ROC AUC around 0.85, never a
suspicious 0.99. The age bands differ a little in behaviour (as real ones do) but not enough for
an unbiased model to show a demographic-parity gap above 0.05.

Everything is vectorised numpy: 60,000 rows take tens of milliseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "converted"
PROTECTED = "age_band"
LEAKY_COLUMN = "post_conversion_survey"

CHANNELS = ("email", "social", "search", "display", "referral")
DEVICES = ("mobile", "desktop", "tablet")
REGIONS = ("north", "south", "east", "west")
AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
# Lower edge of every band after the first: age < 30 -> "18-29", 30 <= age < 45 -> "30-44", ...
_AGE_BAND_EDGES = (30, 45, 60)
# The band whose positives ``group_bias`` relabels; older customers are a common real-world case.
BIASED_BAND = "60+"

NUMERIC_COLUMNS = (
    "age",
    "income",
    "visits",
    "time_on_site",
    "pages_viewed",
    "previous_purchases",
    "days_since_last_visit",
    "email_opens",
)
CATEGORICAL_COLUMNS = ("channel", "device", "region", PROTECTED)
# The columns ``drift`` moves (the others only change through their dependence on these).
DRIFTED_COLUMNS = ("income", "time_on_site", "channel")

_CHANNEL_MIX = np.array([0.22, 0.24, 0.28, 0.14, 0.12])
# Where the channel mix heads as drift grows: a paid-social campaign replaces search and email.
_CHANNEL_MIX_DRIFTED = np.array([0.12, 0.40, 0.18, 0.24, 0.06])
_CHANNEL_EFFECT = np.array([0.35, -0.25, 0.55, -0.60, 0.80])
_CHANNEL_VISIT_RATE = np.array([1.3, 0.9, 1.0, 0.7, 1.4])
_DEVICE_EFFECT = np.array([-0.30, 0.25, 0.0])
_DEVICE_TIME_EFFECT = np.array([0.0, 0.25, 0.10])
_REGION_MIX = np.array([0.27, 0.23, 0.28, 0.22])
_REGION_EFFECT = np.array([0.05, -0.10, 0.10, -0.05])

# Calibrated so the positive rate is ~15% with no knobs turned.
_INTERCEPT = -2.3
# How sharply the observed features separate converters; sets the attainable ROC AUC.
_SIGNAL = 1.3
# Standard deviation of the unobserved part of the logit: what keeps ROC AUC well below 1.
_LOGIT_NOISE = 0.3
# Share of ``post_conversion_survey`` answers that disagree with the outcome.
_LEAK_FLIP_RATE = 0.05


def age_bands(age: np.ndarray | pd.Series) -> np.ndarray:
    """Return the :data:`AGE_BANDS` label of every age (the protected attribute's definition)."""
    return np.asarray(AGE_BANDS, dtype=object)[np.searchsorted(_AGE_BAND_EDGES, age, "right")]


def generate(
    rows: int,
    seed: int,
    *,
    drift: float = 0.0,
    group_bias: float = 0.0,
    leakage: bool = False,
) -> pd.DataFrame:
    """Return ``rows`` synthetic visitors, the same frame for the same arguments.

    ``drift`` (>= 0) is the size of the covariate shift, 0 meaning the reference distribution;
    ``group_bias`` (0..1) is the share of positives in :data:`BIASED_BAND` relabelled negative;
    ``leakage`` adds :data:`LEAKY_COLUMN`.
    """
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    if not np.isfinite(drift) or drift < 0:
        raise ValueError(f"drift must be a finite number >= 0, got {drift!r}")
    if not 0.0 <= group_bias <= 1.0:
        raise ValueError(f"group_bias must be between 0 and 1, got {group_bias!r}")

    rng = np.random.default_rng(seed)
    n = int(rows)

    age = np.clip(np.rint(rng.normal(41.0, 13.0, n)), 18, 80).astype(np.int64)
    centred_age = age - 41.0

    # Income rises with age until late middle age; drift scales it up multiplicatively.
    log_income = 10.75 + 0.006 * centred_age - 0.0003 * centred_age**2 + rng.normal(0.0, 0.45, n)
    income = np.round(np.exp(log_income + 0.30 * drift), 2)

    channel_mix = _CHANNEL_MIX + min(drift, 1.0) * (_CHANNEL_MIX_DRIFTED - _CHANNEL_MIX)
    channel = rng.choice(len(CHANNELS), size=n, p=channel_mix)

    # Older visitors use desktops more; tablets are a steady tenth.
    p_mobile = np.clip(0.62 - 0.003 * centred_age, 0.4, 0.75)
    u = rng.random(n)
    device = np.where(u < p_mobile, 0, np.where(u < 0.90, 1, 2))

    region = rng.choice(len(REGIONS), size=n, p=_REGION_MIX)

    visits = 1 + rng.poisson(2.0 * _CHANNEL_VISIT_RATE[channel])
    log_time = (
        4.6
        + 0.12 * np.log(visits)
        + _DEVICE_TIME_EFFECT[device]
        + rng.normal(0.0, 0.7, n)
        - 0.40 * drift  # drifted traffic is less engaged
    )
    time_on_site = np.round(np.exp(log_time), 1)
    pages_viewed = 1 + rng.poisson(0.6 + time_on_site / 50.0)
    previous_purchases = rng.poisson(0.6 + 0.003 * centred_age)
    days_since_last_visit = np.minimum(
        np.floor(rng.exponential(30.0 / (1.0 + 0.3 * previous_purchases))), 365
    ).astype(np.int64)
    email_opens = rng.poisson(1.0 + 2.5 * (channel == 0) + 0.4 * previous_purchases)

    is_email = channel == 0
    is_mobile = device == 0
    signal = (
        # Engagement helps until it saturates: a very long visit is an idle tab, not intent.
        1.10 * np.minimum(np.log(time_on_site) - 4.6, 0.8)
        + 0.18 * (pages_viewed - 3)
        + 0.55 * np.log1p(previous_purchases)
        - 0.8 * np.log1p(days_since_last_visit / 7.0)
        + 0.25 * (log_income - 10.75)
        + _CHANNEL_EFFECT[channel]
        + _DEVICE_EFFECT[device]
        + _REGION_EFFECT[region]
        # Long mobile sessions stall at checkout; engaged email readers convert more.
        - 0.40 * (is_mobile & (pages_viewed > 6))
        + 0.15 * email_opens * is_email
    )
    logit = _INTERCEPT + _SIGNAL * signal + rng.normal(0.0, _LOGIT_NOISE, n)
    converted = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    age_band = age_bands(age)
    # Drawn for every row, used only where it applies, so the knob never reshuffles the rest.
    relabel = rng.random(n) < group_bias
    converted = np.where((age_band == BIASED_BAND) & relabel, 0, converted)

    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "visits": visits.astype(np.int64),
            "time_on_site": time_on_site,
            "pages_viewed": pages_viewed.astype(np.int64),
            "previous_purchases": previous_purchases.astype(np.int64),
            "days_since_last_visit": days_since_last_visit,
            "email_opens": email_opens.astype(np.int64),
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "device": np.asarray(DEVICES, dtype=object)[device],
            "region": np.asarray(REGIONS, dtype=object)[region],
            PROTECTED: age_band,
            TARGET: converted,
        }
    )
    for column in CATEGORICAL_COLUMNS:
        frame[column] = frame[column].astype(str)
    if leakage:
        flip = rng.random(n) < _LEAK_FLIP_RATE
        frame[LEAKY_COLUMN] = np.where(flip, 1 - converted, converted).astype(np.int64)
    return frame
