"""mailbeam transforms layer."""
