"""What a team runs beside mlgate: the MLflow tracking-server profile and registry webhooks."""
