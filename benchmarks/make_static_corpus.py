"""Generate benchmarks/static_corpus/: 50 realistic ML training scripts for the static benchmarks.

Each script (about 150 lines) is composed from hand-written building blocks: loading with
pandas (CSV, parquet + joins, SQL), feature engineering, a train/test split (stratified,
time-based, permutation), an sklearn Pipeline or hand-written preprocessing, cross-validation
or a hyperparameter search, xgboost/lightgbm fitting with early stopping on a validation
split, metrics, plots and saving the model. Ten domains, several model families, two layouts
(a CLI with ``main()`` and a notebook-style script with ``# %%`` cells).

Most scripts are clean. Sixteen carry one or two classic mistakes (scaling before the split,
an unseeded random forest, a hard-coded home directory ...), chosen by a fixed table.
``manifest.json`` records for every file whether it was written clean and, for the others,
the (line, code) of every planted mistake, so the accuracy benchmark can tell false alarms
from true ones.

The output is deterministic (fixed seed, no hashing-dependent iteration): running this again
rewrites the same files. Every script is valid Python, formatted as ``ruff format`` would.

Run: .venv/bin/python benchmarks/make_static_corpus.py [--out benchmarks/static_corpus]
"""

from __future__ import annotations

import argparse
import json
import py_compile
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "static_corpus"
COUNT = 50
MAX_LINES = 170
WIDTH = 100
SENTINEL = "  #!"  # a block marks its offending line with "...  #!MLC001"; stripped on output
STDLIB = frozenset({"argparse", "json", "logging", "os", "pickle", "random", "pathlib"})


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Domain:
    key: str
    title: str
    task: str  # "clf" | "reg"
    target: str
    id_col: str
    date_col: str
    stem: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    ratio: tuple[str, str, str]  # numerator, denominator, new column
    log_col: str
    group: tuple[str, str]  # categorical column, numeric column compared with its group mean


def _domain(head: str, columns: str, derived: str) -> Domain:
    """Parse ``key|title|task|target|id|date|stem``, ``numeric|categorical`` and
    ``num/den=ratio|log column|group column:group numeric``."""
    key, title, task, target, id_col, date_col, stem = head.split("|")
    numeric, categorical = (part.split() for part in columns.split("|"))
    ratio, log_col, group = derived.split("|")
    fraction, name = ratio.split("=")
    num, den = fraction.split("/")
    group_col, group_num = group.split(":")
    return Domain(
        key, title, task, target, id_col, date_col, stem, tuple(numeric), tuple(categorical),
        (num, den, name), log_col, (group_col, group_num),
    )  # fmt: skip


DOMAINS = (
    _domain(
        "churn|Telecom customer churn|clf|churned|customer_id|signup_date|telco_customers",
        "tenure_months monthly_charges total_charges support_calls"
        "|contract_type payment_method region",
        "total_charges/tenure_months=charges_per_month|total_charges|region:monthly_charges",
    ),
    _domain(
        "fraud|Card transaction fraud|clf|is_fraud|transaction_id|transaction_time|transactions",
        "amount card_age_days txn_count_24h distance_from_home_km"
        "|merchant_category device_type country",
        "amount/txn_count_24h=amount_per_txn|amount|merchant_category:amount",
    ),
    _domain(
        "credit|Consumer loan default|clf|defaulted|application_id|application_date"
        "|loan_applications",
        "annual_income loan_amount credit_score employment_years|home_ownership loan_purpose state",
        "loan_amount/annual_income=loan_to_income|annual_income|state:annual_income",
    ),
    _domain(
        "houses|Residential sale price|reg|sale_price|house_id|sold_date|house_sales",
        "living_area_sqft lot_area_sqft year_built bedrooms bathrooms"
        "|neighborhood house_style heating",
        "living_area_sqft/bedrooms=sqft_per_bedroom|lot_area_sqft|neighborhood:living_area_sqft",
    ),
    _domain(
        "demand|Store-level product demand|reg|units_sold|record_id|sale_date|store_sales",
        "price discount_pct store_size_sqm temperature_c|store_type product_category weekday",
        "discount_pct/price=discount_per_price|price|store_type:price",
    ),
    _domain(
        "clicks|Display-ad click-through|clf|clicked|impression_id|served_at|ad_impressions",
        "ad_position bid_cents user_age session_seconds|device campaign placement",
        "bid_cents/ad_position=bid_per_position|session_seconds|campaign:bid_cents",
    ),
    _domain(
        "claims|Insurance claim amount|reg|claim_amount|policy_id|policy_start|insurance_policies",
        "age bmi children vehicle_age_years|sex smoker region",
        "vehicle_age_years/age=vehicle_age_ratio|bmi|region:bmi",
    ),
    _domain(
        "attrition|Employee attrition|clf|left_company|employee_id|hire_date|hr_employees",
        "satisfaction_score last_evaluation num_projects avg_monthly_hours|department salary_band",
        "avg_monthly_hours/num_projects=hours_per_project|avg_monthly_hours"
        "|department:avg_monthly_hours",
    ),
    _domain(
        "readmission|Hospital 30-day readmission|clf|readmitted|encounter_id|admission_date"
        "|hospital_encounters",
        "time_in_hospital num_procedures num_medications num_diagnoses"
        "|admission_type discharge_disposition primary_diagnosis",
        "num_medications/time_in_hospital=meds_per_day|num_medications"
        "|admission_type:time_in_hospital",
    ),
    _domain(
        "energy|Hourly grid load|reg|load_mw|reading_id|timestamp|grid_load",
        "temperature_c humidity_pct wind_speed_ms hour|season day_type",
        "temperature_c/humidity_pct=temp_per_humidity|wind_speed_ms|season:temperature_c",
    ),
)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Model:
    key: str
    task: str  # "clf" | "reg"
    family: str  # "sklearn" | "xgb" | "lgb"
    name: str  # the callable, as the script spells it
    imports: tuple[str, ...]
    kwargs: tuple[str, ...]  # without random_state
    seeded: bool  # takes random_state
    grid: tuple[tuple[str, str], ...]  # search space for "model__<name>"
    describe: str


def _model(head: str, kwargs: str, grid: str, describe: str) -> Model:
    """``key|task|family|callable|import|seeded``, ``kw;kw``, ``name=values;...``, prose."""
    key, task, family, name, spec, seeded = head.split("|")
    space = tuple(tuple(item.split("=", 1)) for item in grid.split(";") if item)
    return Model(
        key, task, family, name, (spec,), tuple(kwargs.split(";")), seeded == "seeded",
        space, describe,  # type: ignore[arg-type]
    )  # fmt: skip


