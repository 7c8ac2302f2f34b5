"""One Function per op, grouped by family. Each module also exposes snake_case wrappers."""
