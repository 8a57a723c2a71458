"""A lead may read a diary: `followups grant LEAD --reads USER` opens the
user's meetings and tasks to the lead, read-only, private ones masked."""

from __future__ import annotations

from tests.cli.clirun import run_cli
from tests.server.caldav_support import LiveServer, crm_meeting, crm_todo, responses, unfold, vevent


def test_grant_read_only_masked_then_revoke(live: LiveServer) -> None:
    public = crm_meeting(live.engine, "anna", "Quarterly review")
    secret = crm_meeting(live.engine, "anna", "Salary talk", private=True, agenda="raise for Ola")
    crm_todo(live.engine, "anna", "Send the offer")
    bjorn = live.dav("bjorn")
    assert bjorn.propfind("anna/meetings/", "<D:getetag/>", "1").status_code == 403

    granted = run_cli(live.database, "grant", "bjorn", "--reads", "anna", "--json")
    assert granted.code == 0, granted.err
    assert granted.json() == {"lead": "bjorn", "reads": "anna", "changed": True}
    assert run_cli(live.database, "grant", "--list", "--json").json() == [{"lead": "bjorn", "reads": "anna"}]

    listing = bjorn.propfind("anna/meetings/", "<D:getetag/>", "1")
    assert listing.status_code == 207
    assert len([r for r in responses(listing) if r.href.endswith(".ics")]) == 2
    assert "SUMMARY:Quarterly review" in unfold(bjorn.get(f"anna/meetings/{public.uid}.ics").text)
    masked = unfold(bjorn.get(f"anna/meetings/{secret.uid}.ics").text)
    assert "SUMMARY:Private" in masked and "Salary" not in masked and "Ola" not in masked
    assert "SUMMARY:Send the offer" in unfold(bjorn.get("anna/tasks/").text)
    # read-only: no writes, no deletes
    assert bjorn.put("anna/meetings/new.ics", vevent("lead-1")).status_code == 403
    assert bjorn.delete(f"anna/meetings/{public.uid}.ics").status_code == 403
    # anna herself still sees her private meeting in full
    assert "SUMMARY:Salary talk" in unfold(live.dav("anna").get(f"anna/meetings/{secret.uid}.ics").text)

    revoked = run_cli(live.database, "revoke", "bjorn", "--reads", "anna")
    assert revoked.code == 0, revoked.err
    assert bjorn.propfind("anna/meetings/", "<D:getetag/>", "1").status_code == 403
    assert run_cli(live.database, "grant", "--list", "--json").json() == []


def test_grant_refuses_nonsense(live: LiveServer) -> None:
    assert run_cli(live.database, "grant", "anna", "--reads", "anna").error_line() == \
        "followups: error: 'anna' reads their own diary already"
    assert run_cli(live.database, "grant", "anna", "--reads", "nobody").code == 2
    assert run_cli(live.database, "grant", "anna").code == 2
