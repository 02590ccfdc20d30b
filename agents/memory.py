"""Writes to memory: every change a version, proposals and their review, rollback.

Nothing here deletes a note. A change saves the note and a MemoryVersion with
the note as it now stands, who made the change (a run, a dream, a person) and
why; superseded and expired notes stay in the store and in its history, and
any note, or the whole store, can be put back as it was after any version.

Proposals (from a dream, or from a run through the memory tool) are applied
or queued by the agent's review mode; a run's proposals wait until the run is
graded, and count only if it passed.
"""

from __future__ import annotations

import difflib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.engine.memory import (
    ChangeError,
    MemoryChange,
    MemoryNote,
    MemoryTool,
    Window,
    parse_change,
    select_window,
)
from agents.models import (
    Agent,
    Dream,
    Memory,
    MemoryProposal,
    MemoryStore,
    MemoryVersion,
    Run,
)
from clients.models import Agency, Client
from clients.services import ServiceError

if TYPE_CHECKING:
    from clients.models import User

logger = logging.getLogger(__name__)

Actor = MemoryVersion.Actor
# Changes a "low risk" review mode applies by itself: nothing is lost by them.
LOW_RISK = frozenset({MemoryProposal.Operation.ADD, MemoryProposal.Operation.REWEIGHT})
# Mail providers whose domain says nothing about who the client is.
COMMON_MAIL_DOMAINS = frozenset(
    {"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"}
)


# ------------------------------------------------------------------ stores


def store_of(agent: Agent) -> MemoryStore:
    store, _ = MemoryStore.objects.get_or_create(
        agent=agent, defaults={"agency_id": agent.agency_id}
    )
    return store


def playbook_of(agency: Agency) -> MemoryStore:
    store, _ = MemoryStore.objects.get_or_create(agency=agency, agent=None)
    return store


def _live(notes: QuerySet[Memory]) -> QuerySet[Memory]:
    return notes.filter(status=Memory.Status.ACTIVE).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def live_memories(store: MemoryStore) -> QuerySet[Memory]:
    return _live(Memory.objects.filter(store=store))


def note_of(memory: Memory, playbook: bool = False) -> MemoryNote:
    return MemoryNote(
        key=memory.key,
        title=memory.title,
        body=memory.body,
        tags=tuple(memory.tags),
        weight=memory.weight,
        pinned=memory.pinned,
        updated=memory.updated_at.timestamp(),
        playbook=playbook,
    )


def notes_for(agent: Agent) -> list[MemoryNote]:
    """What the agent may read: its own live notes and the playbook's, in one read-only query
    (it runs at the start of every run; stores are created only when written)."""
    readable = Memory.objects.filter(
        Q(store__agent=agent) | Q(store__agent__isnull=True, store__agency_id=agent.agency_id)
    )
    return [
        note_of(m, playbook=m.store.agent_id is None)
        for m in _live(readable)
        .select_related("store")
        .order_by(F("store__agent").asc(nulls_last=True), "pk")
    ]


def window_for(agent: Agent) -> Window:
    """The memory a run of `agent` would start with now."""
    return select_window(notes_for(agent), agent.memory_token_budget)


# ------------------------------------------------------------------ versions


def state_of(memory: Memory) -> dict[str, Any]:
    return {
        "key": memory.key,
        "title": memory.title,
        "body": memory.body,
        "tags": list(memory.tags),
        "weight": memory.weight,
        "pinned": memory.pinned,
        "expires_at": memory.expires_at.isoformat() if memory.expires_at else None,
        "status": memory.status,
    }


def _set_state(memory: Memory, state: dict[str, Any]) -> None:
    memory.key = state["key"]
    memory.title = state["title"]
    memory.body = state["body"]
    memory.tags = list(state["tags"])
    memory.weight = float(state["weight"])
    memory.pinned = bool(state["pinned"])
    memory.expires_at = parse_datetime(state["expires_at"]) if state["expires_at"] else None
    memory.status = state["status"]


