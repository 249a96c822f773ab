"""celeris.testing."""