_SK = "from sklearn.{} import {}"
_XGB, _LGB = "import xgboost as xgb", "import lightgbm as lgb"
MODELS = (
    _model(
        f"logreg|clf|sklearn|LogisticRegression|{_SK.format('linear_model', 'LogisticRegression')}"
        "|unseeded",
        'max_iter=2000;C=1.0;class_weight="balanced"',
        'C=[0.01, 0.1, 1.0, 10.0];penalty=["l2"]',
        "an L2-regularised logistic regression",
    ),
    _model(
        f"rf|clf|sklearn|RandomForestClassifier"
        f"|{_SK.format('ensemble', 'RandomForestClassifier')}|seeded",
        "n_estimators=400;min_samples_leaf=3;n_jobs=-1",
        "max_depth=[None, 8, 16];min_samples_leaf=[1, 3, 10]",
        "a random forest",
    ),
    _model(
        f"hgb|clf|sklearn|HistGradientBoostingClassifier"
        f"|{_SK.format('ensemble', 'HistGradientBoostingClassifier')}|seeded",
        "learning_rate=0.05;max_iter=300",
        "learning_rate=[0.03, 0.1];max_leaf_nodes=[15, 31, 63]",
        "histogram gradient boosting",
    ),
    _model(
        f"gb|clf|sklearn|GradientBoostingClassifier"
        f"|{_SK.format('ensemble', 'GradientBoostingClassifier')}|seeded",
        "n_estimators=300;subsample=0.8;max_depth=3",
        "learning_rate=[0.05, 0.1];max_depth=[2, 3, 4]",
        "gradient boosted trees",
    ),
    _model(
        f"xgb|clf|xgb|xgb.XGBClassifier|{_XGB}|seeded",
        "n_estimators=2000;learning_rate=0.05;max_depth=6;subsample=0.8;colsample_bytree=0.8"
        ';eval_metric="auc";early_stopping_rounds=100;tree_method="hist";enable_categorical=True',
        "",
        "XGBoost",
    ),
    _model(
        f"lgbm|clf|lgb|lgb.LGBMClassifier|{_LGB}|seeded",
        "n_estimators=3000;learning_rate=0.03;num_leaves=31;subsample=0.8;subsample_freq=1"
        ";colsample_bytree=0.8",
        "",
        "LightGBM",
    ),
    _model(
        f"ridge|reg|sklearn|Ridge|{_SK.format('linear_model', 'Ridge')}|unseeded",
        "alpha=3.0",
        "alpha=[0.1, 1.0, 3.0, 10.0, 30.0]",
        "ridge regression",
    ),
    _model(
        f"rf_reg|reg|sklearn|RandomForestRegressor"
        f"|{_SK.format('ensemble', 'RandomForestRegressor')}|seeded",
        "n_estimators=300;min_samples_leaf=2;n_jobs=-1",
        'max_features=[0.5, "sqrt", 1.0];min_samples_leaf=[1, 2, 5]',
        "a random forest regressor",
    ),
    _model(
        f"hgb_reg|reg|sklearn|HistGradientBoostingRegressor"
        f"|{_SK.format('ensemble', 'HistGradientBoostingRegressor')}|seeded",
        'loss="absolute_error";max_iter=400',
        "learning_rate=[0.03, 0.1];l2_regularization=[0.0, 1.0]",
        "histogram gradient boosting (absolute error)",
    ),
    _model(
        f"gb_reg|reg|sklearn|GradientBoostingRegressor"
        f"|{_SK.format('ensemble', 'GradientBoostingRegressor')}|seeded",
        'loss="huber";n_estimators=400;subsample=0.8',
        "learning_rate=[0.05, 0.1];max_depth=[2, 3, 5]",
        "gradient boosted trees (Huber loss)",
    ),
    _model(
        f"xgb_reg|reg|xgb|xgb.XGBRegressor|{_XGB}|seeded",
        "n_estimators=2000;learning_rate=0.05;max_depth=8;subsample=0.8;colsample_bytree=0.7"
        ';eval_metric="rmse";early_stopping_rounds=100;tree_method="hist";enable_categorical=True',
        "",
        "XGBoost",
    ),
    _model(
        f"lgbm_reg|reg|lgb|lgb.LGBMRegressor|{_LGB}|seeded",
        'objective="regression_l1";n_estimators=3000;learning_rate=0.03;num_leaves=63'
        ";min_child_samples=30",
        "",
        "LightGBM",
    ),
)

# Which files carry which mistakes (index in 0..49). Everything else is written clean.
MISTAKES: dict[int, tuple[str, ...]] = {
    2: ("scale_before_split",),
    5: ("unseeded_forest",),
    8: ("home_path",),
    11: ("scale_columns_before_split",),
    14: ("early_stopping_on_test",),
    17: ("refit_scaler_on_test",),
    20: ("unseeded_split", "home_path"),
    23: ("cv_over_prescaled",),
    26: ("target_rate_feature",),
    29: ("unseeded_sample",),
    32: ("unseeded_permutation",),
    35: ("set_ordered_features",),
    38: ("db_password",),
    41: ("threshold_on_test",),
    44: ("scale_before_split", "unseeded_forest"),
    47: ("home_output_dir",),
}
# Mistakes that only make sense with a given layout of the modelling code.
NEEDS_PATH = {
    "scale_before_split": "manual",
    "refit_scaler_on_test": "manual",
    "cv_over_prescaled": "manual",
    "scale_columns_before_split": "pipeline",
    "target_rate_feature": "pipeline",
    "early_stopping_on_test": "boosted",
    "set_ordered_features": "boosted",
    "unseeded_split": "pipeline",
    "unseeded_permutation": "manual",
}
# Mistakes that need the file not to seed numpy's global generator (it would cover them).
NO_GLOBAL_SEED = {"unseeded_forest", "unseeded_split", "unseeded_sample", "unseeded_permutation"}


# --------------------------------------------------------------------------- rendering


def wrap(ind: str, head: str, args: list[str], tail: str = "") -> list[str]:
    """``head(args)tail`` the way ruff format lays it out at width 100."""
    one = f"{ind}{head}({', '.join(args)}){tail}"
    if len(one) <= WIDTH:
        return [one]
    inner = f"{ind}    {', '.join(args)}"
    if len(inner) <= WIDTH:
        return [f"{ind}{head}(", inner, f"{ind}){tail}"]
    return [f"{ind}{head}(", *(f"{ind}    {a}," for a in args), f"{ind}){tail}"]


def str_list(ind: str, name: str, items: list[str]) -> list[str]:
    quoted = [f'"{i}"' for i in items]
    one = f"{ind}{name} = [{', '.join(quoted)}]"
    if len(one) <= WIDTH:
        return [one]
    return [f"{ind}{name} = [", *(f"{ind}    {q}," for q in quoted), f"{ind}]"]


def render_imports(specs: set[str]) -> list[str]:
    """isort order as ruff's ``I`` rules want it: stdlib, then third party; straight imports
    before ``from`` imports; members constants, classes, then functions."""
    groups: dict[str, tuple[list[str], dict[str, set[str]]]] = {
        "std": ([], {}),
        "third": ([], {}),
    }
    for spec in sorted(specs):
        words = spec.split()
        module = words[1]
        group = groups["std" if module.split(".")[0] in STDLIB else "third"]
        if words[0] == "import":
            group[0].append(spec)
        else:
            group[1].setdefault(module, set()).update(n.strip(",") for n in words[3:])

    def member_key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return kind, name

    out = ["from __future__ import annotations", ""]
    for key in ("std", "third"):
        straight, froms = groups[key]
        lines = sorted(straight, key=lambda s: s.split()[1].lower())
        for module in sorted(froms, key=str.lower):
            names = sorted(froms[module], key=member_key)
            one = f"from {module} import {', '.join(names)}"
            if len(one) <= WIDTH:
                lines.append(one)
            else:
                lines += [f"from {module} import (", *(f"    {n}," for n in names), ")"]
        if lines:
            out += [*lines, ""]
    return out[:-1]


