"""celeris: one Python web framework, from one file to a full stack."""
