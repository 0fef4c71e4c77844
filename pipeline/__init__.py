"""mailbeam pipeline layer."""