@dataclass(frozen=True)
class Source:
    """Who makes a change, and why."""

    actor: str
    reason: str
    run: Run | None = None
    dream: Dream | None = None
    user: User | None = None

    @classmethod
    def person(cls, user: User | None, reason: str) -> Source:
        return cls(Actor.PERSON, reason, user=user)


def _record(memory: Memory, operation: str, source: Source) -> MemoryVersion:
    """Save `memory` and the version it now is."""
    if memory._state.adding:
        memory.version = 1
        memory.save()
    else:
        memory.version += 1
        memory.updated_at = timezone.now()
        memory.save()
    return MemoryVersion.objects.create(
        agency_id=memory.agency_id,
        memory=memory,
        number=memory.version,
        operation=operation,
        state=state_of(memory),
        actor=source.actor,
        run=source.run,
        dream=source.dream,
        user=source.user,
        reason=source.reason[:2000],
    )


def _key_taken(store: MemoryStore, key: str, exclude: Memory | None = None) -> bool:
    taken = Memory.objects.filter(store=store, key=key, status=Memory.Status.ACTIVE)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    return taken.exists()


@transaction.atomic
def save_note(
    store: MemoryStore,
    memory: Memory | None,
    fields: dict[str, Any],
    user: User | None,
    reason: str = "",
) -> Memory:
    """A person adds or edits a note (key, title, body, tags, weight, pinned, expires_at)."""
    if memory is None:
        memory = Memory(agency=store.agency, store=store)
        operation = "created"
    elif memory.status != Memory.Status.ACTIVE:
        raise ServiceError("This note is no longer active; restore a version of it first.")
    else:
        # From the database: a ModelForm has already written the new values on `memory`.
        before = state_of(Memory.objects.get(pk=memory.pk))
        operation = "edited"
    if "key" in fields and _key_taken(store, fields["key"], exclude=memory):
        raise ServiceError(f"Another active note already has the key {fields['key']}.")
    for name, value in fields.items():
        setattr(memory, name, value)
    if operation == "edited":
        changed = {k for k, v in state_of(memory).items() if before[k] != v}
        if not changed:
            return memory
        if changed == {"pinned"}:
            operation = "pinned" if memory.pinned else "unpinned"
        elif changed == {"weight"}:
            operation = "reweighted"
    _record(memory, operation, Source.person(user, reason or f"{operation.capitalize()} by hand"))
    return memory


@transaction.atomic
def expire_note(memory: Memory, user: User | None, reason: str) -> None:
    if memory.status != Memory.Status.ACTIVE:
        raise ServiceError("This note is already out of use.")
    memory.status = Memory.Status.EXPIRED
    memory.expires_at = memory.expires_at or timezone.now()
    _record(memory, "expired", Source.person(user, reason or "Expired by hand"))


@transaction.atomic
def restore_version(memory: Memory, number: int, user: User | None) -> MemoryVersion:
    """Put the note back as it was after version `number`, as a new version."""
    version = MemoryVersion.objects.filter(memory=memory, number=number).first()
    if version is None:
        raise ServiceError(f"This note has no version {number}.")
    state = version.state
    if state["status"] == Memory.Status.ACTIVE and _key_taken(
        memory.store, state["key"], exclude=memory
    ):
        raise ServiceError(
            f"Another active note now has the key {state['key']}; "
            "expire or rename it before restoring this version."
        )
    if state == state_of(memory):
        raise ServiceError(f"The note is already as it was in version {number}.")
    _set_state(memory, state)
    return _record(memory, "restored", Source.person(user, f"Rolled back to version {number}"))


