"""CLI command of the serving gateway: serve."""

from __future__ import annotations

import click


@click.command()
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--version", help="Serve this version only instead of following the production/canary aliases.")
@click.option("--access-log", is_flag=True, help="Log every request (costs throughput).")
def serve(name: str, host: str, port: int, workers: int, version: str | None, access_log: bool) -> None:
    """Serve NAME over HTTP (MLflow's scoring protocol), following its production and canary aliases."""
    from mlgate.extras import require_extra
    from mlgate.serving import serve as run

    require_extra("serve", "mlgate serve")  # before the banner: a missing extra is one line
    click.echo(f"mlgate gateway for {name} on http://{host}:{port} ({workers} worker(s)); Ctrl-C stops it", err=True)
    run(name, host=host, port=port, workers=workers, version=version, access_log=access_log)


COMMANDS = [serve]
