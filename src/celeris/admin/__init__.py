"""celeris.admin: pages generated from SQLAlchemy models for staff (extra ``celeris[admin]``).

```python
from celeris.admin import Admin, ModelAdmin

admin = Admin(app=app, db=db, auth=auth)       # /admin, staff only, per-model permissions

@admin.register(Note)
class NoteAdmin(ModelAdmin):
    list_display = ["title", "author", "created"]
    search_fields = ["title", "body"]
```
"""

from celeris.admin.actions import neutralise
from celeris.admin.checks import AdminConfigError
from celeris.admin.options import InlineAdmin, ModelAdmin, action
from celeris.admin.site import ACTIONS, Admin

__all__ = [
    "ACTIONS",
    "Admin",
    "AdminConfigError",
    "InlineAdmin",
    "ModelAdmin",
    "action",
    "neutralise",
]
