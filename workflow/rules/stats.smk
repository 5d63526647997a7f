"""Stage: stats (see DESIGN.md)."""