# --------------------------------------------------------------------------- one script


@dataclass
class Script:
    """Options of one generated file; the blocks below read them."""

    index: int
    domain: Domain
    model: Model
    path: str  # "pipeline" | "manual" | "boosted"
    style: str  # "cli" | "notebook"
    seed_name: str
    seeding: str  # "none" | "numpy" | "helper"
    load: str  # "csv" | "parquet_join" | "sql"
    split: str  # "stratified" | "time" | "permutation"
    validation: str  # "cv" | "grid" | "random"
    save: str  # "joblib" | "pickle" | "skops" | "native"
    extras: tuple[str, ...]
    mistakes: tuple[str, ...]
    imports: set[str] = field(default_factory=set)

    def has(self, mistake: str) -> bool:
        return mistake in self.mistakes

    def need(self, *specs: str) -> None:
        self.imports.update(specs)

    @property
    def clf(self) -> bool:
        return self.domain.task == "clf"

    @property
    def data(self) -> str:
        if self.style == "cli":
            return "args.data"
        return "TABLE" if self.load == "sql" else "DATA_PATH"

    @property
    def out(self) -> str:
        return "out_dir" if self.style == "cli" else "OUT_DIR"

    @property
    def numeric(self) -> list[str]:
        d = self.domain
        cols = [*d.numeric, d.ratio[2], f"log_{d.log_col}", f"{d.group[1]}_vs_{d.group[0]}"]
        if self.load == "parquet_join":
            cols.append("n_events")
        if self.path != "boosted":
            cols.append(f"{d.date_col.removesuffix('_date').removesuffix('_at')}_month")
        if self.has("target_rate_feature"):
            cols.append(f"{d.group[0]}_{d.target}_rate")
        return cols

    def model_call(self, ind: str, assign: str) -> list[str]:
        kwargs = list(self.model.kwargs)
        if self.model.seeded and not self.has("unseeded_forest"):
            kwargs.append(f"random_state={self.seed_name}")
        self.need(*self.model.imports)
        lines = wrap(ind, f"{assign}{self.model.name}", kwargs)
        if self.has("unseeded_forest"):
            lines[0] += f"{SENTINEL}MLC101"
        return lines


def docstring(s: Script) -> list[str]:
    d, m = s.domain, s.model
    what = "predict" if s.clf else "estimate"
    body = (
        f"Loads the {d.stem} extract, derives features, splits off a held-out test set, fits a "
        f"model to {what} ``{d.target}`` and writes the model, its metrics and diagnostic "
        "plots to the output directory."
    )
    lines = [f'"""{d.title} model: {m.describe}.', ""]
    lines += fill(body)
    if s.style == "notebook":
        lines += ["", "Exported from the exploration notebook; run it top to bottom."]
    lines.append('"""')
    return lines


def fill(text: str, width: int = 92) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current]


def constants(s: Script) -> list[str]:
    d = s.domain
    s.need("import logging", "from pathlib import Path")
    lines = ["LOGGER = logging.getLogger(__name__)", "", f"{s.seed_name} = 42"]
    if s.load == "sql":
        s.need("import os")
        lines.append(f'TABLE = os.environ.get("FEATURE_TABLE", "analytics.{d.stem}")')
    elif s.has("home_path"):
        user = ("jsmith", "akumar", "mlopez")[s.index % 3]
        lines.append(
            f'DATA_PATH = Path("/home/{user}/projects/{d.key}/data/{d.stem}.csv"){SENTINEL}MLC201'
        )
    elif s.index % 3 == 0:
        s.need("import os")
        lines.append('DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))')
        lines.append(f'DATA_PATH = DATA_DIR / "{d.stem}.{ext(s)}"')
    elif s.index % 3 == 1:
        lines.append("ROOT = Path(__file__).resolve().parents[1]")
        lines.append(f'DATA_PATH = ROOT / "data" / "raw" / "{d.stem}.{ext(s)}"')
    else:
        lines.append(f'DATA_PATH = Path("data") / "{d.stem}.{ext(s)}"')
    if s.has("home_output_dir"):
        lines.append(f'OUT_DIR = Path("/home/deploy/models/{d.key}"){SENTINEL}MLC201')
    else:
        lines.append(f'OUT_DIR = Path("artifacts") / "{d.key}"')
    lines += [
        f'TARGET = "{d.target}"',
        f'ID_COL = "{d.id_col}"',
        f'DATE_COL = "{d.date_col}"',
    ]
    lines += str_list("", "NUMERIC", s.numeric)
    lines += str_list("", "CATEGORICAL", list(d.categorical))
    if s.path != "boosted":
        metric = "roc_auc" if s.clf else "neg_root_mean_squared_error"
        lines.append(f'SCORING = "{metric}"')
    if s.path == "pipeline" and s.validation != "cv":
        lines.append("PARAM_GRID = {")
        lines += [f'    "model__{k}": {v},' for k, v in s.model.grid]
        lines.append("}")
    return lines


def ext(s: Script) -> str:
    return "parquet" if s.load == "parquet_join" else "csv"


def seed_helper(s: Script) -> list[str]:
    s.need("import os", "import random", "import numpy as np")
    return [
        "def set_seed(seed: int) -> None:",
        '    """Seed every global generator the pipeline touches."""',
        '    os.environ["PYTHONHASHSEED"] = str(seed)',
        "    random.seed(seed)",
        "    np.random.seed(seed)",
    ]


def parse_args(s: Script) -> list[str]:
    s.need("import argparse")
    source = "table to read" if s.load == "sql" else "raw extract"
    default = "TABLE" if s.load == "sql" else "DATA_PATH"
    kind = "str" if s.load == "sql" else "Path"
    lines = [
        "def parse_args(argv: list[str] | None = None) -> argparse.Namespace:",
        "    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        f'    parser.add_argument("--data", type={kind}, default={default}, help="{source}")',
        '    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")',
    ]
    if "refit_all" in s.extras and s.path == "pipeline":
        lines.append(
            '    parser.add_argument("--refit-all", action="store_true", help="refit on all rows")'
        )
    lines.append("    return parser.parse_args(argv)")
    return lines


