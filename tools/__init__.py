"""Floor 0: records, sandbox, bank, seeds, dedup and export. Knows no agent and no graph."""
