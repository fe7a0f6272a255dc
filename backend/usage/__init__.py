"""A tenant's language model usage over HTTP (the rows are written by backend.llm)."""
