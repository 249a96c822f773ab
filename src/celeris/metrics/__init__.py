"""celeris.metrics: ``/metrics`` in the Prometheus format (extra ``celeris[metrics]``).

```python
from celeris.metrics import Metrics

Metrics(app=app)   # requests by route template, method, status; latency; in flight;
                   # WebSocket connections; the app's cache hits/misses and job counters
```
"""

from celeris.metrics.metrics import DEFAULT_BUCKETS, Metrics, multiprocess_dir
from celeris.metrics.step import UNMATCHED, RequestMetrics, WebSocketConnections

__all__ = [
    "DEFAULT_BUCKETS",
    "UNMATCHED",
    "Metrics",
    "RequestMetrics",
    "WebSocketConnections",
    "multiprocess_dir",
]
