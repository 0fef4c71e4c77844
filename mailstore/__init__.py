"""mailstore: the Beam-free core of mailbeam (locations, userdb, drivers, names, search)."""
