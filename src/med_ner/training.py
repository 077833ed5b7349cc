"""Train a pipeline from a config, offline by default.

A thin wrapper of `spacy train` that registers the project's functions, sets
HF_HUB_OFFLINE=1 (unless --online), says which transformer weights it uses,
and fails early with a clear message when they cannot be found.
"""
import os
import sys
from pathlib import Path
from typing import List

import typer


def parse_overrides(args: List[str]) -> dict:
    from spacy.cli._util import parse_config_overrides

    return parse_config_overrides(args)
