"""Configuration: the one typed settings object, the one reader of mlflow_config/*.yaml, one duration grammar."""

from __future__ import annotations

from mlgate.config.durations import parse_duration
from mlgate.config.files import check_keys, mapping, parse_yaml, read_text, read_yaml
from mlgate.config.settings import CONFIG_FILE, DEFAULT_CONFIG_DIR, Aliases, Settings, load_settings, redact_uri

__all__ = [
    "CONFIG_FILE", "DEFAULT_CONFIG_DIR", "Aliases", "Settings", "check_keys", "load_settings", "mapping",
    "parse_duration", "parse_yaml", "read_text", "read_yaml", "redact_uri",
]  # fmt: skip