def load_data(s: Script) -> list[str]:
    d = s.domain
    s.need("import pandas as pd")
    if s.load == "sql":
        s.need("from sqlalchemy import create_engine")
        if s.has("db_password"):
            url = f'"postgresql://analyst:Wint3r-2024@warehouse.internal:5432/{d.key}"'
            engine = f"    engine = create_engine({url}){SENTINEL}MLC202"
        else:
            s.need("import os")
            engine = '    engine = create_engine(os.environ["WAREHOUSE_URL"])'
        return [
            "def load_data(table: str) -> pd.DataFrame:",
            '    """Read the feature table from the warehouse; rows without a label are '
            'dropped."""',
            engine,
            "    query = f\"SELECT * FROM {table} WHERE {DATE_COL} >= '2022-01-01'\"",
            "    with engine.connect() as conn:",
            "        df = pd.read_sql(query, conn, parse_dates=[DATE_COL])",
            '    LOGGER.info("read %d rows from %s", len(df), table)',
            "    return df.dropna(subset=[TARGET]).drop_duplicates(subset=ID_COL)",
        ]
    if s.load == "parquet_join":
        return [
            "def load_data(path: Path) -> pd.DataFrame:",
            '    """Entity table joined with per-entity event counts from the sibling file."""',
            "    entities = pd.read_parquet(path)",
            '    events = pd.read_parquet(path.with_name("events.parquet"))',
            '    counts = events.groupby(ID_COL).size().rename("n_events").reset_index()',
            '    df = entities.merge(counts, on=ID_COL, how="left", validate="one_to_one")',
            '    df["n_events"] = df["n_events"].fillna(0).astype(int)',
            "    df[DATE_COL] = pd.to_datetime(df[DATE_COL])",
            '    LOGGER.info("loaded %d rows (%d with events)", len(df), '
            '(df["n_events"] > 0).sum())',
            "    return df.dropna(subset=[TARGET])",
        ]
    return [
        "def load_data(path: Path) -> pd.DataFrame:",
        '    """Read the raw extract; duplicated ids and rows without a label are dropped."""',
        '    dtypes = {col: "category" for col in CATEGORICAL}',
        "    df = pd.read_csv(path, dtype=dtypes, parse_dates=[DATE_COL])",
        '    LOGGER.info("loaded %d rows from %s", len(df), path)',
        "    return df.drop_duplicates(subset=ID_COL).dropna(subset=[TARGET])",
    ]


def add_features(s: Script) -> list[str]:
    d = s.domain
    s.need("import numpy as np")
    num, den, ratio = d.ratio
    group_col, group_num = d.group
    lines = [
        "def add_features(df: pd.DataFrame) -> pd.DataFrame:",
        '    """Derived columns, computed row by row or from feature columns only."""',
        "    df = df.copy()",
        f'    df["{ratio}"] = df["{num}"] / df["{den}"].replace(0, np.nan)',
        f'    df["log_{d.log_col}"] = np.log1p(df["{d.log_col}"].clip(lower=0))',
        f'    group_mean = df.groupby("{group_col}", observed=True)["{group_num}"]'
        '.transform("mean")',
        f'    df["{group_num}_vs_{group_col}"] = df["{group_num}"] - group_mean',
    ]
    if s.path != "boosted":
        month = f"{d.date_col.removesuffix('_date').removesuffix('_at')}_month"
        lines.append(f'    df["{month}"] = df[DATE_COL].dt.month')
    if s.has("target_rate_feature"):
        rate = f"{group_col}_{d.target}_rate"
        lines.append(
            f'    df["{rate}"] = df.groupby("{group_col}")[TARGET].transform("mean")'
            f"{SENTINEL}MLC005"
        )
    first = d.numeric[0]
    lines += [
        # a bound known from the domain, not a quantile of all rows (that would be a
        # statistic learned before the split: MLC001)
        f'    df["{first}"] = df["{first}"].clip(lower=0)',
        "    return df",
    ]
    return lines


def build_pipeline(s: Script) -> list[str]:
    s.need(
        "from sklearn.compose import ColumnTransformer",
        "from sklearn.impute import SimpleImputer",
        "from sklearn.pipeline import Pipeline, make_pipeline",
        "from sklearn.preprocessing import OneHotEncoder, StandardScaler",
    )
    lines = [
        "def build_pipeline() -> Pipeline:",
        '    """Impute, scale and encode inside the pipeline, so every fold fits its own."""',
        '    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())',
        "    preprocess = ColumnTransformer(",
        "        [",
        '            ("num", numeric, NUMERIC),',
        '            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=20), '
        "CATEGORICAL),",
        "        ]",
        "    )",
    ]
    lines += s.model_call("    ", "model = ")
    lines.append('    return Pipeline([("preprocess", preprocess), ("model", model)])')
    return lines


def make_model(s: Script) -> list[str]:
    lines = [
        f"def make_model() -> {s.model.name}:",
        '    """The estimator with the hyperparameters chosen in the last tuning round."""',
    ]
    lines += s.model_call("    ", "return ")
    return lines


def evaluate(s: Script) -> list[str]:
    if s.clf:
        s.need(
            "from sklearn.metrics import accuracy_score, average_precision_score, f1_score",
            "from sklearn.metrics import roc_auc_score",
        )
        return [
            "def evaluate(model, X, y) -> dict[str, float]:",
            '    """Threshold-free and thresholded metrics on one held-out set."""',
            "    proba = model.predict_proba(X)[:, 1]",
            "    pred = model.predict(X)",
            "    return {",
            '        "roc_auc": float(roc_auc_score(y, proba)),',
            '        "average_precision": float(average_precision_score(y, proba)),',
            '        "f1": float(f1_score(y, pred)),',
            '        "accuracy": float(accuracy_score(y, pred)),',
            "    }",
        ]
    s.need("from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score")
    return [
        "def evaluate(model, X, y) -> dict[str, float]:",
        '    """Error metrics on one held-out set, in the units of the target."""',
        "    pred = model.predict(X)",
        "    return {",
        '        "mae": float(mean_absolute_error(y, pred)),',
        '        "rmse": float(np.sqrt(mean_squared_error(y, pred))),',
        '        "r2": float(r2_score(y, pred)),',
        "    }",
    ]


def plot_curves(s: Script) -> list[str]:
    s.need("import matplotlib.pyplot as plt")
    if s.clf:
        s.need("from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay")
        return [
            "def plot_curves(y_true, proba, path: Path) -> None:",
            "    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))",
            "    RocCurveDisplay.from_predictions(y_true, proba, ax=axes[0])",
            "    PrecisionRecallDisplay.from_predictions(y_true, proba, ax=axes[1])",
            '    axes[0].plot([0, 1], [0, 1], linestyle="--", color="grey")',
            "    fig.tight_layout()",
            "    fig.savefig(path, dpi=120)",
            "    plt.close(fig)",
        ]
    return [
        "def plot_residuals(y_true, pred, path: Path) -> None:",
        "    residuals = np.asarray(y_true) - np.asarray(pred)",
        "    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))",
        "    axes[0].scatter(pred, y_true, s=6, alpha=0.4)",
        "    low, high = float(np.min(y_true)), float(np.max(y_true))",
        '    axes[0].plot([low, high], [low, high], linestyle="--", color="grey")',
        '    axes[0].set_xlabel("predicted")',
        '    axes[0].set_ylabel("actual")',
        '    axes[1].hist(residuals, bins=50, color="#55a868")',
        '    axes[1].set_xlabel("residual")',
        "    fig.tight_layout()",
        "    fig.savefig(path, dpi=120)",
        "    plt.close(fig)",
    ]


