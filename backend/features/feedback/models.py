"""Every model of the people and feedback features, for the metadata."""

import backend.features.evaluations.models  # noqa: F401
import backend.features.people.models  # noqa: F401
import backend.features.reviews.models  # noqa: F401
