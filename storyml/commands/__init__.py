"""Verbs that work on the specs and the generated contract."""
