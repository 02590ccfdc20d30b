"""A staticfiles finder for the one vendored file we take from an installed package.

plotly (the Python package) ships the plotly.js bundle; `PlotlyFinder` serves
that file as `vendor/plotly.min.js`, so the browser gets the same plotly.js
version the figures were built for, with nothing copied into the repository.
`{% static 'vendor/plotly.min.js' %}`, runserver and collectstatic all find it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

from django.contrib.staticfiles import finders, utils
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"
NAME = "plotly.min.js"
STATIC_PATH = f"{PREFIX}/{NAME}"


def package_data_dir() -> Path | None:
    """plotly's package_data folder, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


class PlotlyFinder(finders.BaseFinder):
    """Finds exactly one file: plotly/package_data/plotly.min.js as vendor/plotly.min.js."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location = package_data_dir()
        self.storage: FileSystemStorage | None = None
        if self.location is not None:
            self.storage = FileSystemStorage(location=self.location)
            # collectstatic copies each listed file to storage.prefix/path.
            self.storage.prefix = PREFIX  # type: ignore[attr-defined]

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if self._file() is None:
            return [
                Error(
                    f"plotly's {NAME} was not found, so {STATIC_PATH} cannot be served.",
                    hint="Install the plotly package (it is a project dependency).",
                    obj=self,
                    id="agencyops.E001",
                )
            ]
        return []

    @overload
    def find(self, path: str, find_all: Literal[False] = False) -> str | None: ...
    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...
    def find(self, path: str, find_all: bool = False) -> str | list[str] | None:
        if self.location is not None and str(self.location) not in finders.searched_locations:
            finders.searched_locations.append(str(self.location))
        found = self._file() if path.replace("\\", "/") == STATIC_PATH else None
        if found is None:
            # No match is [] either way, as in Django's own finders: finders.find()
            # would wrap a None into its list of matches.
            return []
        return [str(found)] if find_all else str(found)

    def list(self, ignore_patterns: Iterable[str] | None) -> Iterator[tuple[str, Any]]:
        if self.storage is None or self._file() is None:
            return
        patterns = list(ignore_patterns or [])
        if utils.matches_patterns(NAME, patterns) or utils.matches_patterns(STATIC_PATH, patterns):
            return
        yield NAME, self.storage

    def _file(self) -> Path | None:
        if self.location is None:
            return None
        path = self.location / NAME
        return path if path.is_file() else None
