"""lash: the pure, synchronous effect core."""