@transaction.atomic
def rollback_store(store: MemoryStore, version_id: int, user: User | None) -> int:
    """Put every note of the store back as it stood right after version `version_id`.

    Notes created later are expired, not deleted. Returns how many notes changed.
    """
    point = MemoryVersion.objects.filter(pk=version_id, memory__store=store).first()
    if point is None:
        raise ServiceError("That version is not in this store.")
    reason = (
        f"Store rolled back to {point.created_at:%d %b %Y %H:%M:%S} "
        f"({point.memory.key} v{point.number})"
    )
    changed = 0
    memories = list(Memory.objects.select_for_update().filter(store=store).order_by("pk"))
    # Each note's last version up to the point, in one query (newest wins per note).
    versions = (
        MemoryVersion.objects.filter(memory__store=store, pk__lte=point.pk)
        .order_by("memory_id", "number")
        .values_list("memory_id", "state")
    )
    then: dict[int, dict[str, Any]] = dict(versions)
    targets = [(memory, then.get(memory.pk)) for memory in memories]
    # Expire first, so a key freed by a later note can be taken back by an earlier one.
    for memory, state in targets:
        gone = state is None or state["status"] != Memory.Status.ACTIVE
        if gone and memory.status == Memory.Status.ACTIVE:
            memory.status = Memory.Status.EXPIRED
            _record(memory, "expired", Source.person(user, reason))
            changed += 1
    for memory, state in targets:
        if state is not None and state != state_of(memory):
            _set_state(memory, state)
            _record(memory, "restored", Source.person(user, reason))
            changed += 1
    return changed


# ------------------------------------------------------------------ applying a change


def parse_uuids(values: Iterable[str]) -> list[uuid.UUID]:
    """The values that are UUIDs, as UUIDs; the rest (typed or invented ids) are dropped."""
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue
    return found


def _evidence(store: MemoryStore, run_ids: Iterable[str]) -> list[Run]:
    return list(
        Run.objects.filter(
            agency_id=store.agency_id, agent=store.agent, public_id__in=parse_uuids(run_ids)
        )
    )


def _live_keys(store: MemoryStore) -> set[str]:
    return set(live_memories(store).values_list("key", flat=True))


def _create(
    store: MemoryStore,
    change: MemoryChange,
    source: Source,
    runs: list[Run],
    weight: float = 1.0,
    pinned: bool = False,
) -> Memory:
    memory = Memory(
        agency=store.agency,
        store=store,
        key=change.key,
        title=change.title,
        body=change.body,
        tags=list(change.tags),
        weight=change.weight if change.weight is not None else weight,
        pinned=pinned,
    )
    _record(memory, "created", source)
    memory.source_runs.add(*runs)
    return memory


def apply_change(store: MemoryStore, change: MemoryChange, source: Source) -> Memory:
    """Make one checked change. Raises ServiceError if the store no longer allows it."""
    try:
        change = parse_change(change.as_dict(), _live_keys(store))
    except ChangeError as exc:
        raise ServiceError(f"This change no longer fits the store: {exc}") from exc
    runs = _evidence(store, change.runs)
    if change.operation == "add":
        return _create(store, change, source, runs)
    if change.operation == "supersede":
        old = live_memories(store).get(key=change.replaces)
        old.status = Memory.Status.SUPERSEDED
        _record(old, "superseded", source)
        new = _create(store, change, source, runs, weight=old.weight, pinned=old.pinned)
        old.superseded_by = new
        old.save(update_fields=["superseded_by"])
        return new
    memory = live_memories(store).get(key=change.key)
    if change.operation == "expire":
        memory.status = Memory.Status.EXPIRED
        memory.expires_at = memory.expires_at or timezone.now()
        operation = "expired"
    elif change.operation == "reweight":
        memory.weight = float(change.weight or 0.0)
        operation = "reweighted"
    else:
        memory.title = change.title or memory.title
        memory.body = change.body or memory.body
        memory.tags = list(change.tags) or memory.tags
        if change.weight is not None:
            memory.weight = change.weight
        operation = "edited"
    _record(memory, operation, source)
    memory.source_runs.add(*runs)
    return memory


