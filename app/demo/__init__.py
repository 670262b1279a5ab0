"""`arena demo`: the tiny art gallery, seeded from real photographs shipped in scikit-image."""
