"""config/assets.py: an npm package's tarball, served by a local registry, is written into the build
folder only when it has the pinned hash, and only the files named."""

import base64
import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from config import assets
from config.assets import UPLOT, AssetError, Package

ROOT = Path(__file__).resolve().parents[2]


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


TARBALL = _tarball(
    {
        "package/dist/chart.min.js": b"window.chart = 1;",
        "package/LICENSE": b"MIT",
        "package/../../escape.js": b"alert(1)",
    }
)
CHART = Package(
    name="chart",
    version="1.0.0",
    integrity=_integrity(TARBALL),
    files={"package/dist/chart.min.js": "chart/chart.min.js", "package/LICENSE": "chart/LICENSE"},
)


@pytest.fixture
def registry(httpserver: HTTPServer) -> str:
    httpserver.expect_request("/chart/-/chart-1.0.0.tgz").respond_with_data(TARBALL)
    return httpserver.url_for("/")


def test_writes_the_named_files_of_a_verified_tarball(registry: str, tmp_path: Path) -> None:
    written = assets.install(CHART, build=tmp_path, registry=registry)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "chart/LICENSE",
        "chart/chart.min.js",
    ]
    assert (tmp_path / "chart" / "chart.min.js").read_bytes() == b"window.chart = 1;"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["LICENSE", "chart", "chart.min.js"]


def test_a_tarball_without_the_pinned_hash_writes_nothing(registry: str, tmp_path: Path) -> None:
    other = Package(CHART.name, CHART.version, _integrity(b"another tarball"), CHART.files)
    with pytest.raises(AssetError, match="not the pinned"):
        assets.install(other, build=tmp_path, registry=registry)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_or_registry_is_an_error(
    registry: str, httpserver: HTTPServer, tmp_path: Path
) -> None:
    missing = Package(CHART.name, CHART.version, CHART.integrity, {"package/nope.js": "nope.js"})
    with pytest.raises(AssetError, match=r"no file package/nope\.js"):
        assets.install(missing, build=tmp_path, registry=registry)
    gone = Package("gone", "1.0.0", CHART.integrity, CHART.files)
    with pytest.raises(AssetError, match="could not download"):
        assets.install(gone, build=tmp_path, registry=registry)


def test_the_pins_match_what_make_and_the_page_use() -> None:
    """The Makefile's target is one of the files written, and the page loads what is written."""
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^CHARTS := static/build/(\S+)$", makefile, re.M)
    assert target
    assert target[1] in UPLOT.files.values()
    page = (ROOT / "templates" / "analytics" / "page.html").read_text()
    used = re.findall(r"\{% static 'build/([^']+)' %\}", page)
    assert used
    assert set(used) <= set(UPLOT.files.values())
    assert UPLOT.tarball_url() == "https://registry.npmjs.org/uplot/-/uplot-1.6.32.tgz"
