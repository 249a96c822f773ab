"""The celeris benchmark suite: celeris side by side with its peers (see bench/README.md)."""
