"""celeris.tracing: OpenTelemetry spans per request (extra ``celeris[tracing]``).

```python
from celeris.tracing import Tracing

Tracing(app=app)                          # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT when set
Tracing(app=app, endpoint="http://collector:4318", db=db)
```
"""

from celeris.tracing.step import RequestSpans
from celeris.tracing.tracing import Tracing, otlp_exporter

__all__ = ["RequestSpans", "Tracing", "otlp_exporter"]
