"""Tag keys and artifact paths, importable as ``mlgate.keys``: they live in mlgate.registry.keys."""

from mlgate.registry.keys import *  # noqa: F403