def plot_confusion(s: Script) -> list[str]:
    s.need("from sklearn.metrics import ConfusionMatrixDisplay")
    return [
        "def plot_confusion(y_true, pred, path: Path) -> None:",
        "    fig, ax = plt.subplots(figsize=(5, 5))",
        '    ConfusionMatrixDisplay.from_predictions(y_true, pred, normalize="true", ax=ax)',
        '    ax.set_title("Confusion matrix (test, row-normalised)")',
        "    fig.tight_layout()",
        "    fig.savefig(path, dpi=120)",
        "    plt.close(fig)",
    ]


def plot_importance(s: Script) -> list[str]:
    return [
        "def plot_importance(names: list[str], values, path: Path, top: int = 20) -> None:",
        "    order = np.argsort(values)[::-1][:top]",
        "    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.5))",
        "    ax.barh([names[i] for i in order][::-1], np.asarray(values)[order][::-1])",
        '    ax.set_xlabel("importance")',
        "    fig.tight_layout()",
        "    fig.savefig(path, dpi=120)",
        "    plt.close(fig)",
    ]


def save_artifacts(s: Script) -> list[str]:
    s.need("import json")
    lines = [
        "def save_artifacts(model, metrics: dict[str, float], out_dir: Path) -> None:",
        '    """Model, metrics and the feature lists the serving code needs."""',
    ]
    if s.save == "joblib":
        s.need("import joblib")
        lines.append('    joblib.dump(model, out_dir / "model.joblib")')
    elif s.save == "pickle":
        s.need("import pickle")
        lines += [
            '    with open(out_dir / "model.pkl", "wb") as fh:',
            "        pickle.dump(model, fh)",
        ]
    elif s.save == "skops":
        s.need("import skops.io as sio")
        lines.append('    sio.dump(model, out_dir / "model.skops")')
    elif s.model.family == "xgb":
        lines.append('    model.save_model(out_dir / "model.json")')
    else:
        lines.append('    model.booster_.save_model(str(out_dir / "model.txt"))')
    lines += [
        '    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))',
        '    features = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": TARGET}',
        '    (out_dir / "features.json").write_text(json.dumps(features, indent=2))',
        '    LOGGER.info("saved model and metrics to %s", out_dir)',
    ]
    return lines


# ------------------------------------------------------------------ the run itself


def split_lines(s: Script, ind: str, X: str, y: str, frame: str = "df") -> list[str]:
    """Lines ending with X_train, X_test, y_train, y_test defined (from ``X``/``y``)."""
    if s.split == "time":
        return [
            f"{ind}cutoff = {frame}[DATE_COL].quantile(0.8)",
            f"{ind}is_train = {frame}[DATE_COL] <= cutoff",
            f"{ind}X_train, X_test = {X}[is_train], {X}[~is_train]",
            f"{ind}y_train, y_test = {y}[is_train], {y}[~is_train]",
            f'{ind}LOGGER.info("train until %s: %d rows", cutoff, is_train.sum())',
        ]
    if s.split == "permutation":
        if s.has("unseeded_permutation"):
            draw = [f"{ind}idx = np.random.permutation(len({X})){SENTINEL}MLC103"]
        else:
            draw = [
                f"{ind}rng = np.random.default_rng({s.seed_name})",
                f"{ind}idx = rng.permutation(len({X}))",
            ]
        return [
            *draw,
            f"{ind}cut = int(0.8 * len(idx))",
            f"{ind}X_train, X_test = {X}.iloc[idx[:cut]], {X}.iloc[idx[cut:]]",
            f"{ind}y_train, y_test = {y}.iloc[idx[:cut]], {y}.iloc[idx[cut:]]",
        ]
    args = [X, y, "test_size=0.2"]
    if s.clf:
        args.append(f"stratify={y}")
    if not s.has("unseeded_split"):
        args.append(f"random_state={s.seed_name}")
    lines = wrap(ind, "X_train, X_test, y_train, y_test = train_test_split", args)
    if s.has("unseeded_split"):
        lines[0] += f"{SENTINEL}MLC101"
    s.need("from sklearn.model_selection import train_test_split")
    return lines


def cv_splitter(s: Script) -> str:
    if s.split == "time":
        s.need("from sklearn.model_selection import TimeSeriesSplit")
        return "TimeSeriesSplit(n_splits=5)"
    if s.clf:
        s.need("from sklearn.model_selection import StratifiedKFold")
        return f"StratifiedKFold(n_splits=5, shuffle=True, random_state={s.seed_name})"
    s.need("from sklearn.model_selection import KFold")
    return f"KFold(n_splits=5, shuffle=True, random_state={s.seed_name})"


def run_pipeline(s: Script, ind: str) -> list[str]:
    lines = [f"{ind}df = add_features(load_data({s.data}))"]
    if s.has("unseeded_sample"):
        lines.append(f"{ind}df = df.sample(frac=0.25){SENTINEL}MLC102")
    if s.split == "time":
        lines.append(f"{ind}df = df.sort_values(DATE_COL).reset_index(drop=True)")
    lines.append(f"{ind}X = df[NUMERIC + CATEGORICAL].copy()")
    lines.append(f"{ind}y = df[TARGET]")
    if s.has("scale_columns_before_split"):
        s.need("from sklearn.preprocessing import StandardScaler")
        lines.append(
            f"{ind}X[NUMERIC] = StandardScaler().fit_transform(X[NUMERIC]){SENTINEL}MLC001"
        )
    lines += split_lines(s, ind, "X", "y")
    lines.append(f"{ind}cv = {cv_splitter(s)}")
    # scaled before the split means the folds below were scaled together as well
    prescaled = f"{SENTINEL}MLC004" if s.has("scale_columns_before_split") else ""
    if s.validation == "cv":
        s.need("from sklearn.model_selection import cross_val_score")
        call = wrap(
            ind,
            "cv_scores = cross_val_score",
            ["build_pipeline()", "X_train", "y_train", "cv=cv", "scoring=SCORING", "n_jobs=-1"],
        )
        call[0] += prescaled
        lines += call
        lines.append(
            f'{ind}LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())'
        )
        lines.append(f"{ind}model = build_pipeline().fit(X_train, y_train)")
    else:
        if s.validation == "grid":
            s.need("from sklearn.model_selection import GridSearchCV")
            head, extra = "search = GridSearchCV", []
        else:
            s.need("from sklearn.model_selection import RandomizedSearchCV")
            head, extra = "search = RandomizedSearchCV", ["n_iter=8", f"random_state={s.seed_name}"]
        lines += wrap(
            ind,
            head,
            ["build_pipeline()", "PARAM_GRID", "cv=cv", "scoring=SCORING", *extra, "n_jobs=-1"],
        )
        lines += [
            f"{ind}search.fit(X_train, y_train){prescaled}",
            f'{ind}LOGGER.info("best %s: %.4f with %s", SCORING, search.best_score_, '
            "search.best_params_)",
            f"{ind}model = search.best_estimator_",
        ]
    lines += evaluation_lines(s, ind, "X_test")
    return lines


