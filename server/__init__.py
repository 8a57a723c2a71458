"""Application services, the calendar projection, CLI, configuration and WSGI app."""
