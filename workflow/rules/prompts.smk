"""Stage: prompts (see DESIGN.md)."""
