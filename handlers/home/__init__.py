"""The App Home tab (its app_home_opened event is a row of handlers/events' table)."""
