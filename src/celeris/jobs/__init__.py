"""celeris.jobs: background jobs and cron schedules with the handlers' dependency injection.

```python
from celeris.jobs import Jobs

jobs = Jobs(app=app)                       # JOBS_URL, else the app's Database, else jobs.db

@jobs.job(retries=5, timeout=30)
async def send_welcome(user_id: int) -> None: ...

handle = await send_welcome.enqueue(42, delay=60)   # .id, await .status(), await .result()
```

Run them with ``celeris worker myapp:app``. See docs/jobs.md.
"""

from celeris.jobs.base import Backend, JobRecord, State
from celeris.jobs.cron import Schedule
from celeris.jobs.errors import (
    CronError,
    JobArgumentError,
    JobCancelled,
    JobError,
    JobFailed,
    JobNotFound,
    JobsConfigError,
    Permanent,
)
from celeris.jobs.events import JobEvent, Metrics
from celeris.jobs.job import Job, JobHandle
from celeris.jobs.jobs import Jobs
from celeris.jobs.worker import Worker, backoff_delay

__all__ = [
    "Backend",
    "CronError",
    "Job",
    "JobArgumentError",
    "JobCancelled",
    "JobError",
    "JobEvent",
    "JobFailed",
    "JobHandle",
    "JobNotFound",
    "JobRecord",
    "Jobs",
    "JobsConfigError",
    "Metrics",
    "Permanent",
    "Schedule",
    "State",
    "Worker",
    "backoff_delay",
]
