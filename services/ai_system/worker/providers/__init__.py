"""LLM providers: one module per provider, the key pool, and the factory choosing them."""
