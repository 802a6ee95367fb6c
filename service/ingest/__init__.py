"""Ingest: integrations, what an SNS delivery says, integration rules (pure) and the use cases that
store it.
"""
