"""families for stepstones."""
