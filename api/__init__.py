"""concernlog: the application shell (settings, database, security, errors, CLI)."""
