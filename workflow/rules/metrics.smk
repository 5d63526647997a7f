"""Stage: metrics (see DESIGN.md)."""
