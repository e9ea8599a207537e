"""``python -m aipctl`` runs the command line."""

from aipctl.cli.main import run

run()
