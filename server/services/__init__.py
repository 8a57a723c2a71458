"""The application layer: the CRM's operations, the calendar projection,
the CalDAV side's reads and writes, logins and application errors. No HTTP."""
