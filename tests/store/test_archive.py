"""Directory records that are still used, archived or removed: the store's rules, on
SQLite and PostgreSQL (the seed of the storage contract, tests/store/test_contract.py).

What refers to a record (:meth:`uses`), an archived record refused for any follow-up
that did not have it (one by one, in bulk, and by a person or sale), kept by one that
did, a type's kind and a field's definition that must fit what uses them, and the
database's own refusal when a removal skips the check."""

from __future__ import annotations

from datetime import date

import pytest

from store.domain import Company, FieldType, Kind, Participant, Person, Sale, new_meeting, new_todo
from store.errors import Conflict, InvalidFollowup
from store.records import Use
from store.uow import UnitOfWork
from tests.store.test_contract import Seed, seed, store_engine

__all__ = ["seed", "store_engine"]

DAY = date(2030, 1, 7)


def _todo(s: Seed, **fields: object) -> int:
    with UnitOfWork(s.engine) as uow:
        f = uow.followups.add(new_todo(s.anna, "T", s.types[Kind.TODO], DAY, **fields))
        uow.commit()
    assert f.id is not None
    return f.id


def _archive(s: Seed, repo: str, id: int) -> None:
    with UnitOfWork(s.engine) as uow:
        records = getattr(uow, repo)
        record = records.get(id)
        record.archived = True
        records.update(record)
        uow.commit()


def test_uses_counts_what_refers_to_a_record_and_names_the_first_follow_ups(seed: Seed) -> None:
    ids = [_todo(seed, company_id=seed.company) for _ in range(3)]
    meeting = new_meeting(seed.anna, "M", seed.types[Kind.MEETING], DAY, participants=[
        Participant(person_id=seed.person), Participant(user_id=seed.bo.id)], resource_ids=[seed.room])
    with UnitOfWork(seed.engine) as uow:
        m = uow.followups.add(meeting)
        uow.commit()
        assert uow.companies.uses(seed.company) == (Use("follow-up", 3, tuple(ids[:2])), Use("person", 1, (1,)),
                                                    Use("sale", 1, (1,)))
        assert uow.persons.uses(seed.person) == (Use("invitation", 1, (m.id,)),)
        assert uow.resources.uses(seed.room) == (Use("booking", 1, (m.id,)),)
        assert uow.users.uses(seed.bo.id) == (Use("invitation", 1, (m.id,)),)  # type: ignore[arg-type]
        assert uow.users.uses(seed.carl.id) == ()  # type: ignore[arg-type]
        assert uow.companies.uses(seed.other_company) == ()


def test_a_removal_the_check_missed_is_refused_by_the_database(seed: Seed) -> None:
    _todo(seed, project_id=seed.project)
    with UnitOfWork(seed.engine) as uow, pytest.raises(Conflict, match='project 1 "Rollout" is still in use'):
        uow.projects.remove(seed.project)


def test_an_archived_record_is_refused_for_new_follow_ups_one_by_one_and_in_bulk(seed: Seed) -> None:
    _archive(seed, "companies", seed.company)
    refused = 'company 1 "Acme AS" is archived: the follow-ups that have it keep it, but it cannot be given to others'
    with UnitOfWork(seed.engine) as uow:
        with pytest.raises(InvalidFollowup, match=refused):
            uow.followups.add(new_todo(seed.anna, "T", seed.types[Kind.TODO], DAY, company_id=seed.company))
        with pytest.raises(InvalidFollowup, match=refused):
            uow.followups.add_many([new_todo(seed.anna, "T", seed.types[Kind.TODO], DAY),
                                    new_todo(seed.anna, "T", seed.types[Kind.TODO], DAY, company_id=seed.company)])
        with pytest.raises(InvalidFollowup, match="the persons that have it keep it"):
            uow.persons.add(Person("Per", company_id=seed.company))
        with pytest.raises(InvalidFollowup, match="the sales that have it keep it"):
            uow.sales.add(Sale("Deal", company_id=seed.company))


