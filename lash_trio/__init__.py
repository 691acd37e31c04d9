"""trio driver for lash (the inline effect host arrives with the drivers release)."""
