"""pytest-mlci: CI/CD for machine learning in pytest, pre-commit, DVC and MLflow.

Importing this package must stay cheap: pre-commit hooks and the pytest plugin import it
on every run, so nothing heavy (mlflow, dvc, pandas, sklearn) is imported at module level
anywhere under ``pytest_mlci`` except inside the functions that need it.
"""

__version__ = "0.1.0"
