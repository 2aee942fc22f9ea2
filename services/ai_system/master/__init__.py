"""The master: web chat (Flask + Socket.IO), MQTT dispatch of tasks, gRPC results."""
