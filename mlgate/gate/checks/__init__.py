"""The built-in checks, one module per area of the release checklist (listed in mlgate.gate.builtin)."""
