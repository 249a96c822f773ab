"""celeris.server."""
