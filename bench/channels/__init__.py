"""WebSocket fan-out: celeris Channels against Django Channels with channels_redis (issue 18)."""
