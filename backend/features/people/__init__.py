"""People of a tenant: who feedback, evaluations and reports are about, and which
principals (API keys' owners) act as them."""
