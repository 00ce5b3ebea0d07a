"""mlci_local: the local runner behind the ``mlci`` command.

It drives the seven stages (DVC for training, pytest with the pytest-mlci plugin for
evaluation, the MLflow registry for registration and promotion) and owns every write to the
registry and the audit ledger. It imports ``pytest_mlci``; ``pytest_mlci`` never imports it.
"""

__version__ = "0.1.0"
