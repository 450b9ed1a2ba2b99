"""Rollback: the plan that answers the checklist, its execution, and the runbook."""
