"""Everything with I/O runs here, outside the deterministic workflow."""
