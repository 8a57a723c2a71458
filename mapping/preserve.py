"""Nothing lost: what a client stored that the mapping does not use, kept and merged back.

``Followup.client_data`` holds a reduced VCALENDAR (text, CRLF):

- its own properties: the client's unused VCALENDAR properties (X-WR-CALNAME,
  X-WR-TIMEZONE, CALSCALE, ...), verbatim;
- the client's own VTIMEZONEs that no IANA zone matches, and unknown
  calendar-level subcomponents, verbatim;
- one VEVENT/VTODO per client component that had something to keep: the
  master (no RECURRENCE-ID) and overrides (RECURRENCE-ID as their key), each
  with the unused properties and subcomponents (other VALARMs, X- components)
  verbatim, and an ``X-CRM-KEEP`` subcomponent with what is merged into
  properties the mapping owns: copies of owned properties carrying the
  client's own parameters (matched by address for ATTENDEE/ORGANIZER, by
  X-CRM-ID / X-CRM-NAME for CONTACT / X-CRM-FIELD, else by name), category
  values besides the type, the original CLASS/STATUS/PERCENT-COMPLETE, and the
  mapped VALARM with its own properties.

Every render lays this over the CRM's current state, so client data survives
CRM-side edits too (the spec's "a client must never lose data it stored").
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from icalendar import Calendar, Component

from mapping.names import (
    CALENDAR_OWNED,
    CLIENT_DATA_PRODID,
    DERIVED_PARAMS,
    KEEP,
    MAIN_COMPONENTS,
    MASTER_OWNED,
    OVERRIDE_OWNED,
)
from mapping.serialize import to_text
from mapping.timezones import UTC_ZONE, normalize, resolve_tzid
from store.domain import Moment

CRM_ID = re.compile(r"^(company|person)/\d+$")
ORIGINAL_VALUES = ("CLASS", "STATUS", "PERCENT-COMPLETE")


def props(comp: Component) -> Iterator[tuple[str, Any]]:
    """The component's own properties, in order, one entry per property line."""
    for name, value in comp.property_items(recursive=False, sorted=False):
        if name not in ("BEGIN", "END"):
            yield name, value


def address_key(address: str) -> str:
    """ATTENDEE/ORGANIZER addresses compare case-insensitively, with or without ``mailto:``."""
    text = str(address).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.casefold()


def prop_key(name: str, value: Any) -> str:
    params = getattr(value, "params", {})
    if name in ("ATTENDEE", "ORGANIZER"):
        return address_key(str(value))
    if name == "CONTACT":
        return str(params.get("X-CRM-ID", "")).casefold()
    if name == "X-CRM-FIELD":
        return str(params.get("X-CRM-NAME", "")).casefold()
    return ""


def rid_key(moment: Moment) -> str:
    """Overrides are matched by the instant of their RECURRENCE-ID (RFC 5545 §3.8.4.4)."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC_ZONE).strftime("%Y%m%dT%H%M%SZ")
    return moment.isoformat()


def _instance_key(comp: Component) -> str:
    """The :func:`rid_key` of a component's RECURRENCE-ID; "" for the master."""
    rid = comp.get("RECURRENCE-ID")
    return rid_key(normalize(rid.dt, rid.params.get("TZID"))) if rid is not None else ""


def is_period(value: Any) -> bool:
    return any(isinstance(getattr(v, "dt", None), tuple) for v in getattr(value, "dts", []))


def wanted_alarm_related(comp: Component) -> str:
    """Which end of the component the CRM's alarm is relative to (RFC 5545 §3.8.6.3).

    Meetings: the start. Tasks: DUE (the end, also DTSTART+DURATION), or the start when only DTSTART is given.
    """
    if comp.name == "VTODO" and ("DUE" in comp or "DURATION" in comp or "DTSTART" not in comp):
        return "END"
    return "START"


