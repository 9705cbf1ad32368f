"""commands for stepstones."""
