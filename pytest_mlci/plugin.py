"""pytest hooks of pytest-mlci (placeholder until the plugin lands)."""
