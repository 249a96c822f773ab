"""The exceptions of ``celeris.jobs``; configuration errors carry a stable id (``jobs.E001``)."""

from __future__ import annotations

__all__ = [
    "CronError",
    "JobArgumentError",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobNotFound",
    "JobsConfigError",
]


class JobError(Exception):
    """Base class of every jobs error."""


class JobsConfigError(JobError):
    """A configuration mistake found at start-up (unknown scheme, missing driver)."""


class CronError(JobsConfigError):
    """A cron expression that does not parse (``jobs.E002``)."""


class JobArgumentError(JobError, TypeError):
    """Arguments given to ``enqueue`` that do not fit the job or cannot be serialised."""


class JobNotFound(JobError, LookupError):
    """No job has this id."""


class JobFailed(JobError):
    """``await handle.result()`` on a job that ended in the dead-letter list."""

    def __init__(self, job_id: str, error: str | None) -> None:
        super().__init__(f"job {job_id} failed: {error or 'no error recorded'}")
        self.job_id = job_id
        self.error = error


class JobCancelled(JobError):
    """``await handle.result()`` on a job that was cancelled."""
