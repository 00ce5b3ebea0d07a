"""pytest-mlci: CI/CD for machine learning in pytest, pre-commit, DVC and MLflow.

Importing this package must stay cheap: pre-commit hooks and the pytest plugin import it
on every run, so nothing heavy (mlflow, dvc, pandas, sklearn) is imported at module level
anywhere under ``pytest_mlci`` except inside the functions that need it.
"""

import warnings

__version__ = "0.1.0"

#: pyspark 4 warns on import when pandas is 3.x; pandera imports pyspark.pandas whenever
#: pyspark is installed (the ``[spark]`` extra), so every schema check would print it. What
#: this package uses of pyspark (Arrow batches, ``mapInPandas``) works with pandas 3.
PYSPARK_PANDAS_WARNING = "PySpark does not yet fully support pandas"
warnings.filterwarnings("ignore", message=PYSPARK_PANDAS_WARNING, category=FutureWarning)
