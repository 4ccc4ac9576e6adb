"""Which trial is best, and how sure: leaderboards, intervals on a score, tie verdicts.

Below every layer that ranks (search's extension and repeats, the phases of a run, the
report, export): pure DataFrame-in, DataFrame-out functions and their statistics.
"""
