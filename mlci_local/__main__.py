"""``python -m mlci_local``: the same as the ``mlci`` command."""

import sys

from mlci_local.cli import main

sys.exit(main())
