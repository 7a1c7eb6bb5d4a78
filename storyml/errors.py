"""Errors the CLI reports in one line with exit code 2, without a traceback."""


class UserError(Exception):
    """Bad input that is not a spec problem: a missing file, a bad flag value, a stale artifact."""
