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
    "Permanent",
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


class Permanent(JobError):
    """Raised by a job: a failure that retrying cannot fix; the job goes to the dead letters.

    ``raise Permanent("the address does not exist") from error`` ends the job at once, whatever
    retries it has left, with this error (and its cause) as the dead letter's last error.
    """


class JobCancelled(JobError):
    """``await handle.result()`` on a job that was cancelled."""
