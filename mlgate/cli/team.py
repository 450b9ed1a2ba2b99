"""CLI commands of the team setup: `mlgate server` and `mlgate webhook register|list|delete|listen`."""

from __future__ import annotations

import os

import click

from mlgate.cli.render import emit_json, table

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _secret(var: str) -> str:
    from mlgate.exceptions import ConfigError

    value = os.environ.get(var, "")
    if not value:
        raise ConfigError(f"the webhook secret variable {var} is not set", f"export {var}=<a long random string>")
    return value


@click.command()
@click.option("--profile", envvar="MLGATE_SERVER_PROFILE", help="Server profile in mlflow_config/ (e.g. team).")
@click.option("--host", help="Interface to listen on (default from the profile: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from the profile: 5000).")
@click.option("--dry-run", is_flag=True, help="Print the plan (passwords redacted) and start nothing.")
@json_option
def server(profile: str | None, host: str | None, port: int | None, dry_run: bool, as_json: bool) -> None:
    """Start `mlflow server` over the configured store (embedded sqlite, or --profile team: PostgreSQL)."""
    from mlgate.config import load_settings
    from mlgate.team.server import exec_server, plan_server

    env = dict(os.environ)
    if profile:
        env.pop("MLGATE_PROFILE", None)  # the client profile points at the server itself
    plan = plan_server(load_settings(env), profile or None, host=host, port=port)
    if as_json:
        emit_json(plan.to_dict())
    else:
        click.echo(plan.describe(), err=not dry_run)
    if not dry_run:
        exec_server(plan)


@click.group()
def webhook() -> None:
    """MLflow registry webhooks that report alias moves made outside mlgate."""


@webhook.command("register")
@click.argument("name")
@click.option("--url", required=True, help="Where MLflow delivers: the receiver's .../webhooks/mlflow URL.")
@click.option("--secret-env", required=True, help="Environment variable holding the signing secret.")
@json_option
def webhook_register(name: str, url: str, secret_env: str, as_json: bool) -> None:
    """Create (or update) webhook NAME for alias created / deleted events, signed with the secret."""
    from mlgate import api
    from mlgate.team.webhooks import register_webhook

    secret = _secret(secret_env)
    info = register_webhook(api.connect(), name, url, secret)
    if as_json:
        emit_json(info.to_dict())
        return
    click.echo(f"webhook {info.name} ({info.id}) -> {info.url}: {', '.join(info.events)} [{info.status}]")


@webhook.command("list")
@json_option
def webhook_list(as_json: bool) -> None:
    """List the webhooks registered on the MLflow server."""
    from mlgate import api
    from mlgate.team.webhooks import list_webhooks

    found = list_webhooks(api.connect())
    if as_json:
        emit_json([w.to_dict() for w in found])
        return
    click.echo(
        table(
            ["name", "id", "url", "events", "status"],
            [(w.name, w.id, w.url, ",".join(w.events), w.status) for w in found],
        )
    )


@webhook.command("delete")
@click.argument("name")
def webhook_delete(name: str) -> None:
    """Delete webhook NAME."""
    from mlgate import api
    from mlgate.team.webhooks import delete_webhook

    click.echo(f"deleted webhook {name}" if delete_webhook(api.connect(), name) else f"no webhook named {name}")


@webhook.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--secret-env", required=True, help="Environment variable holding the signing secret.")
def webhook_listen(host: str, port: int, secret_env: str) -> None:
    """Receive deliveries at /webhooks/mlflow: verify, record unmanaged alias moves, alert the owner."""
    import uvicorn

    from mlgate import api
    from mlgate.alerts import AlertRouter
    from mlgate.team.webhooks import RECEIVER_PATH, receiver_app

    secret = _secret(secret_env)
    registry = api.connect()
    app = receiver_app(registry, secret, AlertRouter(registry.settings, registry=registry))
    click.echo(f"receiving MLflow webhooks on http://{host}:{port}{RECEIVER_PATH}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [server, webhook]
