"""One application per contender, all answering the same endpoints (see bench/README.md)."""
