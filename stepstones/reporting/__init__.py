"""Run reports: the analysis, tables and plots behind `stepstones report` (needs matplotlib,
the `evals` extra). The experiments under evals/ build on the same pieces."""
