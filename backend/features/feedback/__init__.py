"""What the feedback features share: provenance of generated summaries, links to the
operations that make them, and the registration of their kinds."""
