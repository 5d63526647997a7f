"""culturalign: measure whose values a large language model speaks for."""

__version__ = "0.1.0"
