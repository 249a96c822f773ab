"""celeris.db."""
