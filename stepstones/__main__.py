"""`python -m stepstones` runs the CLI."""

from stepstones.cli import main

# Guarded: engines that start worker processes by spawning (vLLM) re-import the main module.
if __name__ == "__main__":
    main()