def leak_terms(agent: Agent) -> list[tuple[str, str]]:
    """(term, label) naming every other client of the agency: name, domain, contact."""
    terms: list[tuple[str, str]] = []
    others = Client.objects.for_agency(agent.agency).exclude(pk=agent.client_id)
    for client in others:
        terms.append((client.name, f"another client ({client.name})"))
        host = urlsplit(client.website).hostname or "" if client.website else ""
        host = host.removeprefix("www.")
        if host:
            terms.append((host, f"another client's domain ({host})"))
        if client.contact_email:
            email = client.contact_email.lower()
            terms.append((email, f"another client's contact ({email})"))
            domain = email.rsplit("@", 1)[-1]
            if domain not in COMMON_MAIL_DOMAINS and domain != host:
                terms.append((domain, f"another client's domain ({domain})"))
    return terms


def review_action(mode: str, operation: str) -> str:
    """ "apply" or "queue": what the agent's review mode does with a valid change."""
    if mode == Agent.ReviewMode.AUTO:
        return "apply"
    if mode == Agent.ReviewMode.LOW_RISK and operation in LOW_RISK:
        return "apply"
    return "queue"


def record_proposal(
    store: MemoryStore,
    change: MemoryChange,
    status: str,
    *,
    dream: Dream | None = None,
    run: Run | None = None,
    refusal: str = "",
) -> MemoryProposal:
    target_key = change.replaces if change.operation == "supersede" else change.key
    target = (
        None if change.operation == "add" else live_memories(store).filter(key=target_key).first()
    )
    proposal = MemoryProposal.objects.create(
        agency_id=store.agency_id,
        store=store,
        dream=dream,
        run=run,
        operation=change.operation,
        memory=target,
        base_version=target.version if target else None,
        change=change.as_dict(),
        rationale=change.rationale,
        status=status,
        refusal=refusal,
    )
    proposal.evidence.add(*_evidence(store, change.runs))
    return proposal


def settle(proposal: MemoryProposal, mode: str, source: Source) -> str:
    """Apply or queue a checked proposal by the review mode; returns its new status."""
    if review_action(mode, proposal.operation) == "apply":
        try:
            with transaction.atomic():
                apply_change(proposal.store, change_of(proposal), source)
        except ServiceError as exc:
            proposal.status = MemoryProposal.Status.REFUSED
            proposal.refusal = exc.message
        else:
            proposal.status = MemoryProposal.Status.APPLIED
            proposal.decided_at = timezone.now()
    else:
        proposal.status = MemoryProposal.Status.PENDING
    proposal.save(update_fields=["status", "refusal", "decided_at"])
    if proposal.status == MemoryProposal.Status.APPLIED:
        _overtake(proposal)
    return proposal.status


def _overtake(done: MemoryProposal) -> None:
    """Queued additions of the key `done` just added can no longer be applied: say so."""
    if done.operation not in (MemoryProposal.Operation.ADD, MemoryProposal.Operation.SUPERSEDE):
        return
    MemoryProposal.objects.filter(
        store=done.store,
        status=MemoryProposal.Status.PENDING,
        operation__in=(MemoryProposal.Operation.ADD, MemoryProposal.Operation.SUPERSEDE),
        change__key=done.change["key"],
    ).exclude(pk=done.pk).update(
        status=MemoryProposal.Status.REFUSED,
        refusal=f"Overtaken: {done.change['key']} was added by a later change.",
        decided_at=timezone.now(),
    )


def change_of(proposal: MemoryProposal) -> MemoryChange:
    data = proposal.change
    weight = data.get("weight")
    return MemoryChange(
        operation=data["operation"],
        key=data["key"],
        title=data.get("title", ""),
        body=data.get("body", ""),
        tags=tuple(data.get("tags") or ()),
        weight=None if weight is None else float(weight),
        replaces=data.get("replaces", ""),
        rationale=data.get("rationale", ""),
        runs=tuple(data.get("runs") or ()),
    )


