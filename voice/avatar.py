"""The built-in video avatar. (Being built.)"""

from typing import Any

from agents.configuration import AgentConfiguration


def avatar_processor(*, config: AgentConfiguration, name: str, size: int, fps: int) -> Any:
    return None
