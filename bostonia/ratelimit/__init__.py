"""Per-user and per-IP request limits (the seed's API gateway), in process."""
