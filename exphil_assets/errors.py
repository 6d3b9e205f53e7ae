"""Errors a user can act on. The CLI prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input from the user: a missing folder, a bad option, an unreadable file."""
