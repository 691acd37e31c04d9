"""Testing support: Hypothesis strategies for the wire types (needs the ``test`` extra)."""
