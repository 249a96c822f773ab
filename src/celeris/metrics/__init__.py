"""celeris.metrics: ``/metrics`` in the Prometheus format (extra ``celeris[metrics]``).

```python
from celeris.metrics import Metrics

Metrics(app=app)   # requests by route template, method, status; latency; in flight
```
"""

from celeris.metrics.metrics import DEFAULT_BUCKETS, Metrics, multiprocess_dir
from celeris.metrics.step import UNMATCHED, RequestMetrics

__all__ = ["DEFAULT_BUCKETS", "UNMATCHED", "Metrics", "RequestMetrics", "multiprocess_dir"]
