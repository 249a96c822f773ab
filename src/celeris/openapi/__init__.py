"""celeris.openapi."""
