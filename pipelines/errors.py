"""The project's own errors: mistakes a user can fix (a setting, a folder, the data, a checkpoint).

Each message says what is wrong and what to do about it, in one line. The
command line prints it as `lineage <command>: <message>` and exits with code
2; any other exception is a bug and keeps its traceback.
"""


class LineageError(Exception):
    """Base of the errors the command line reports in one line."""


class ConfigError(LineageError, ValueError):
    """A setting is invalid, or contradicts the run folder it is given."""
