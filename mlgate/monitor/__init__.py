"""Production monitoring: reference profiles, drift, data quality, service health, business KPIs, cost."""
