"""celeris.core."""
