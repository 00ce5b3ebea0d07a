"""The Spark engine: data checks and evaluation where the data lives, on the team's Spark.

Nothing here is imported unless a dataset or the evaluation says ``engine = "spark"``; pyspark
is the optional extra ``pytest-mlci[spark]``. Spark reads, partitions, shuffles and merges;
the numbers it returns are the same mergeable statistics the local engine computes (counts,
fine-bin histograms, category counts, confusion counts, bootstrap sums), turned into verdicts
by the same code, so the two engines cannot disagree beyond the documented sketch bounds.
"""
