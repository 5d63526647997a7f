"""Stage: report (see DESIGN.md)."""
