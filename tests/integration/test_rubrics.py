"""The rubric editor: live checking, saving versions, the form, starters, copying, tenancy."""

from __future__ import annotations

import pytest

from agents import services
from agents.engine.rubric import dump_rubric, load_rubric
from agents.models import RubricVersion
from agents.rubric_library import starter
from tests.factories import ClientFactory, make_agent

pytestmark = pytest.mark.django_db

GOOD = """\
floor: 7
criteria:
  - key: findings
    description: One finding per audited dimension.
    kind: hard
    weight: 0.4
  - key: steps
    description: Remediation steps name specific URLs.
    kind: soft
    weight: 0.6
"""


def url(agent, suffix=""):
    return f"/a/agency-a/agents/{agent.public_id}/rubric/{suffix}"


def test_the_live_check_points_at_the_line_and_field_of_each_problem(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)
    broken = GOOD.replace("weight: 0.6", "weight: 1.6").replace("kind: hard", "kind: firm")

    response = client.post(url(agent, "check/"), {"source": broken}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "2 problems" in html
    assert 'data-goto-line="5"' in html  # kind: firm is on line 5
    assert "<code>criteria[0].kind</code>: Must be `hard` (pass or fail)" in html
    assert "criteria[1].weight" in html
    assert 'data-goto-line="10"' in html


def test_the_live_check_previews_the_scoring_of_a_valid_rubric(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)

    html = client.post(url(agent, "check/"), {"source": GOOD}).content.decode()

    assert "How a run is scored" in html
    # Gates give 4 of the 7 needed; the soft criterion must make up 3 with weight 0.6.
    assert "must average at least <strong>5.00</strong>" in html
    assert "<strong>7.0</strong>" in html


def test_saving_publishes_versions_and_an_invalid_rubric_is_never_saved(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)

    bad = client.post(url(agent), {"source": GOOD.replace("0.6", "0.5")})
    assert bad.status_code == 400
    assert b"The weights add up to 0.9; they must add up to 1." in bad.content
    assert b"0.5" in bad.content  # the text is kept in the editor
    assert not RubricVersion.objects.exists()

    first = client.post(url(agent), {"source": GOOD, "note": "first cut"})
    second = client.post(url(agent), {"source": GOOD.replace("floor: 7", "floor: 8")})
    same = client.post(url(agent), {"source": GOOD.replace("floor: 7", "floor: 8")}, follow=True)

    assert first.status_code == second.status_code == 302
    versions = list(RubricVersion.objects.filter(agent=agent).order_by("number"))
    assert [(v.number, v.note, v.created_by) for v in versions] == [
        (1, "first cut", ada),
        (2, "", ada),
    ]
    assert versions[1].definition["floor"] == 8
    assert b"No change" in same.content


def test_a_member_cannot_edit_and_an_outsider_gets_404(client, bob, carol, client_a):
    agent = make_agent(client_a)
    client.force_login(bob)
    assert client.post(url(agent), {"source": GOOD}).status_code == 403
    client.force_login(carol)
    assert client.get(url(agent).replace("agency-a", "agency-b")).status_code == 404
    assert not RubricVersion.objects.exists()


def test_a_starter_fills_the_editor_without_saving(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)

    html = client.get(url(agent) + "?starter=seo_audit").content.decode()

    assert "Starter <strong>" in html
    assert "deduplicated" in html.lower()
    assert not RubricVersion.objects.exists()
    assert len(load_rubric(starter("seo_audit").text).criteria) == 5


def test_copying_a_rubric_between_agents_of_one_agency(client, ada, client_a, agency_b):
    source = make_agent(client_a, name="Source")
    target = make_agent(client_a, name="Target")
    services.save_rubric(source, GOOD, None)
    outsider = make_agent(ClientFactory(agency=agency_b), name="Elsewhere")
    services.save_rubric(outsider, GOOD.replace("floor: 7", "floor: 9"), None)
    client.force_login(ada)

    client.post(url(target, "copy/"), {"source": str(source.public_id)})
    refused = client.post(url(target, "copy/"), {"source": str(outsider.public_id)})

    copied = RubricVersion.objects.get(agent=target)
    assert copied.source == dump_rubric(load_rubric(GOOD))  # the checked form, as published
    assert copied.definition == RubricVersion.objects.get(agent=source).definition
    assert copied.note == "Copied from Source v1"
    assert refused.status_code == 404
    assert RubricVersion.objects.filter(agent=target).count() == 1


def test_the_form_view_saves_the_same_rubric_as_yaml(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)
    data = {
        "floor": "7.5",
        "max_revisions": "1",
        "revision_cost_cap_usd": "",
        "regrade_margin": "0",
        "c-TOTAL_FORMS": "3",
        "c-INITIAL_FORMS": "0",
        "c-MIN_NUM_FORMS": "1",
        "c-MAX_NUM_FORMS": "1000",
        "c-0-key": "gate",
        "c-0-description": "No out-of-scope writes.",
        "c-0-kind": "hard",
        "c-0-weight": "0.3",
        "c-1-key": "tone",
        "c-1-description": "Matches the client's voice.",
        "c-1-kind": "soft",
        "c-1-weight": "0.7",
        "c-1-bands": "8-10: Sounds like the client\n0-4: Generic",
    }

    uneven = client.post(url(agent, "form/"), {**data, "c-1-weight": "0.5"})
    assert uneven.status_code == 400
    assert b"The weights add up to 0.8" in uneven.content
    assert not RubricVersion.objects.exists()

    response = client.post(url(agent, "form/"), data)

    assert response.status_code == 302
    rubric = load_rubric(RubricVersion.objects.get(agent=agent).source)
    assert [(c.key, c.kind, c.weight) for c in rubric.criteria] == [
        ("gate", "hard", 0.3),
        ("tone", "soft", 0.7),
    ]
    assert rubric.criteria[1].bands == {"8-10": "Sounds like the client", "0-4": "Generic"}
    assert rubric.max_revisions == 1
    # And the form shows it back.
    page = client.get(url(agent, "form/")).content.decode()
    assert 'value="tone"' in page
