"""Example training pipelines that call mlgate: the breast-cancer classifier, its contract, card and notebook."""
