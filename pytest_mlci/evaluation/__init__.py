"""Stage 4: metrics, paired comparison with the production baseline, and the evaluation run."""
