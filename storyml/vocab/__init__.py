"""Vocabulary grown from lexical sources (WordNet, faker, wordfreq): `storyml vocab import`."""

from .importer import run_import

__all__ = ["run_import"]
