"""The celeris showcase app."""
