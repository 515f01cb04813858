"""The README's configuration table names every environment variable the settings read, so that
an operator who meets one on a page (the iwy page names IWY_API_URL) finds what it does."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "config" / "settings" / "base.py"


def read_by_settings() -> set[str]:
    """The names the settings read: env.str("NAME", …), env.int(…) and the like, and the tables
    of provider variables they read in a loop."""
    source = SETTINGS.read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    for table in re.findall(r"^_\w+ = \{\n(.*?)^\}", source, flags=re.S | re.M):
        names |= set(re.findall(r':\s*"([A-Z][A-Z0-9_]+)"', table))
    return names


def configuration_table() -> str:
    readme = (ROOT / "README.md").read_text()
    return "\n".join(line for line in readme.splitlines() if line.startswith("| `"))


def test_every_variable_the_settings_read_is_in_the_readme() -> None:
    names = read_by_settings()
    assert {"IWY_API_URL", "IWY_WIDGET_URL", "OLLAMA_BASE_URL", "SECRET_KEY"} <= names
    table = configuration_table()
    missing = sorted(name for name in names if f"`{name}`" not in table)
    assert missing == [], "add these to the README's configuration table"
