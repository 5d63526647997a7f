"""Errors that name the file, row, column or key at fault."""


class CulturalignError(Exception):
    """Base class for errors a user can act on; the message says where and what."""


class BenchmarkError(CulturalignError):
    """The benchmark workbook (or its download) is unusable."""


class ConfigError(CulturalignError):
    """A configuration key or a file it points to is invalid."""


class TableError(CulturalignError):
    """A table does not match its schema."""
