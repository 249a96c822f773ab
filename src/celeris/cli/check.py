"""``celeris check --deploy``: the deployment checks of ``celeris.checks`` on an app."""

from __future__ import annotations

import json
import sys

import click

from celeris.checks import CHECK_IDS, deploy_checks
from celeris.cli.serve import Command, config_options, fail, load_app


@click.command(cls=Command)
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--deploy", is_flag=True, help="Run the deployment checks (the only set so far).")
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit with status 1 on findings of this level or worse.",
)
@click.option("--skip", multiple=True, metavar="ID", help="Leave out a check (e.g. deploy.W003).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON array.")
@config_options(only=["factory"])
def check(
    target: str,
    deploy: bool,
    fail_level: str,
    skip: tuple[str, ...],
    as_json: bool,
    factory: bool,
) -> None:
    """Check the app MODULE:ATTR for settings a production deployment must not keep."""
    if not deploy:
        fail("say which checks to run: celeris check --deploy MODULE:ATTR")
    unknown = sorted(set(skip) - set(CHECK_IDS))
    if unknown:
        fail(f"unknown check ids: {', '.join(unknown)} (known: {', '.join(CHECK_IDS)})")
    app = load_app(target, factory=factory)
    findings = [f for f in deploy_checks(app) if f.id not in skip]
    if as_json:
        rows = [{"id": f.id, "message": f.message, "hint": f.hint} for f in findings]
        click.echo(json.dumps(rows, indent=2))
    elif not findings:
        click.echo("No problems found.")
    else:
        for finding in findings:
            click.echo(f"{finding.id}: {finding.message}\n    HINT: {finding.hint}")
        errors = sum(f.is_error for f in findings)
        click.echo(f"{errors} error(s), {len(findings) - errors} warning(s).")
    failing = [f for f in findings if f.is_error or fail_level == "warning"]
    if failing:
        sys.exit(1)
