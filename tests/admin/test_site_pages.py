"""Users and groups, jobs, and error tickets in the admin."""

from __future__ import annotations

import importlib.util
import re
import time

import pytest
import sqlalchemy as sa

from celeris.auth.models import TOTPDevice

from .conftest import MakeSite, Site


def _site(make_site: MakeSite, **options: object) -> Site:
    site = make_site(**options)
    site.user("root@example.org", superuser=True)
    site.login("root@example.org")
    return site


def test_users_groups_permissions_reset_link_and_2fa_status(make_site: MakeSite) -> None:
    site = _site(make_site)
    member = site.user("ada@example.org", staff=False)

    async def totp() -> None:
        async with site.db.scope() as session:
            session.add(TOTPDevice(user_id=member.id, secret="S" * 32, confirmed=True))

    site.run(totp())
    users = site.page("/admin/users/")
    assert "ada@example.org" in users
    assert users.count("<td>on</td>") == 1
    response = site.post("/admin/groups/", {"name": "Editors"}, token_from="/admin/groups/")
    assert response.status_code == 200
    assert "Group Editors" in response.text
    group_id = re.search(r"/admin/groups/(\d+)/", str(response.url)).group(1)  # type: ignore[union-attr]
    response = site.post(
        f"/admin/groups/{group_id}/",
        [
            ("permissions", "library_book.view"),
            ("permissions", "library_book.change"),
            ("other", "reports.export"),
        ],
        token_from=f"/admin/groups/{group_id}/",
    )
    assert response.status_code == 200
    page = site.page(f"/admin/users/{member.id}/")
    assert 'id="twofa">on<' in page
    response = site.post(
        f"/admin/users/{member.id}/",
        [
            ("is_active", "1"),
            ("is_staff", "1"),
            ("groups", group_id),
            ("permissions", "library_tag.view"),
        ],
        token_from=f"/admin/users/{member.id}/",
    )
    assert response.status_code == 200, response.text[:300]
    held = site.run(site.auth.permissions_of(member))
    assert held == {
        "library_book.view",
        "library_book.change",
        "reports.export",
        "library_tag.view",
    }
    bad = site.post(
        f"/admin/users/{member.id}/",
        {"permissions": "not a permission"},
        token_from="/admin/users/",
    )
    assert bad.status_code == 422
    assert "is not a permission" in bad.text
    reset = site.post(f"/admin/users/{member.id}/reset/", {}, token_from="/admin/users/")
    link = re.search(r'<code id="reset-link">([^<]+)</code>', reset.text)
    assert link
    assert "/auth/password/reset/confirm?token=" in link.group(1)
    # a staff user without auth.view sees no users page
    site.user("bob@example.org", perms=("library_book.view",))
    site.login("bob@example.org")
    assert site.client.get("/admin/users/").status_code == 403
    assert site.client.get(f"/admin/groups/{group_id}/").status_code == 403
    assert "Books" in site.page("/admin/")
    assert "/admin/users/" not in site.page("/admin/")


def test_jobs_page_lists_failed_jobs_and_retries_them(make_site: MakeSite) -> None:
    site = _site(make_site, jobs_url="memory://")
    jobs = site.admin.jobs

    @jobs.job(name="tests.flaky", retries=0)
    async def flaky() -> None:
        raise RuntimeError("boom <b>")

    handle = site.run(flaky.enqueue())
    deadline = time.monotonic() + 10
    while site.run(jobs.get(handle.id)).state.value != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = site.page("/admin/jobs/?state=failed")
    assert handle.id in page
    assert "boom &lt;b&gt;" in page
    assert "Retry" in page
    response = site.post(f"/admin/jobs/{handle.id}/retry/", {}, token_from="/admin/jobs/")
    assert response.status_code == 200
    assert "queued again" in response.text
    assert (
        site.client.get(
            "/admin/jobs/?state=nope", headers={"accept": "application/json"}
        ).status_code
        == 400
    )


@pytest.mark.skipif(
    importlib.util.find_spec("celeris.tickets") is None,
    reason="celeris.tickets is built on the tickets branch; enabled once it is merged",
)
def test_ticket_pages_show_a_failing_route(make_site: MakeSite) -> None:
    from celeris.tickets import Tickets

    def add_tickets(site: Site) -> None:
        site.admin.tickets = Tickets(app=site.app, db=site.db)

        @site.app.get("/boom")
        async def boom() -> None:
            password = "hunter2"  # noqa: F841 -- a local the ticket keeps (redacted)
            raise ZeroDivisionError("<b>division</b> by zero")

    site = make_site(before_start=add_tickets)
    site.user("root@example.org", superuser=True)
    site.login("root@example.org")
    site.client.raise_server_exceptions = False  # the 500 answer, as a client sees it
    failed = site.client.get("/boom", headers={"accept": "application/json"})
    assert failed.status_code == 500
    deadline = time.monotonic() + 10
    while "ZeroDivisionError" not in (page := site.page("/admin/tickets/")):
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    assert "&lt;b&gt;division" in page
    assert "<b>division" not in page
    group_id = re.search(r'href="/admin/tickets/([^/"]+)/"', page).group(1)  # type: ignore[union-attr]
    detail = site.page(f"/admin/tickets/{group_id}/")
    assert "boom" in detail
    assert "/boom" in detail
    assert '<th scope="row">password</th><td><code>hunter2' not in detail  # the local is redacted
    assert '<th scope="row">password</th>' in detail
    resolved = site.post(f"/admin/tickets/{group_id}/resolve/", {}, token_from="/admin/")
    assert "Marked as resolved." in resolved.text
    bad = site.client.get("/admin/tickets/?before=garbage", headers={"accept": "application/json"})
    assert bad.status_code == 400
    gone = site.post(f"/admin/tickets/{group_id}/delete/", {}, token_from="/admin/")
    assert "Ticket deleted." in gone.text
    # resolve and delete share one handler: forged ids are 404 and write no log entry
    for change in ("resolve", "delete"):
        forged = site.post(f"/admin/tickets/{group_id}/{change}/", {}, token_from="/admin/")
        assert forged.status_code == 404, change
    log = site.rows(
        sa.text(
            "SELECT action, object_id FROM celeris_admin_log WHERE model = 'tickets' ORDER BY id"
        )
    )
    assert [tuple(r) for r in log] == [("action:resolve", group_id), ("delete", group_id)]
    # each change needs its own permission
    site.user("viewer@example.org", perms=("tickets.view",))
    site.login("viewer@example.org")
    for change in ("resolve", "delete"):
        refused = site.post(f"/admin/tickets/{group_id}/{change}/", {}, token_from="/admin/")
        assert refused.status_code == 403, change
