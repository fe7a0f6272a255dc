"""Reports on a person over a period: cached, refreshed in the background, and never
generated twice at once."""
