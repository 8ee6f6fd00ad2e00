"""kdcore."""
