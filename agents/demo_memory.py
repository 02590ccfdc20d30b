"""The demo agents' memory: notes with a history, the agency playbook, and a first dream.

The notes people wrote are saved through agents/memory.py, so each has its
versions; the first dream is a real one, run by agents/dreams.py over the
generated history against a simulator started here for the purpose, so its
changes, refusals and review items are what the product itself produces.
"""

from __future__ import annotations

from agents import dreams
from agents import memory as memories
from agents.engine.llm import AnthropicModelClient
from agents.models import Agent, Dream, MemoryStore
from agents.simulator import Simulator, SimulatorConfig
from clients.models import Agency

REASON = "Set up by the account team"

# (key, title, body, tags, weight, pinned) for each demo agent, by name.
NOTES: dict[str, list[tuple[str, str, str, list[str], float, bool]]] = {
    "Nightly SEO audit": [
        (
            "client/preferences/format",
            "Acme wants a short list, worst first",
            "Acme's owner reads the report on her phone at 7am. Lead with at most five "
            "findings, most visible first, each with the page and the fix.",
            ["preferences"],
            3.0,
            True,
        ),
        (
            "client/site/structure",
            "Site layout",
            "Home, /menu, /order, /blog (about 40 posts), /contact. The shop runs on Shopify "
            "under /order; its titles come from the product names.",
            ["site"],
            2.0,
            False,
        ),
    ],
    "Weekly competitor watch": [
        (
            "client/rivals",
            "The three rivals to watch",
            "Spoke & Chain, Ride Right and Pedal Depot. Kiwi cares about price moves on "
            "entry-level road bikes above all.",
            ["competitors"],
            3.0,
            True,
        ),
    ],
    "Local rankings check": [
        (
            "client/clinics",
            "Three clinics",
            "North (Elm St), Central (Market Sq) and Harbour (Quay Rd). Each has its own "
            "Google Business Profile.",
            ["site"],
            2.0,
            True,
        ),
    ],
    "Blog post ideas": [
        (
            "client/voice",
            "House style",
            "Plain English, no legal advice in titles, always a call to book a consultation.",
            ["preferences"],
            2.0,
            False,
        ),
    ],
}

PLAYBOOK = [
    (
        "reports/format",
        "How our reports read",
        "Start with what changed since last time. Every finding names the page and the "
        "next step. No jargon without a one-line explanation.",
        ["style"],
        3.0,
        True,
    ),
    (
        "policy/no-guarantees",
        "Never promise rankings",
        "Do not promise positions or traffic numbers; say what we expect and why.",
        ["policy"],
        2.0,
        False,
    ),
]

# The agent whose first dream waits for review, so the queue has items at first start.
REVIEWED = "Nightly SEO audit"


def _write(store: MemoryStore, notes: list[tuple[str, str, str, list[str], float, bool]]) -> None:
    for key, title, body, tags, weight, pinned in notes:
        memories.save_note(
            store,
            None,
            {
                "key": key,
                "title": title,
                "body": body,
                "tags": tags,
                "weight": weight,
                "pinned": pinned,
            },
            None,
            REASON,
        )


def seed_memory(agency: Agency, agents: list[Agent]) -> None:
    """Notes, a little history, and one real dream per agent."""
    playbook = memories.playbook_of(agency)
    if not playbook.memories.exists():
        _write(playbook, PLAYBOOK)
    with Simulator(SimulatorConfig(seed=5)) as sim:
        client = AnthropicModelClient(api_key="demo-seeding", base_url=sim.url)
        for agent in agents:
            store = memories.store_of(agent)
            if store.memories.exists():
                continue
            _write(store, NOTES.get(agent.name, []))
            _history(agent)
            mode = agent.memory_review_mode
            if agent.name == REVIEWED:
                agent.memory_review_mode = Agent.ReviewMode.QUEUE_ALL
            item = Dream.objects.create(
                agency=agent.agency, agent=agent, trigger=Dream.Trigger.MANUAL
            )
            agent.save(update_fields=["memory_review_mode"])
            dreams.execute_dream(item.pk, client)
            agent.memory_review_mode = mode
            agent.save(update_fields=["memory_review_mode"])


def _history(agent: Agent) -> None:
    """A person's edit and an expired note, so the history pages have something to show."""
    store = memories.store_of(agent)
    first = memories.live_memories(store).order_by("pk").first()
    if first is None:
        return
    memories.save_note(
        store,
        first,
        {"body": first.body + " Confirmed on the last call."},
        None,
        "Checked with the client",
    )
    old = memories.save_note(
        store,
        None,
        {
            "key": "client/site/staging",
            "title": "Staging site",
            "body": "Changes are previewed on staging before going live.",
            "tags": ["site"],
            "weight": 1.0,
            "pinned": False,
        },
        None,
        REASON,
    )
    memories.expire_note(old, None, "The client retired the staging site")
