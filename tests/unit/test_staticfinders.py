"""PlotlyFinder serves plotly's bundled plotly.js as vendor/plotly.min.js, and nothing else."""

from __future__ import annotations

from pathlib import Path

import plotly  # type: ignore[import-untyped]
import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from agencyops.staticfinders import PlotlyFinder

BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
FINDER = "agencyops.staticfinders.PlotlyFinder"


def test_it_finds_the_installed_bundle():
    finder = PlotlyFinder()

    assert finder.find("vendor/plotly.min.js") == str(BUNDLE)
    assert finder.find("vendor/plotly.min.js", find_all=True) == [str(BUNDLE)]
    assert BUNDLE.read_bytes().startswith(b"/**\n* plotly.js v")


@pytest.mark.parametrize(
    "path",
    [
        "plotly.min.js",
        "vendor/widgetbundle.js",
        "vendor/datasets/iris.csv.gz",
        "vendor/../vendor/plotly.min.js",
        "vendor/plotly.min.js.map",
        "js/app.js",
    ],
)
def test_it_finds_nothing_else(path):
    finder = PlotlyFinder()

    # Django's finders answer [] for no match (finders.find would wrap a None).
    assert finder.find(path) == []
    assert finder.find(path, find_all=True) == []


def test_it_lists_exactly_one_file_under_the_vendor_prefix():
    listed = list(PlotlyFinder().list(None))

    assert len(listed) == 1
    path, storage = listed[0]
    assert path == "plotly.min.js"
    assert storage.prefix == "vendor"
    assert storage.path(path) == str(BUNDLE)


def test_ignore_patterns_apply():
    assert list(PlotlyFinder().list(["*.js"])) == []
    assert len(list(PlotlyFinder().list(["*.css"]))) == 1


def test_the_check_passes_when_plotly_is_installed():
    assert PlotlyFinder().check() == []


@pytest.fixture
def only_plotly_finder(settings):
    settings.STATICFILES_FINDERS = [FINDER]
    finders.get_finder.cache_clear()
    yield
    finders.get_finder.cache_clear()


@pytest.mark.usefixtures("only_plotly_finder")
def test_django_finds_it_through_the_setting():
    assert finders.find("vendor/plotly.min.js") == str(BUNDLE)
    assert finders.find("vendor/nothing.js") is None
    assert finders.find("vendor/nothing.js", find_all=True) == []


@pytest.mark.usefixtures("only_plotly_finder")
def test_collectstatic_copies_it_to_vendor(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"

    call_command("collectstatic", interactive=False, verbosity=0)

    copied = sorted(p.relative_to(settings.STATIC_ROOT) for p in settings.STATIC_ROOT.rglob("*"))
    assert copied == [Path("vendor"), Path("vendor/plotly.min.js")]
    assert (settings.STATIC_ROOT / "vendor/plotly.min.js").stat().st_size == BUNDLE.stat().st_size
