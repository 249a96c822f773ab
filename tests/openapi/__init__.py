"""Tests of celeris.openapi."""
