"""Radicale plugins: thin adapters from Radicale's plugin API to ``server``.

Use them in a Radicale configuration::

    [auth]
    type = plugins.auth
    [rights]
    type = plugins.rights
    [storage]
    type = plugins.storage
    database_url = sqlite:////var/lib/followup-caldav/followups.db
"""
