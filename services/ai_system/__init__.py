"""ai-system: a web chat whose questions a master hands to LLM workers over MQTT."""

__version__ = "1.0.0"
