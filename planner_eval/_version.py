"""The one place the toolkit's version is written; pyproject.toml and every package read it here."""

__version__ = "0.1.0"
