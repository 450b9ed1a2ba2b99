"""Production monitoring: drift against the reference profile, data quality, service health, KPI movement, cost."""
