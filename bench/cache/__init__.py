"""Issue 15's cached-route benchmark: celeris with and without its response cache, FastAPI."""
