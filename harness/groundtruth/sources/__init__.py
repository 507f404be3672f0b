"""Ground-truth sources: each turns one external format into tables of the HDF5 schema."""
