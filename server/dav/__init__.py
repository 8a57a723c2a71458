"""HTTP: the WSGI application, the PUT path, the one error table, the
server process and Radicale's configuration."""
