"""Errors that the CLI turns into one line and a non-zero exit code, never a traceback."""


class TextclsError(Exception):
    """A problem with the user's input: its message is meant to be shown as it is."""


class ConfigError(TextclsError):
    pass


class DataError(TextclsError):
    pass


class RunError(TextclsError):
    pass