def alarm_minutes_of(alarm: Component, related: str) -> int | None:
    """The lead time in minutes of a DISPLAY/AUDIO alarm relative to ``related``, else None."""
    if str(alarm.get("ACTION", "")).upper() not in ("DISPLAY", "AUDIO") or "TRIGGER" not in alarm:
        return None
    trigger = alarm["TRIGGER"]
    delta = getattr(trigger, "dt", None)
    if not isinstance(delta, timedelta):
        return None
    if str(trigger.params.get("RELATED", "START")).upper() != related:
        return None
    seconds = -delta.total_seconds()
    if seconds < 0 or seconds % 60:
        return None
    return int(seconds // 60)


def mapped_alarm(comp: Component) -> Component | None:
    """The first DISPLAY or AUDIO alarm relative to the start (to DUE for tasks): the follow-up's alarm."""
    related = wanted_alarm_related(comp)
    for sub in comp.subcomponents:
        if sub.name == "VALARM" and alarm_minutes_of(sub, related) is not None:
            return sub
    return None


def _owned(comp: Component, name: str, value: Any, is_override: bool, seen: set[str]) -> bool:
    owned = (OVERRIDE_OWNED if is_override else MASTER_OWNED).get(str(comp.name), frozenset())
    if name == "CONTACT":
        return not is_override and bool(CRM_ID.match(str(getattr(value, "params", {}).get("X-CRM-ID", ""))))
    if name in ("CONFERENCE", "RRULE"):
        if name == "RRULE" and is_override:
            return False
        first = name not in seen
        seen.add(name)
        return first
    if name == "RDATE" and is_period(value):
        return False
    return name in owned


def _derived(name: str) -> frozenset[str]:
    return DERIVED_PARAMS.get(name, frozenset())


def own_params(name: str, value: Any) -> dict[str, Any]:
    params = getattr(value, "params", None) or {}
    return {k: v for k, v in params.items() if k.upper() not in _derived(name)}


def _new(name: str) -> Component:
    comp = Component()
    comp.name = name  # type: ignore[misc]
    return comp


def _baseline_params(base: Component | None) -> dict[tuple[str, str], dict[str, str]]:
    found: dict[tuple[str, str], dict[str, str]] = {}
    if base is not None:
        for name, value in props(base):
            params = getattr(value, "params", None) or {}
            found[(name, prop_key(name, value))] = {k.upper(): str(v) for k, v in params.items()}
    return found


def _value_text(value: Any) -> str:
    raw = value.to_ical() if hasattr(value, "to_ical") else str(value)
    return (raw.decode("utf-8") if isinstance(raw, bytes) else raw).strip().upper()


def _alarm_differs(alarm: Component, base: Component | None) -> bool:
    """Whether the client's mapped alarm holds anything a fresh render would not write."""
    base_alarm = mapped_alarm(base) if base is not None else None
    if base_alarm is None:
        return True
    if own_params("TRIGGER", alarm["TRIGGER"]):
        return True
    mine = sorted((n, v.to_ical() if hasattr(v, "to_ical") else str(v)) for n, v in props(alarm) if n != "TRIGGER")
    theirs = sorted((n, v.to_ical() if hasattr(v, "to_ical") else str(v))
                    for n, v in props(base_alarm) if n != "TRIGGER")
    return mine != theirs or bool(alarm.subcomponents)


def component_data(comp: Component, type_name: str | None, base: Component | None = None) -> Component | None:
    """What to keep of one client VEVENT/VTODO, or None when it is all mapped.

    ``base`` is the same component as the mapping renders it without client
    data: parameters and values it reproduces anyway are not kept.
    """
    is_override = "RECURRENCE-ID" in comp
    out = _new(str(comp.name))
    keep = _new(KEEP)
    if is_override:
        out.add("RECURRENCE-ID", copy.deepcopy(comp["RECURRENCE-ID"]), encode=False)
    seen: set[str] = set()
    extra_categories: list[str] = []
    category_params: dict[str, Any] = {}
    type_seen = False
    baseline = _baseline_params(base)
    for name, value in props(comp):
        if not _owned(comp, name, value, is_override, seen):
            out.add(name, copy.deepcopy(value), encode=False)
            continue
        if name == "CATEGORIES":
            for cat in getattr(value, "cats", []):
                if not type_seen and type_name is not None and str(cat).casefold() == type_name.casefold():
                    type_seen = True
                else:
                    extra_categories.append(str(cat))
            category_params.update(own_params(name, value))
            continue
        rendered = baseline.get((name, prop_key(name, value)))
        own = own_params(name, value)
        if rendered is not None:
            own = {k: v for k, v in own.items() if rendered.get(k.upper()) != str(v)}
        differs = False
        if name in ORIGINAL_VALUES and base is not None:
            base_value = base.get(name)
            differs = base_value is None or _value_text(base_value) != _value_text(value)
        elif name in ORIGINAL_VALUES:
            differs = True
        if own or differs:
            kept = copy.deepcopy(value)
            if hasattr(kept, "params"):
                for key in list(kept.params):
                    if key.upper() not in _derived(name) and key not in own:
                        del kept.params[key]
            keep.add(name, kept, encode=False)
    if extra_categories or category_params:
        keep.add("CATEGORIES", extra_categories or [""], parameters=cast(Any, category_params or None))
    alarm = mapped_alarm(comp)
    for sub in comp.subcomponents:
        if sub is alarm:
            if _alarm_differs(sub, base):
                keep.add_component(copy.deepcopy(sub))
        else:
            out.add_component(copy.deepcopy(sub))
    if len(keep) or keep.subcomponents:
        out.add_component(keep)
    if len(out) - (1 if is_override else 0) == 0 and not out.subcomponents:
        return None
    return out


def client_data_of(cal: Calendar, type_name: str | None, baseline: Calendar | None = None) -> str | None:
    """The client data (see the module docstring) of a client's calendar object, or None if all is mapped.

    ``baseline`` is the follow-up rendered without client data, to keep only what it would not reproduce.
    """
    bases: dict[str, Component] = {}
    for sub in baseline.subcomponents if baseline is not None else []:
        if sub.name in MAIN_COMPONENTS:
            bases[_instance_key(sub)] = sub
    out = Calendar()
    out.add("VERSION", "2.0")
    out.add("PRODID", CLIENT_DATA_PRODID)
    kept = False
    for name, value in props(cal):
        if name not in CALENDAR_OWNED:
            out.add(name, copy.deepcopy(value), encode=False)
            kept = True
    for sub in cal.subcomponents:
        if sub.name == "VTIMEZONE":
            if resolve_tzid(str(sub.get("TZID", ""))) is None:
                out.add_component(copy.deepcopy(sub))
                kept = True
        elif sub.name in MAIN_COMPONENTS:
            data = component_data(sub, type_name, bases.get(_instance_key(sub)))
            if data is not None:
                out.add_component(data)
                kept = True
        else:
            out.add_component(copy.deepcopy(sub))
            kept = True
    if not kept:
        return None
    return to_text(out)


@dataclass
class ClientData:
    """Parsed client data, ready to merge into a render."""

    calendar: Calendar | None = None
    master: Component | None = None
    overrides: dict[str, Component] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> ClientData:
        if not text:
            return cls()
        try:
            cal = Calendar.from_ical(text)
        except ValueError:
            return cls()
        data = cls(calendar=cal)
        for sub in cal.subcomponents:
            if sub.name not in MAIN_COMPONENTS:
                continue
            if "RECURRENCE-ID" in sub:
                data.overrides[_instance_key(sub)] = sub
            elif data.master is None:
                data.master = sub
        return data

    def for_instance(self, recurrence_id: Moment | None) -> Component | None:
        if recurrence_id is None:
            return self.master
        return self.overrides.get(rid_key(recurrence_id))


def keep_of(data: Component | None) -> Component | None:
    if data is None:
        return None
    return next((s for s in data.subcomponents if s.name == KEEP), None)


def original(data: Component | None, name: str) -> str | None:
    """The client's own value of CLASS, STATUS or PERCENT-COMPLETE, if it sent one."""
    keep = keep_of(data)
    if keep is None or name not in keep:
        return None
    value = keep[name]
    if isinstance(value, list):
        value = value[0]
    return _value_text(value)


def extra_categories(data: Component | None) -> tuple[list[str], dict[str, Any]]:
    """Category values besides the type's name, and the client's own CATEGORIES parameters."""
    keep = keep_of(data)
    if keep is None or "CATEGORIES" not in keep:
        return [], {}
    value = keep["CATEGORIES"]
    if isinstance(value, list):
        value = value[0]
    cats = [str(c) for c in getattr(value, "cats", []) if str(c)]
    return cats, own_params("CATEGORIES", value)


def kept_alarm(data: Component | None) -> Component | None:
    keep = keep_of(data)
    if keep is None:
        return None
    return next((s for s in keep.subcomponents if s.name == "VALARM"), None)


def overlay_params(target: Component, data: Component | None) -> None:
    """Lay the client's own parameters over the owned properties just rendered."""
    keep = keep_of(data)
    if keep is None:
        return
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for name, value in props(keep):
        if name == "CATEGORIES":
            continue
        by_key.setdefault((name, prop_key(name, value)), {}).update(own_params(name, value))
    if not by_key:
        return
    for name, value in list(props(target)):
        extra = by_key.get((name, prop_key(name, value)))
        if extra and hasattr(value, "params"):
            for k, v in extra.items():
                value.params[k] = v


def append_verbatim(target: Component, data: Component | None) -> None:
    """Append the client's unused properties and subcomponents, as it sent them."""
    if data is None:
        return
    for name, value in props(data):
        if name != "RECURRENCE-ID":
            target.add(name, value, encode=False)
    for sub in data.subcomponents:
        if sub.name != KEEP:
            target.add_component(sub)
