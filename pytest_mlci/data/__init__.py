"""Stage 2: reading datasets and validating them (schema, volume; more checks grow here)."""