# ------------------------------------------------------------------ review


def _decidable(proposal: MemoryProposal) -> None:
    if proposal.status != MemoryProposal.Status.PENDING:
        raise ServiceError(f"This change was already {proposal.get_status_display().lower()}.")


def approve(
    proposal: MemoryProposal, user: User | None, edited: dict[str, Any] | None = None
) -> MemoryProposal:
    """Apply a queued change, as proposed or as a reviewer edited it."""
    with transaction.atomic():
        proposal = MemoryProposal.objects.select_for_update().get(pk=proposal.pk)
        _decidable(proposal)
        if edited:
            data = {**proposal.change, **edited}
            try:
                parse_change(data, _live_keys(proposal.store))
            except ChangeError as exc:
                raise ServiceError(f"The edited change is not valid: {exc}") from exc
            proposal.change = data
        source = _source_of(proposal, user)
        apply_change(proposal.store, change_of(proposal), source)
        proposal.status = MemoryProposal.Status.APPROVED
        proposal.decided_by = user
        proposal.decided_at = timezone.now()
        proposal.save(update_fields=["change", "status", "decided_by", "decided_at"])
        _overtake(proposal)
    return proposal


def reject(proposal: MemoryProposal, user: User | None) -> MemoryProposal:
    with transaction.atomic():
        proposal = MemoryProposal.objects.select_for_update().get(pk=proposal.pk)
        _decidable(proposal)
        proposal.status = MemoryProposal.Status.REJECTED
        proposal.decided_by = user
        proposal.decided_at = timezone.now()
        proposal.save(update_fields=["status", "decided_by", "decided_at"])
    return proposal


def _source_of(proposal: MemoryProposal, user: User | None) -> Source:
    """A reviewed change is recorded as its proposer's, approved by `user`."""
    who = f"approved by {user.email}" if user is not None else "approved"
    reason = f"{proposal.rationale} ({who})"
    if proposal.dream_id is not None:
        return Source(Actor.DREAM, reason, dream=proposal.dream, user=user)
    if proposal.run_id is not None:
        return Source(Actor.RUN, reason, run=proposal.run, user=user)
    return Source.person(user, reason)


def decide_many(
    proposals: Iterable[MemoryProposal], user: User | None, action: str
) -> tuple[int, list[str]]:
    """Approve or reject each; returns (done, problems), one problem line per failure."""
    done = 0
    problems: list[str] = []
    for proposal in proposals:
        try:
            if action == "approve":
                approve(proposal, user)
            else:
                reject(proposal, user)
        except ServiceError as exc:
            problems.append(
                f"{proposal.get_operation_display()} {proposal.change['key']}: {exc.message}"
            )
        else:
            done += 1
    return done, problems


# ------------------------------------------------------------------ during a run


def run_memory_tool(run: Run, notes: list[MemoryNote]) -> MemoryTool:
    """The memory tool of one run over `notes` (notes_for the agent, read once per run);
    it holds proposals until the run is graded."""
    agent = run.agent
    store = store_of(agent)

    def propose(change: MemoryChange) -> str:
        record_proposal(store, change, MemoryProposal.Status.HELD, run=run)
        return "Proposed. It counts once this run passes its grade" + (
            ", and after review." if agent.memory_review_mode != Agent.ReviewMode.AUTO else "."
        )

    return MemoryTool(notes, propose)


