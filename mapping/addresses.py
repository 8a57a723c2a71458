"""Which ATTENDEE addresses of a client's object the mapping looks up by e-mail."""

from __future__ import annotations

from typing import Any

from icalendar import Calendar

from mapping.preserve import address_key
from mapping.validate import main_components

CRM_URNS = ("urn:x-crm:user:", "urn:x-crm:person:", "urn:x-crm:resource:")
"""ATTENDEEs naming a CRM record by id (``urn:x-crm:person:7``): looked up by id, not by e-mail."""


def attendee_addresses(cal: Calendar) -> list[str]:
    """The addresses :func:`mapping.to_followup` looks up in the directory by
    e-mail (its main event's ATTENDEEs but those naming a CRM record by id),
    so a directory can look them up together first."""
    master = next((c for c in main_components(cal) if "RECURRENCE-ID" not in c), None)
    if master is None or master.name != "VEVENT":
        return []
    values: Any = master.get("ATTENDEE")
    keys = (address_key(str(v).strip()) for v in (values if isinstance(values, list) else
                                                    [values] if values is not None else []))
    return [key for key in keys if not any(key.startswith(p) and key[len(p):].isdigit() for p in CRM_URNS)]
