"""The browser libraries the dashboard uses, from the npm registry, built into static/build/.

    python -m config.assets

Each package is pinned here by version and by the `integrity` hash the registry publishes for its
tarball (`npm view uplot@1.6.32 dist.integrity`). The tarball is downloaded with Python alone, no
node, checked against that hash, and only the files named below are written, with the package's
licence. Pages load them from Parley's own static files; nothing is fetched at run time.
NPM_CONFIG_REGISTRY, npm's own variable, points at a mirror of the registry.
"""

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / "static" / "build"
REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 60
MAX_BYTES = 20 * 1024 * 1024  # uPlot's tarball is about 130 KB


class AssetError(Exception):
    """A package could not be fetched, or is not the one pinned."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # "sha512-<base64>", the registry's dist.integrity for this version
    files: dict[str, str]  # path in the tarball: path under static/build/

    def tarball_url(self, registry: str = REGISTRY) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name}-{self.version}.tgz"


# The analytics page's charts (static/analytics/charts.js): uPlot, MIT, about 50 KB minified.
UPLOT = Package(
    name="uplot",
    version="1.6.32",
    integrity="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
    files={
        "package/dist/uPlot.iife.min.js": "uplot/uPlot.iife.min.js",
        "package/dist/uPlot.min.css": "uplot/uPlot.min.css",
        "package/LICENSE": "uplot/LICENSE",
    },
)
PACKAGES = [UPLOT]


def verified(data: bytes, integrity: str) -> bytes:
    """`data`, when its hash is the pinned one (Subresource Integrity's format, as npm's)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise AssetError(f"unsupported integrity algorithm {algorithm!r}")
    found = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if found != expected:
        raise AssetError(f"the tarball's hash is sha512-{found}, not the pinned {integrity}")
    return data


def extracted(data: bytes, files: dict[str, str]) -> dict[str, bytes]:
    """The named files of a .tgz, by their path under static/build/. Members are read by name,
    never extracted wholesale, so a path in the tarball cannot write outside the build folder."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, target in files.items():
            try:
                stream = archive.extractfile(member)
            except KeyError:
                stream = None
            if stream is None:
                raise AssetError(f"the tarball has no file {member}")
            found[target] = stream.read()
    return found


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        data: bytes = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise AssetError(f"{url} is larger than {MAX_BYTES} bytes")
    return data


def install(package: Package, build: Path = BUILD, registry: str = REGISTRY) -> list[Path]:
    """Fetch, check and write one package's files; the paths written."""
    url = package.tarball_url(registry)
    try:
        data = download(url)
    except OSError as exc:
        raise AssetError(f"could not download {url}: {exc}") from exc
    written = []
    for target, content in extracted(verified(data, package.integrity), package.files).items():
        path = build / target
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        partial.replace(path)  # a page never reads half a file
        written.append(path)
    return written


def main() -> int:
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or REGISTRY
    for package in PACKAGES:
        try:
            install(package, registry=registry)
        except AssetError as exc:
            print(f"{package.name}@{package.version}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
