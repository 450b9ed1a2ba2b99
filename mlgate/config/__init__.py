"""Configuration: the one typed settings object, the one reader of mlflow_config/*.yaml, one duration grammar."""

from __future__ import annotations

from mlgate.config.settings import CONFIG_FILE, DEFAULT_CONFIG_DIR, Aliases, Settings, load_settings, redact_uri

__all__ = ["CONFIG_FILE", "DEFAULT_CONFIG_DIR", "Aliases", "Settings", "load_settings", "redact_uri"]