def test_a_follow_up_keeps_an_archived_record_it_had(seed: Seed) -> None:
    id = _todo(seed, company_id=seed.company, custom={seed.stage: "Offer"})
    _archive(seed, "companies", seed.company)
    _archive(seed, "fields", seed.stage)
    with UnitOfWork(seed.engine) as uow:
        f = uow.followups.get(id)
        f.title = "Renamed"
        f.custom[seed.stage] = "Won"
        uow.followups.update(f)
        person = uow.persons.get(seed.person)
        person.name = "Dina Fjell-Berg"
        uow.persons.update(person)
        uow.commit()
    with UnitOfWork(seed.engine) as uow:
        f = uow.followups.get(id)
        assert (f.title, f.company_id, f.custom) == ("Renamed", seed.company, {seed.stage: "Won"})
        f.company_id = seed.other_company
        uow.followups.update(f)
        f.company_id = seed.company
        with pytest.raises(InvalidFollowup, match="is archived"):
            uow.followups.update(f)


def test_the_default_type_is_the_first_that_is_not_archived(seed: Seed) -> None:
    with UnitOfWork(seed.engine) as uow:
        first = uow.types.default(Kind.MEETING)
    _archive(seed, "types", first.id)  # type: ignore[arg-type]
    with UnitOfWork(seed.engine) as uow:
        assert uow.types.default(Kind.MEETING).id == seed.other_meeting_type
        assert uow.types.get(first.id).archived  # type: ignore[arg-type]


def test_a_type_keeps_its_kind_while_follow_ups_have_it(seed: Seed) -> None:
    _todo(seed)
    with UnitOfWork(seed.engine) as uow:
        todo_type = uow.types.get(seed.types[Kind.TODO])
        todo_type.kind = Kind.CALL
        with pytest.raises(InvalidFollowup, match="is for todos and follow-ups have it"):
            uow.types.update(todo_type)


def test_a_field_definition_must_fit_the_stored_values(seed: Seed) -> None:
    fits, misfit = _todo(seed, custom={seed.note: "1e3"}), _todo(seed, custom={seed.note: "lots"})
    with UnitOfWork(seed.engine) as uow:
        note = uow.fields.get(seed.note)
        note.type = FieldType.NUMBER
        with pytest.raises(InvalidFollowup, match=f'cannot become a number field: 1 follow-up has a value that '
                                                  f'would not fit \\(#{misfit} "lots"\\)'):
            uow.fields.update(note)
    with UnitOfWork(seed.engine) as uow:
        f = uow.followups.get(misfit)
        f.custom = {}
        uow.followups.update(f)
        note = uow.fields.get(seed.note)
        note.type = FieldType.NUMBER
        uow.fields.update(note)
        assert uow.changed["followup"] >= {fits}, "a rewritten value re-renders its follow-up"
        uow.commit()
    with UnitOfWork(seed.engine) as uow:
        assert uow.followups.get(fits).custom == {seed.note: "1000"}


def test_removing_a_user_takes_their_grants_along(seed: Seed) -> None:
    with UnitOfWork(seed.engine) as uow:
        uow.grants.add(seed.anna.id, seed.carl.id)  # type: ignore[arg-type]
        uow.grants.add(seed.carl.id, seed.bo.id)  # type: ignore[arg-type]
        uow.commit()
    with UnitOfWork(seed.engine) as uow:
        uow.users.remove(seed.carl.id)  # type: ignore[arg-type]
        uow.commit()
        assert uow.grants.pairs() == []
        assert [u.login for u in uow.users.list()] == ["anna", "bo"]


def test_a_new_record_is_not_archived(seed: Seed) -> None:
    with UnitOfWork(seed.engine) as uow:
        company = uow.companies.add(Company("New AS"))
        uow.commit()
        assert company.archived is False and uow.companies.get(company.id).archived is False  # type: ignore[arg-type]
