"""Teams: the groups that own alerts, integrations, schedules and policies."""
