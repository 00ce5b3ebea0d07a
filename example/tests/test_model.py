"""Evaluation tests of the bundled example, run by `pytest --mlci` (and by `mlci run`).

They use pytest-mlci's fixtures: the candidate model, the validated evaluation data and the
production baseline, all loaded once per session and shared with the gates.
"""

import numpy as np


def test_scores_are_probabilities(mlci_model, mlci_data):
    features = mlci_data.drop(columns=["converted"]).head(500)
    scores = mlci_model.predict_proba(features)[:, 1]
    assert scores.shape == (len(features),)
    assert np.all((scores >= 0) & (scores <= 1))


def test_an_unseen_channel_does_not_break_scoring(mlci_model, mlci_data):
    rows = mlci_data.drop(columns=["converted"]).head(20).copy()
    rows["channel"] = "podcast"
    assert np.isfinite(mlci_model.predict_proba(rows)).all()


def test_agrees_with_production_on_most_rows(mlci_model, mlci_baseline, mlci_data):
    features = mlci_data.drop(columns=["converted"]).head(2000)
    agreement = np.mean(mlci_model.predict(features) == mlci_baseline.predict(features))
    assert agreement >= 0.8, f"candidate and production disagree on {1 - agreement:.0%} of rows"
