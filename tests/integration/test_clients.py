"""Client list, detail, create, edit, archive and restore; logos; role rules."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from clients.models import Client
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

LIST = "/a/agency-a/clients/"
NEW = "/a/agency-a/clients/new/"


def client_data(**overrides):
    data = {
        "name": "Bluebird Dental",
        "website": "https://bluebird.test",
        "timezone": "America/New_York",
        "contact_email": "office@bluebird.test",
        "notes": "Three clinics.",
    }
    data.update(overrides)
    return data


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_admin_adds_a_client(client, ada, agency_a):
    client.force_login(ada)

    response = client.post(NEW, client_data())

    created = Client.objects.get()
    assert created.agency == agency_a
    assert (created.name, created.timezone) == ("Bluebird Dental", "America/New_York")
    assert response["Location"] == f"/a/agency-a/clients/{created.public_id}/"
    page = client.get(response["Location"])
    assert b"Bluebird Dental" in page.content
    assert b"America/New_York" in page.content


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "is not an IANA time zone"),
        ({"timezone": "europe/london"}, "is not an IANA time zone"),
        ({"name": ""}, "This field is required."),
        ({"website": "not a url"}, "Enter a valid URL."),
        ({"contact_email": "nope"}, "Enter a valid email address."),
    ],
)
def test_bad_client_data_is_explained_and_kept(client, ada, overrides, message):
    client.force_login(ada)

    response = client.post(NEW, client_data(**overrides))

    assert response.status_code == 200
    assert message.encode() in response.content
    assert b"Three clinics." in response.content  # what was typed is not lost
    assert not Client.objects.exists()


def test_two_active_clients_cannot_share_a_name(client, ada, agency_a):
    ClientFactory(agency=agency_a, name="Bluebird Dental")
    client.force_login(ada)

    response = client.post(NEW, client_data(name="bluebird dental"))

    assert b"already has an active client with that name" in response.content
    assert Client.objects.count() == 1


def test_another_agency_may_use_the_same_name(client, ada, agency_b):
    ClientFactory(agency=agency_b, name="Bluebird Dental")
    client.force_login(ada)

    client.post(NEW, client_data())

    assert Client.objects.filter(name="Bluebird Dental").count() == 2


def test_a_member_sees_clients_but_cannot_add_or_edit(client, bob, client_a):
    client.force_login(bob)

    assert b"Acme Bakery" in client.get(LIST).content
    assert b"Add client" not in client.get(LIST).content
    assert client.post(NEW, client_data()).status_code == 403
    edit = client.post(f"{LIST}{client_a.public_id}/edit/", client_data())
    assert edit.status_code == 403
    client_a.refresh_from_db()
    assert client_a.name == "Acme Bakery"


def test_an_admin_edits_a_client(client, ada, client_a):
    client.force_login(ada)

    client.post(f"{LIST}{client_a.public_id}/edit/", client_data(name="Acme Bakery Ltd"))

    client_a.refresh_from_db()
    assert (client_a.name, client_a.timezone) == ("Acme Bakery Ltd", "America/New_York")


def test_an_invalid_edit_changes_nothing(client, ada, client_a):
    client.force_login(ada)

    response = client.post(
        f"{LIST}{client_a.public_id}/edit/", client_data(timezone="Nowhere/Special")
    )

    assert b"is not an IANA time zone" in response.content
    client_a.refresh_from_db()
    assert client_a.timezone == "Europe/London"


def test_archive_hides_from_the_list_and_restore_brings_back(client, ada, client_a):
    client.force_login(ada)

    client.post(f"{LIST}{client_a.public_id}/archive/")
    client_a.refresh_from_db()
    assert client_a.archived_at is not None
    htmx = {"HX-Request": "true"}
    assert b"Acme Bakery" not in client.get(LIST, headers=htmx).content
    assert b"Acme Bakery" in client.get(LIST + "?show=archived", headers=htmx).content

    client.post(f"{LIST}{client_a.public_id}/restore/")
    client_a.refresh_from_db()
    assert client_a.archived_at is None


def test_restoring_into_a_taken_name_says_what_to_do(client, ada, agency_a, client_a):
    client.force_login(ada)
    client.post(f"{LIST}{client_a.public_id}/archive/")
    ClientFactory(agency=agency_a, name="Acme Bakery")

    response = client.post(f"{LIST}{client_a.public_id}/restore/", follow=True)

    assert b"An active client is already called Acme Bakery" in response.content
    client_a.refresh_from_db()
    assert client_a.archived_at is not None


def test_there_is_no_delete(client, ada, client_a):
    client.force_login(ada)

    assert client.post(f"{LIST}{client_a.public_id}/delete/").status_code == 404
    assert Client.objects.filter(pk=client_a.pk).exists()


def test_search_and_htmx_return_only_the_table_region(client, bob, agency_a):
    ClientFactory(agency=agency_a, name="Kiwi Cycles")
    ClientFactory(agency=agency_a, name="Cedar Law")
    client.force_login(bob)

    response = client.get(LIST + "?q=kiwi", headers={"HX-Request": "true"})

    assert response.content.lstrip().startswith(b'<section id="client-table"')
    assert b"Kiwi Cycles" in response.content
    assert b"Cedar Law" not in response.content
    assert response["Vary"].count("HX-Request") == 1


def test_the_list_paginates(client, bob, agency_a):
    for n in range(30):
        ClientFactory(agency=agency_a, name=f"Client {n:02d}")
    client.force_login(bob)

    first = client.get(LIST)
    second = client.get(LIST + "?page=2")

    assert b"Client 24" in first.content
    assert b"Client 25" not in first.content
    assert b"Client 25" in second.content
    assert b"Page 2 of 2" in second.content


def test_the_list_query_count_does_not_grow_with_rows(
    client, bob, agency_a, django_assert_num_queries
):
    client.force_login(bob)
    ClientFactory.create_batch(3, agency=agency_a)
    client.get(LIST)  # warm the session and the last-agency write

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    ClientFactory.create_batch(20, agency=agency_a)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)

    assert len(many) == len(few)
    assert len(few) <= 8


def test_a_logo_is_uploaded_and_served_only_inside_the_agency(client, ada, carol, client_a):
    client.force_login(ada)
    logo = SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")

    client.post(
        f"{LIST}{client_a.public_id}/edit/", {**client_data(name="Acme Bakery"), "logo": logo}
    )

    client_a.refresh_from_db()
    assert client_a.logo
    served = client.get(f"{LIST}{client_a.public_id}/logo")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == png_bytes()
    client.force_login(carol)
    assert client.get(f"{LIST}{client_a.public_id}/logo").status_code == 404


def test_a_file_that_is_not_an_image_is_refused_as_logo(client, ada):
    client.force_login(ada)
    fake = SimpleUploadedFile("logo.png", b"<script>alert(1)</script>", content_type="image/png")

    response = client.post(NEW, {**client_data(), "logo": fake})

    assert b"Upload a valid image" in response.content
    assert not Client.objects.exists()


def test_a_large_logo_is_refused(client, ada):
    client.force_login(ada)
    big = SimpleUploadedFile(
        "logo.png", png_bytes() + b"\0" * (1024 * 1024), content_type="image/png"
    )

    response = client.post(NEW, {**client_data(), "logo": big})

    assert b"at most 1 MB" in response.content
    assert not Client.objects.exists()


def test_a_logo_can_be_removed(client, ada, client_a):
    client.force_login(ada)
    logo = SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")
    client.post(
        f"{LIST}{client_a.public_id}/edit/", {**client_data(name="Acme Bakery"), "logo": logo}
    )
    edit_page = client.get(f"{LIST}{client_a.public_id}/edit/")
    assert f'src="{LIST}{client_a.public_id}/logo"'.encode() in edit_page.content

    response = client.post(
        f"{LIST}{client_a.public_id}/edit/", {**client_data(name="Acme Bakery"), "logo-clear": "on"}
    )

    assert response.status_code == 302
    client_a.refresh_from_db()
    assert not client_a.logo
    assert client.get(f"{LIST}{client_a.public_id}/logo").status_code == 404
