"""Stage: generate (see DESIGN.md)."""
