"""Stage: plots (see DESIGN.md)."""
