from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_install_defaults(settings: Any) -> None:
    """Start each test with no install-wide provider, whatever the environment running it holds."""
    settings.LLM_PROVIDER_DEFAULTS = {}
    settings.SPEECH_PROVIDER_DEFAULTS = {}
