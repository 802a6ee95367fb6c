"""What every capability shares: domain errors, the clock, the wall-clock (DST) rule, ids,
field limits, caller documents, result pages, metrics, and the connection protocol and SQL
dialect every capability's SQL is written against (`database`).
"""
