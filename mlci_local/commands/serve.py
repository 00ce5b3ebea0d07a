"""``mlci serve``: the local serving router (production, and the candidate during a rollout)."""

from __future__ import annotations

import ipaddress

import click

from mlci_local.workspace import Workspace, pass_workspace


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@pass_workspace
def command(workspace: Workspace, host: str, port: int) -> None:
    """Serve the production model over HTTP, splitting traffic to the candidate during a rollout.

    POST /invocations takes MLflow's scoring formats (dataframe_split, dataframe_records,
    instances, inputs, CSV) and answers {"predictions": [...]}; a request the models cannot
    take (a missing column, a wrong type, NaN, no rows) is a 400 naming the column, a body over
    [tool.mlci.serve] max_body_mb (default 5) a 413. GET /health reports versions and weight;
    POST /feedback records delayed labels by request id. The split follows
    .mlci/rollout/<model>.json (written by `mlci canary`) and changes without a restart.
    Requests are logged to .mlci/rollout/requests.jsonl.
    """
    from mlci_local.rollout.router import build_app, run_server
    from mlci_local.rollout.state import rollout_dir

    config = workspace.config
    app = build_app(config)
    status, health = app.state.router.health()
    production = health["production"]
    if status == 200:
        click.echo(f"{config.model}: production v{production['version']} loaded")
    else:
        click.secho(
            f"{config.model}: production not loaded ({production['error']}); "
            "/health answers 503 until it loads",
            fg="yellow",
            err=True,
        )
    if health["rollout_refused"]:
        click.secho(
            f"rollout state refused, production serves all traffic: {health['rollout_refused']}",
            fg="yellow",
            err=True,
        )
    if health["mode"] != "none":
        candidate = health["candidate"]
        state = "loaded" if candidate["loaded"] else f"not loaded ({candidate['error']})"
        click.echo(
            f"rollout: {health['mode']} of v{candidate['version']} at "
            f"{health['weight']:.0%} (step {health['step']}), candidate {state}"
        )
    if not _is_loopback(host):
        click.secho(
            f"warning: listening on {host}, reachable from other machines; the router has no "
            "authentication",
            fg="yellow",
            err=True,
        )
    click.echo(f"request log: {rollout_dir(config) / 'requests.jsonl'}")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL needs brackets
    click.echo(f"serving on http://{shown}:{port} (Ctrl+C to stop)")
    run_server(app, host=host, port=port)
