"""celeris.cli."""
