"""celeris.middleware."""