def run_manual(s: Script, ind: str) -> list[str]:
    s.need("from sklearn.preprocessing import StandardScaler")
    lines = [f"{ind}df = add_features(load_data({s.data}))"]
    if s.has("unseeded_sample"):
        lines.append(f"{ind}df = df.sample(frac=0.25){SENTINEL}MLC102")
    lines += wrap(
        ind,
        "X = pd.get_dummies",
        ["df[NUMERIC + CATEGORICAL]", "columns=CATEGORICAL", "dtype=float"],
    )
    lines.append(f"{ind}y = df[TARGET]")
    if s.has("scale_before_split"):
        lines += [
            f"{ind}X = X.fillna(0.0)",
            f"{ind}scaler = StandardScaler()",
            f"{ind}X_scaled = scaler.fit_transform(X){SENTINEL}MLC001",
        ]
        split = split_lines(s, ind, "X_scaled", "y")
        lines += [
            line.replace("X_train, X_test = X_scaled", "X_train_s, X_test_s = X_scaled").replace(
                "X_train, X_test, y_train", "X_train_s, X_test_s, y_train"
            )
            for line in split
        ]
    else:
        s.need("from sklearn.impute import SimpleImputer")
        lines += split_lines(s, ind, "X", "y")
        refit = "fit_transform" if s.has("refit_scaler_on_test") else "transform"
        mark = f"{SENTINEL}MLC002" if s.has("refit_scaler_on_test") else ""
        lines += [
            f'{ind}imputer = SimpleImputer(strategy="median")',
            f"{ind}scaler = StandardScaler()",
            f"{ind}X_train_s = scaler.fit_transform(imputer.fit_transform(X_train))",
            f"{ind}X_test_s = scaler.{refit}(imputer.transform(X_test)){mark}",
        ]
        lines.append(f"{ind}cv = {cv_splitter(s)}")
        if s.has("cv_over_prescaled"):
            s.need("from sklearn.model_selection import cross_val_score")
            call = wrap(
                ind,
                "cv_scores = cross_val_score",
                ["make_model()", "X_train_s", "y_train", "cv=cv", "scoring=SCORING"],
            )
            call[0] += f"{SENTINEL}MLC004"
            lines += [*call, cv_log(ind)]
        elif s.validation == "cv":
            s.need("from sklearn.model_selection import cross_val_score")
            s.need("from sklearn.pipeline import make_pipeline")
            steps = ['SimpleImputer(strategy="median")', "StandardScaler()", "make_model()"]
            lines += wrap(ind, "cv_model = make_pipeline", steps)
            lines += wrap(
                ind,
                "cv_scores = cross_val_score",
                ["cv_model", "X_train", "y_train", "cv=cv", "scoring=SCORING"],
            )
            lines.append(cv_log(ind))
        else:
            lines += out_of_fold(s, ind)
    lines.append(f"{ind}model = make_model().fit(X_train_s, y_train)")
    if "baseline" in s.extras:
        if s.clf:
            s.need("from sklearn.dummy import DummyClassifier")
            dummy = 'DummyClassifier(strategy="prior")'
        else:
            s.need("from sklearn.dummy import DummyRegressor")
            dummy = 'DummyRegressor(strategy="median")'
        lines += [
            f"{ind}baseline = {dummy}.fit(X_train_s, y_train)",
            f'{ind}LOGGER.info("baseline: %s", evaluate(baseline, X_test_s, y_test))',
        ]
    lines += evaluation_lines(s, ind, "X_test_s", names="list(X.columns)")
    return lines


def cv_log(ind: str) -> str:
    return f'{ind}LOGGER.info("cv %s: %.4f +/- %.4f", SCORING, cv_scores.mean(), cv_scores.std())'


def out_of_fold(s: Script, ind: str) -> list[str]:
    """A hand-written CV loop that refits the preprocessing inside every fold (clean)."""
    predict = "predict_proba(X_val_fold)[:, 1]" if s.clf else "predict(X_val_fold)"
    score = "roc_auc_score" if s.clf else "mean_absolute_error"
    return [
        f"{ind}oof = np.zeros(len(y_train))",
        f"{ind}for fit_idx, val_idx in cv.split(X_train, y_train):",
        f"{ind}    X_fit, X_val_fold = X_train.iloc[fit_idx], X_train.iloc[val_idx]",
        f'{ind}    fold_imputer = SimpleImputer(strategy="median").fit(X_fit)',
        f"{ind}    fold_scaler = StandardScaler().fit(fold_imputer.transform(X_fit))",
        f"{ind}    X_fit = fold_scaler.transform(fold_imputer.transform(X_fit))",
        f"{ind}    X_val_fold = fold_scaler.transform(fold_imputer.transform(X_val_fold))",
        f"{ind}    fold_model = make_model().fit(X_fit, y_train.iloc[fit_idx])",
        f"{ind}    oof[val_idx] = fold_model.{predict}",
        f'{ind}LOGGER.info("out-of-fold {score}: %.4f", {score}(y_train, oof))',
    ]


def run_boosted(s: Script, ind: str) -> list[str]:
    lines = [f"{ind}df = add_features(load_data({s.data}))"]
    if s.has("unseeded_sample"):
        lines.append(f"{ind}df = df.sample(frac=0.25){SENTINEL}MLC102")
    lines += [
        f"{ind}for col in CATEGORICAL:",
        f'{ind}    df[col] = df[col].astype("category")',
    ]
    if s.has("set_ordered_features"):
        lines.append(
            f"{ind}feature_cols = list(set(df.columns) - {{TARGET, ID_COL, DATE_COL}})"
            f"{SENTINEL}MLC105"
        )
    elif s.index % 2:
        lines.append(f"{ind}feature_cols = sorted(set(df.columns) - {{TARGET, ID_COL, DATE_COL}})")
    else:
        lines.append(f"{ind}feature_cols = NUMERIC + CATEGORICAL")
    if s.split == "time":
        lines += [
            f"{ind}df = df.sort_values(DATE_COL).reset_index(drop=True)",
            f"{ind}train_end, val_end = int(len(df) * 0.7), int(len(df) * 0.85)",
            f"{ind}train_df = df.iloc[:train_end]",
            f"{ind}val_df = df.iloc[train_end:val_end]",
            f"{ind}test_df = df.iloc[val_end:]",
            f"{ind}X_train, y_train = train_df[feature_cols], train_df[TARGET]",
            f"{ind}X_val, y_val = val_df[feature_cols], val_df[TARGET]",
            f"{ind}X_test, y_test = test_df[feature_cols], test_df[TARGET]",
        ]
    else:
        s.need("from sklearn.model_selection import train_test_split")
        strat = ["stratify=y"] if s.clf else []
        strat_dev = ["stratify=y_dev"] if s.clf else []
        lines.append(f"{ind}X, y = df[feature_cols], df[TARGET]")
        if s.has("early_stopping_on_test"):  # no validation split at all: the test set is watched
            return [
                *lines,
                *wrap(
                    ind,
                    "X_train, X_test, y_train, y_test = train_test_split",
                    ["X", "y", "test_size=0.2", *strat, f"random_state={s.seed_name}"],
                ),
                *fit_boosted(s, ind),
            ]
        lines += wrap(
            ind,
            "X_dev, X_test, y_dev, y_test = train_test_split",
            ["X", "y", "test_size=0.15", *strat, f"random_state={s.seed_name}"],
        )
        lines += wrap(
            ind,
            "X_train, X_val, y_train, y_val = train_test_split",
            ["X_dev", "y_dev", "test_size=0.15", *strat_dev, f"random_state={s.seed_name}"],
        )
    return [*lines, *fit_boosted(s, ind)]


