"""Errors that the CLI turns into one line and a non-zero exit code, never a traceback."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message as one line, for a one-line error: its first line, at most `limit`
    characters (its type's name when it says nothing)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class TextclsError(Exception):
    """A problem with the user's input: its message is meant to be shown as it is."""

    exit_code = 1

    def __str__(self) -> str:
        # One line, whatever a quoted value brings in (a column name or a cell with a line break).
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(TextclsError):
    pass


class DataError(TextclsError):
    pass


class RunError(TextclsError):
    pass


class Interrupted(TextclsError):
    """Stopped by a signal: exits 128 + its number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, what: str):
        import signal

        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(f"{signal.Signals(signum).name}: {what}")
