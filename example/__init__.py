"""The bundled reference project: synthetic marketing-conversion data, a DVC pipeline and a schema.

It exists so the quickstart has something real to gate: a learnable-but-noisy signal, knobs that
inject drift, label bias and leakage, and a model trained and evaluated by ``dvc repro``.
"""
