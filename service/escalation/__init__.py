"""Escalation: policies and team routing, how an escalation moves (pure), who a step pages, and use
cases.
"""