def settle_run_proposals(run: Run) -> None:
    """After a run ends: its held proposals follow the review mode if it passed, else are refused.

    Only a run that met the floor (or an ungraded agent's successful run) may
    change memory; the leak check applies as to dreams.
    """
    from agents.engine.dreaming import find_leak

    held = MemoryProposal.objects.filter(run=run, status=MemoryProposal.Status.HELD)
    if not held.exists():
        return
    terms = leak_terms(run.agent)
    for proposal in held:
        change = change_of(proposal)
        leak = find_leak(change, terms)
        if run.status != Run.Status.SUCCEEDED:
            proposal.status = MemoryProposal.Status.REFUSED
            proposal.refusal = (
                f"The run ended {run.get_status_display().lower()}: only runs that met the "
                "floor may change memory."
            )
            proposal.save(update_fields=["status", "refusal"])
        elif leak:
            proposal.status = MemoryProposal.Status.REFUSED
            proposal.refusal = f"Refused by the leak check: it names {leak}."
            proposal.save(update_fields=["status", "refusal"])
        else:
            settle(
                proposal,
                run.agent.memory_review_mode,
                Source(Actor.RUN, change.rationale, run=run),
            )


def settle_or_refuse_run_proposals(run: Run) -> None:
    """`settle_run_proposals` in a savepoint; if it fails, the run's held proposals are refused.

    Called inside the transaction that ends the run. Whatever breaks the settling (a
    dream adding the same key at that moment, a proposal whose data no longer reads),
    the run's own result still commits, and no proposal of a finished run stays held.
    """
    try:
        with transaction.atomic():
            settle_run_proposals(run)
    except Exception as exc:
        logger.exception("Run %s: settling its memory proposals failed", run.public_id)
        MemoryProposal.objects.filter(run=run, status=MemoryProposal.Status.HELD).update(
            status=MemoryProposal.Status.REFUSED,
            refusal=(
                f"Could not be settled: an unexpected error ({type(exc).__name__}) stopped "
                "it when the run ended, so memory was not changed. The error was logged; "
                "propose the change again if it is still needed."
            ),
        )


# ------------------------------------------------------------------ for pages


def diff_lines(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) lines of a unified diff of two states; kind is "add", "del" or ""."""
    old = render_state(before) if before else []
    new = render_state(after)
    lines: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old, new, lineterm="", n=20):
        if line.startswith(("---", "+++", "@@")):
            continue
        kind = {"+": "add", "-": "del"}.get(line[:1], "")
        lines.append((kind, line[1:] if kind or line.startswith(" ") else line))
    return lines


def render_state(state: dict[str, Any]) -> list[str]:
    expires = state.get("expires_at")
    head = [
        f"key: {state['key']}",
        f"title: {state['title']}",
        f"tags: {', '.join(state.get('tags') or []) or '(none)'}",
        f"weight: {float(state['weight']):g}{'  (pinned)' if state.get('pinned') else ''}",
        f"status: {state.get('status', 'active')}"
        + (f", expires {expires[:16].replace('T', ' ')}" if expires else ""),
        "",
    ]
    return head + str(state["body"]).splitlines()


def proposed_state(proposal: MemoryProposal) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(before, after) of the note a proposal changes, for its diff."""
    change = proposal.change
    current = proposal.memory
    # As the note stood when the change was proposed: once applied, it has moved on.
    base = (
        MemoryVersion.objects.filter(memory=current, number=proposal.base_version).first()
        if current is not None and proposal.base_version is not None
        else None
    )
    before = base.state if base else (state_of(current) if current is not None else None)
    if proposal.operation in ("add", "supersede"):
        after = {
            "key": change["key"],
            "title": change.get("title", ""),
            "body": change.get("body", ""),
            "tags": change.get("tags") or [],
            "weight": change.get("weight") if change.get("weight") is not None else 1.0,
            "pinned": False,
            "expires_at": None,
            "status": "active",
        }
        return before, after
    assert before is not None  # noqa: S101 (edit, expire and reweight always name a note)
    after = dict(before)
    if proposal.operation == "expire":
        after["status"] = Memory.Status.EXPIRED
    elif proposal.operation == "reweight":
        after["weight"] = change.get("weight")
    else:
        after["title"] = change.get("title") or before["title"]
        after["body"] = change.get("body") or before["body"]
        after["tags"] = change.get("tags") or before["tags"]
        if change.get("weight") is not None:
            after["weight"] = change["weight"]
    return before, after
