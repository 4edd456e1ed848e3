"""factory-tui: an autonomous software factory you run from a terminal."""

__version__ = "0.1.0"
