"""Tests of the workbook: handouts and notebooks in sync, rubric links, the dev container (no execution)."""
