"""Error tickets: every unhandled exception stored, redacted, grouped; a Sentry-compatible DSN.

``Tickets(app=app, db=db)``; see docs/tickets.md.
"""

from celeris.tickets.base import Ticket, TicketGroup, TicketStore
from celeris.tickets.errors import TicketsConfigError
from celeris.tickets.redact import Redactor
from celeris.tickets.tickets import Tickets

__all__ = ["Redactor", "Ticket", "TicketGroup", "TicketStore", "Tickets", "TicketsConfigError"]
