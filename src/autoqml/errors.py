"""The one error family users see: every message names what, the value received, and the fix."""


class AutoQMLError(Exception):
    """Base of every error autoqml raises on purpose."""


class ConfigError(AutoQMLError, ValueError):
    """The study config is malformed; the message starts with the field path."""


class DataError(AutoQMLError, ValueError):
    """A data set is missing, unreadable or unusable for the requested discretization."""


class CircuitError(AutoQMLError, ValueError):
    """A circuit cannot be built or simulated as asked."""
