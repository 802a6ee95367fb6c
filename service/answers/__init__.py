"""Answers to pages: SMS replies and keypresses (pure), signed acknowledge links, and their use
cases.
"""
