"""360 review cycles: a subject, invited reviewers with private links, their reviews, and
the AI summary of them, regenerated (coalesced) as reviews arrive."""
