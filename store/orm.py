"""The relational schema (SQLAlchemy 2.0 declarative, typed).

The Alembic migrations in ``store/migrations`` are the source of truth for
the database; these models must match them (a test compares the two).
Domain objects never see these rows: ``store.uow`` converts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about this store, e.g. its random instance id."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), index=True)
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    meeting_minutes: Mapped[int] = mapped_column(Integer, default=60)
    call_minutes: Mapped[int] = mapped_column(Integer, default=15)
    password_hash: Mapped[str | None] = mapped_column(String(255))


class ResourceRow(Base):
    __tablename__ = "resources"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    on_conflict: Mapped[str] = mapped_column(String(16), default="allow", server_default="allow")
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Here and on every directory table but users: the follow-ups that use the record keep it,
    new ones cannot use it (``followups resource remove --archive``)."""


class CompanyRow(Base):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PersonRow(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SaleRow(Base):
    __tablename__ = "sales"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TypeRow(Base):
    __tablename__ = "followup_types"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    busy: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FieldRow(Base):
    __tablename__ = "field_defs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[str] = mapped_column(Text, default="[]")
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FollowupRow(Base):
    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    agenda: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    type_id: Mapped[int] = mapped_column(ForeignKey("followup_types.id"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    sale_id: Mapped[int | None] = mapped_column(ForeignKey("sales.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    start: Mapped[str | None] = mapped_column(String(96))
    end: Mapped[str | None] = mapped_column(String(96))
    deadline: Mapped[str | None] = mapped_column(String(96))
    start_utc: Mapped[datetime | None] = mapped_column(DateTime)
    end_utc: Mapped[datetime | None] = mapped_column(DateTime)
    deadline_utc: Mapped[datetime | None] = mapped_column(DateTime)
    rrule: Mapped[str | None] = mapped_column(Text)
    rdates: Mapped[str | None] = mapped_column(Text)
    exdates: Mapped[str | None] = mapped_column(Text)
    overrides: Mapped[str | None] = mapped_column(Text)
    busy: Mapped[bool] = mapped_column(Boolean, default=True)
    alarm_minutes: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(Text, default="")
    conference: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    client_data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    modified_at: Mapped[datetime] = mapped_column(DateTime)

    participants: Mapped[list[ParticipantRow]] = relationship(
        cascade="all, delete-orphan", order_by="ParticipantRow.position", lazy="selectin")
    resources: Mapped[list[BookingRow]] = relationship(
        cascade="all, delete-orphan", order_by="BookingRow.position", lazy="selectin")
    values: Mapped[list[ValueRow]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (
        Index("ix_followups_owner_start", "owner_id", "start_utc"),
        Index("ix_followups_owner_deadline", "owner_id", "deadline_utc"),
    )


class ParticipantRow(Base):
    __tablename__ = "followup_participants"
    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    partstat: Mapped[str] = mapped_column(String(16))
    alarm_minutes: Mapped[int | None] = mapped_column(Integer)
    """The invitee's own alarm (their copy only)."""
    client_data: Mapped[str | None] = mapped_column(Text)
    """What the invitee's client stored (alarms, X- lines), for their copy only."""


class BookingRow(Base):
    __tablename__ = "followup_resources"
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    partstat: Mapped[str] = mapped_column(String(16), default="ACCEPTED", server_default="ACCEPTED")
    """The resource's answer: DECLINED when its policy refused a clashing booking."""


class ValueRow(Base):
    __tablename__ = "followup_fields"
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("field_defs.id"), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ChangeRow(Base):
    """The append-only change log: one row per write to a follow-up."""

    __tablename__ = "changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    followup_id: Mapped[int | None] = mapped_column(Integer, index=True)
    uid: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))


# -- the calendar projection (stored by store.calendar) ------------------------------


class CollectionRow(Base):
    """A CalDAV collection: ``<principal>/<name>``, with a revision counter
    bumped in the same transaction as every change to its members."""

    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(primary_key=True)
    principal: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(64))
    component: Mapped[str] = mapped_column(String(64))
    """The component a CRM calendar holds (VEVENT or VTODO); for a personal calendar,
    the set the client asked for, comma-separated (VEVENT,VTODO,VJOURNAL)."""
    kind: Mapped[str] = mapped_column(String(16), default="crm", server_default="crm")
    """``crm``: made by the CRM, its objects are follow-ups (meetings, tasks, bookings);
    ``personal``: made by a client (MKCALENDAR), its objects kept as sent, no follow-ups."""
    rev: Mapped[int] = mapped_column(BigInteger, default=0)
    props: Mapped[str] = mapped_column(Text, default="{}")
    modified_at: Mapped[datetime] = mapped_column(DateTime)
    pruned_rev: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Tombstones up to this revision were pruned: older sync tokens are refused."""
    __table_args__ = (UniqueConstraint("principal", "name"),)


class ObjectRow(Base):
    """One calendar object as clients see it, rendered ahead of time."""

    __tablename__ = "calendar_objects"
    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id"))
    href: Mapped[str] = mapped_column(String(512))
    uid: Mapped[str] = mapped_column(String(255))
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"), index=True,
                                                    nullable=True)
    """The follow-up this object shows; None in a personal calendar."""
    component: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    base_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """None: ``text`` is the CRM's rendering. Otherwise ``text`` is what a client
    wrote (or that, patched by the CRM's later changes) and this is the CRM's
    rendering it was last reconciled with: a new rendering that differs from it
    patches only what changed into ``text``."""
    etag: Mapped[str] = mapped_column(String(64))
    start_ts: Mapped[int] = mapped_column(BigInteger)
    end_ts: Mapped[int] = mapped_column(BigInteger)
    exact: Mapped[bool] = mapped_column(Boolean, default=True)
    """False when the range is widened (recurring or floating): a time-range
    query must then re-check the object itself."""
    rev: Mapped[int] = mapped_column(BigInteger)
    modified_at: Mapped[datetime] = mapped_column(DateTime)
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The follow-up is private: anyone but the calendar's owner reads a busy block."""
    __table_args__ = (
        UniqueConstraint("collection_id", "href"),
        UniqueConstraint("collection_id", "uid"),
        Index("ix_objects_rev", "collection_id", "rev"),
        Index("ix_objects_range", "collection_id", "start_ts", "end_ts"),
    )


class GrantRow(Base):
    """A lead who may read a user's meetings and tasks (read-only, private ones masked)."""

    __tablename__ = "grants"
    lead_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class TombstoneRow(Base):
    """A member href that left a collection at revision ``rev``."""

    __tablename__ = "tombstones"
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id"), primary_key=True)
    href: Mapped[str] = mapped_column(String(512), primary_key=True)
    rev: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    """When the href left (UTC); the age ``followups prune-tombstones`` goes by."""
    __table_args__ = (Index("ix_tombstones_rev", "collection_id", "rev"),)


class FeedRow(Base):
    """A subscription feed: a secret URL that reads one user's calendar or a record's
    activities without a login. Only the token's SHA-256 is kept; revoking sets
    ``revoked_at`` (the row stays, for ``followups feed list --all``)."""

    __tablename__ = "feeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    what: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int | None] = mapped_column(Integer)
    from_days: Mapped[int] = mapped_column(Integer)
    to_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
