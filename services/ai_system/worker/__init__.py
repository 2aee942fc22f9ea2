"""The worker: takes tasks from MQTT, asks an LLM provider, returns the result over gRPC.

Kept free of imports so ``python -m ai_system.worker.health`` stays cheap.
"""
