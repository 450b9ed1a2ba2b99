"""The registry's webhooks as MLflow stores them: list, create or update by name, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.registry.client import Registry


def list_webhooks(registry: Registry) -> list[Any]:
    """Every webhook on the server, as MLflow returns them (needs an admin on a basic-auth server)."""
    return list(registry.call("listing webhooks", registry.client.list_webhooks, max_results=1000))


def save_webhook(
    registry: Registry, name: str, url: str, events: list[str], secret: str, description: str, existing_id: str | None
) -> Any:
    """Create the webhook ``name``, or update the one with ``existing_id``, active and signed with ``secret``."""
    if existing_id is not None:
        return registry.call(
            f"updating webhook {name!r}", registry.client.update_webhook, existing_id,
            url=url, events=events, secret=secret, status="ACTIVE", description=description,
        )  # fmt: skip
    return registry.call(
        f"creating webhook {name!r}", registry.client.create_webhook,
        name=name, url=url, events=events, secret=secret, description=description,
    )  # fmt: skip


def delete_webhook(registry: Registry, webhook_id: str) -> None:
    """Delete the webhook ``webhook_id``."""
    registry.call(f"deleting webhook {webhook_id}", registry.client.delete_webhook, webhook_id)