def fit_boosted(s: Script, ind: str) -> list[str]:
    """Early stopping on the validation split (on the test set, for the planted mistake)."""
    lines = s.model_call(ind, "model = ")
    watch = "X_test, y_test" if s.has("early_stopping_on_test") else "X_val, y_val"
    # some runs also watch the training rows, for the learning curve in the logs
    learning = "(X_train, y_train), " if s.index % 2 == 0 else ""
    mark = f"{SENTINEL}MLC003" if s.has("early_stopping_on_test") else ""
    if s.model.family == "lgb":
        lines += [
            f"{ind}model.fit({mark}",
            f"{ind}    X_train,",
            f"{ind}    y_train,",
            f"{ind}    eval_set=[({watch})],",
            f"{ind}    callbacks=[lgb.early_stopping(100), lgb.log_evaluation(200)],",
            f"{ind})",
            f'{ind}LOGGER.info("best iteration: %d", model.best_iteration_)',
        ]
    else:
        fit = f"model.fit(X_train, y_train, eval_set=[{learning}({watch})], verbose=200)"
        lines += [
            f"{ind}{fit}{mark}",
            f'{ind}LOGGER.info("best iteration: %d", model.best_iteration)',
        ]
    return [*lines, *evaluation_lines(s, ind, "X_test", names="feature_cols", native=True)]


def evaluation_lines(
    s: Script, ind: str, X_test: str, names: str = "", native: bool = False
) -> list[str]:
    lines = [f"{ind}metrics = evaluate(model, {X_test}, y_test)"]
    if s.clf:
        s.need("from sklearn.metrics import classification_report")
        lines += [
            f"{ind}proba = model.predict_proba({X_test})[:, 1]",
            f"{ind}print(classification_report(y_test, model.predict({X_test}), digits=3))",
        ]
        if s.has("threshold_on_test"):
            s.need("from sklearn.metrics import roc_curve")
            lines += [
                f"{ind}fpr, tpr, thresholds = roc_curve(y_test, proba)",
                f'{ind}metrics["threshold"] = float(thresholds[np.argmax(tpr - fpr)])'
                f"{SENTINEL}MLC003",
            ]
        elif s.path == "boosted":
            s.need("from sklearn.metrics import precision_recall_curve")
            lines += [
                f"{ind}val_proba = model.predict_proba(X_val)[:, 1]",
                f"{ind}precision, recall, thresholds = precision_recall_curve(y_val, val_proba)",
                f"{ind}f1_scores = 2 * precision * recall / "
                "np.clip(precision + recall, 1e-9, None)",
                f'{ind}metrics["threshold"] = float(thresholds[np.argmax(f1_scores[:-1])])',
            ]
        lines.append(f'{ind}plot_curves(y_test, proba, {s.out} / "curves.png")')
        if "confusion" in s.extras:
            lines.append(
                f'{ind}plot_confusion(y_test, model.predict({X_test}), {s.out} / "confusion.png")'
            )
    else:
        lines.append(
            f'{ind}plot_residuals(y_test, model.predict({X_test}), {s.out} / "residuals.png")'
        )
    if "importance" in s.extras:
        if native:
            lines.append(
                f"{ind}plot_importance({names}, model.feature_importances_, "
                f'{s.out} / "importance.png")'
            )
        else:
            s.need("from sklearn.inspection import permutation_importance")
            lines += wrap(
                ind,
                "importance = permutation_importance",
                ["model", X_test, "y_test", "n_repeats=5", f"random_state={s.seed_name}"],
            )
            cols = names or "NUMERIC + CATEGORICAL"
            lines += wrap(
                ind,
                "plot_importance",
                [cols, "importance.importances_mean", f'{s.out} / "importance.png"'],
            )
    lines.append(f"{ind}save_artifacts(model, metrics, {s.out})")
    if "refit_all" in s.extras and s.path == "pipeline":
        s.need("import joblib", "from sklearn.base import clone")
        guard = "args.refit_all" if s.style == "cli" else 'os.environ.get("REFIT_ALL") == "1"'
        if s.style != "cli":
            s.need("import os")
        lines += [
            f"{ind}if {guard}:",
            f"{ind}    # evaluation is done: ship a model trained on every labelled row",
            f"{ind}    X_all, y_all = pd.concat([X_train, X_test]), pd.concat([y_train, y_test])",
            f"{ind}    final = clone(model).fit(X_all, y_all)",
            f'{ind}    joblib.dump(final, {s.out} / "model_all_rows.joblib")',
        ]
    if "tracking" in s.extras:
        s.need("import mlflow", "import os")
        lines += [
            f'{ind}mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))',
            f'{ind}with mlflow.start_run(run_name="{s.domain.key}-{s.model.key}"):',
            f'{ind}    mlflow.log_params({{"model": "{s.model.key}", "seed": {s.seed_name}}})',
            f"{ind}    mlflow.log_metrics(metrics)",
            f"{ind}    mlflow.log_artifacts(str({s.out}))",
        ]
    lines.append(f'{ind}LOGGER.info("test metrics: %s", json.dumps(metrics, sort_keys=True))')
    return lines


def orchestration(s: Script) -> list[list[str]]:
    """The top-level part: ``main()`` + ``__main__`` guard, or notebook cells."""
    ind = "    " if s.style == "cli" else ""
    run = {"pipeline": run_pipeline, "manual": run_manual, "boosted": run_boosted}[s.path]
    prelude = [f'{ind}logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")']
    if s.seeding == "numpy":
        s.need("import numpy as np")
        prelude.append(f"{ind}np.random.seed({s.seed_name})")
    elif s.seeding == "helper":
        prelude.append(f"{ind}set_seed({s.seed_name})")
    body = run(s, ind)
    if s.style == "cli":
        main = [
            "def main(argv: list[str] | None = None) -> int:",
            "    args = parse_args(argv)",
            "    out_dir = args.out",
            "    out_dir.mkdir(parents=True, exist_ok=True)",
            *prelude,
            *body,
            "    return 0",
        ]
        guard = ['if __name__ == "__main__":', "    raise SystemExit(main())"]
        return [main, guard]
    cells = [
        ["# %% Setup", *prelude, "OUT_DIR.mkdir(parents=True, exist_ok=True)"],
        ["# %% Train and evaluate", *body],
    ]
    return cells


