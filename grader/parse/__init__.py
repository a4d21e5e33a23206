"""Parsing the student's files without an engine: Dockerfiles and shell words (the lowest layer above
the leaf modules)."""
