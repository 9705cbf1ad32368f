"""`python -m stepstones` runs the CLI."""

from stepstones.cli import main

main()