def compose(s: Script) -> list[str]:
    """All blocks of one script, in order, with the blank lines ruff format puts between."""
    defs: list[list[str]] = []
    if s.seeding == "helper":
        defs.append(seed_helper(s))
    if s.style == "cli":
        defs.append(parse_args(s))
    defs += [load_data(s), add_features(s)]
    if s.path == "pipeline":
        defs.append(build_pipeline(s))
    elif s.path == "manual":
        defs.append(make_model(s))
    defs.append(evaluate(s))
    defs.append(plot_curves(s))
    if s.clf and "confusion" in s.extras:
        defs.append(plot_confusion(s))
    if "importance" in s.extras:
        defs.append(plot_importance(s))
    defs.append(save_artifacts(s))
    tail = orchestration(s)
    consts = constants(s)
    head = [*docstring(s), "", *render_imports(s.imports), "", *consts]
    out = head
    for block in [*defs, *tail]:
        out += ["", "", *block]
    return out


# --------------------------------------------------------------------------- the corpus


def file_name(s: Script) -> str:
    return f"{s.domain.key}_{s.model.key}_{s.index + 1:02d}.py"


def plan(index: int, rng: random.Random) -> Script:
    mistakes = MISTAKES.get(index, ())
    domain = DOMAINS[index % len(DOMAINS)]
    paths = [NEEDS_PATH[m] for m in mistakes if m in NEEDS_PATH]
    path = paths[0] if paths else rng.choice(["pipeline", "pipeline", "manual", "boosted"])
    if "unseeded_forest" in mistakes and path == "boosted":
        path = "pipeline"  # the forest is a scikit-learn model
    candidates = [m for m in MODELS if m.task == domain.task]
    if path == "boosted":
        candidates = [m for m in candidates if m.family != "sklearn"]
    else:
        candidates = [m for m in candidates if m.family == "sklearn"]
    if "unseeded_forest" in mistakes:
        candidates = [m for m in candidates if m.key.startswith("rf")]
    model = rng.choice(candidates)
    seed_name = rng.choice(["SEED", "SEED", "RANDOM_STATE", "RANDOM_SEED"])
    seeding = rng.choice(["none", "numpy", "helper"])
    if any(m in NO_GLOBAL_SEED for m in mistakes):
        seeding = "none"
    load = rng.choice(["csv", "csv", "parquet_join", "sql"])
    if "db_password" in mistakes:
        load = "sql"
    elif any(m in ("home_path",) for m in mistakes):
        load = "csv"
    split = rng.choice(["stratified", "stratified", "time", "permutation"])
    if "unseeded_permutation" in mistakes:
        split = "permutation"
    elif (
        "early_stopping_on_test" in mistakes
        or "unseeded_split" in mistakes
        or "scale_before_split" in mistakes
    ):
        split = "stratified"
    validation = rng.choice(["cv", "grid", "random"])
    if path == "boosted":
        save = rng.choice(["native", "native", "joblib"])
    else:
        save = rng.choice(["joblib", "joblib", "pickle", "skops"])
    # optional blocks in a per-file order: the last ones are dropped if the file gets long
    extras = tuple(
        rng.sample(("importance", "confusion", "baseline", "refit_all", "tracking"), k=3)
    )
    if "threshold_on_test" in mistakes and domain.task != "clf":
        raise AssertionError("threshold mistake needs a classifier")
    return Script(
        index=index,
        domain=domain,
        model=model,
        path=path,
        style=rng.choice(["cli", "cli", "notebook"]),
        seed_name=seed_name,
        seeding=seeding,
        load=load,
        split=split,
        validation=validation,
        save=save,
        extras=extras,
        mistakes=mistakes,
    )


def fit_length(script: Script) -> Script:
    """Keep the optional blocks, in the planned order, that fit in MAX_LINES."""
    kept: tuple[str, ...] = ()
    for extra in script.extras:
        trial = replace(script, extras=(*kept, extra), imports=set())
        if len(compose(trial)) <= MAX_LINES:
            kept = trial.extras
    return replace(script, extras=kept, imports=set())


def strip_marks(lines: list[str]) -> tuple[list[str], list[dict]]:
    clean, marks = [], []
    for number, line in enumerate(lines, start=1):
        if SENTINEL in line:
            text, code = line.split(SENTINEL)
            marks.append({"line": number, "code": code})
            line = text
        if len(line) > WIDTH:
            raise AssertionError(f"line {number} longer than {WIDTH}: {line!r}")
        clean.append(line)
    return clean, marks


def generate(out: Path) -> dict:
    rng = random.Random(20240611)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.py"):
        old.unlink()
    manifest: dict = {"generator": "benchmarks/make_static_corpus.py", "files": {}}
    for index in range(COUNT):
        script = fit_length(plan(index, rng))
        lines, marks = strip_marks(compose(script))
        name = file_name(script)
        planted = zip_marks(marks, script)
        if {what for _, what in planted} != set(script.mistakes):
            raise AssertionError(f"{name}: planted {planted}, wanted {script.mistakes}")
        target = out / name
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        py_compile.compile(str(target), doraise=True, cfile=str(out / ".compiled.pyc"))
        manifest["files"][name] = {
            "clean": not script.mistakes,
            "mistakes": [{**mark, "what": what} for mark, what in planted],
            "lines": len(lines),
            "layout": f"{script.path}/{script.style}/{script.model.key}",
        }
    (out / ".compiled.pyc").unlink(missing_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def zip_marks(marks: list[dict], script: Script) -> list[tuple[dict, str]]:
    """Pair each mark with the name of the mistake that planted it (by code)."""
    by_code = {
        "MLC001": ("scale_before_split", "scale_columns_before_split"),
        "MLC002": ("refit_scaler_on_test",),
        "MLC003": ("early_stopping_on_test", "threshold_on_test"),
        "MLC004": ("cv_over_prescaled", "scale_columns_before_split"),
        "MLC005": ("target_rate_feature",),
        "MLC101": ("unseeded_forest", "unseeded_split"),
        "MLC102": ("unseeded_sample",),
        "MLC103": ("unseeded_permutation",),
        "MLC105": ("set_ordered_features",),
        "MLC201": ("home_path", "home_output_dir"),
        "MLC202": ("db_password",),
    }
    pairs = []
    for mark in marks:
        names = [m for m in script.mistakes if m in by_code[mark["code"]]]
        pairs.append((mark, names[0]))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus directory")
    args = parser.parse_args(argv)
    manifest = generate(args.out)
    files = manifest["files"]
    dirty = {n: f for n, f in files.items() if not f["clean"]}
    sizes = sorted(f["lines"] for f in files.values())
    print(
        f"wrote {len(files)} scripts to {args.out} ({len(files) - len(dirty)} clean, "
        f"{len(dirty)} with planted mistakes); lines min {sizes[0]}, "
        f"median {sizes[len(sizes) // 2]}, max {sizes[-1]}"
    )
    for name, entry in dirty.items():
        planted = ", ".join(f"{m['code']}@{m['line']} ({m['what']})" for m in entry["mistakes"])
        print(f"  {name}: {planted}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
