"""The command line the programs share: --help and --version (and, for ai-system-ask, its
question).

The services' settings are environment variables (config.py, services/README.md), so a stray
argument is a mistake worth refusing rather than ignoring.
"""

from __future__ import annotations

import argparse

from ai_system import __version__

SETTINGS_HELP = ("Every setting is an environment variable (secrets may come from a file named "
                 "by <NAME>_FILE); services/README.md lists them with their defaults.")


def parser(program: str, description: str,
           epilog: str | None = SETTINGS_HELP) -> argparse.ArgumentParser:
    """A parser with --help (the description and, by default, where the settings are) and
    --version."""
    result = argparse.ArgumentParser(prog=program, description=description, epilog=epilog)
    result.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return result
