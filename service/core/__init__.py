"""What every capability shares: domain errors, the clock, the wall-clock (DST) rule, field limits,
caller documents, result pages and metrics.
"""
