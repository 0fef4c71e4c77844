"""mailbeam runners layer."""
