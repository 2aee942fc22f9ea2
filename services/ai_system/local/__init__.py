"""``ai-system-local``: the whole system on one machine, without Docker (``make run``).

Starts Mosquitto, the master and N workers as child processes, waits until the chat
answers and every worker registered, prints the chat URL, streams the children's logs
with a prefix, and stops everything on Ctrl-C or SIGTERM. The pieces are what the
integration tests and the benchmark use too:

    processes.py   one child process (``ManagedProcess``), ``wait_until``, ``find_program``
    ports.py       free and taken TCP ports
    broker.py      a throw-away Mosquitto, its accounts and the deployed ACL
    api.py         the master's HTTP API as the launcher reads it
    system.py      the whole system (``LocalConfig``, ``LocalSystem``)
    supervisor.py  when a child that stopped is started again, and when not
    cli.py         the console script

Settings reach the children as environment variables (see README.md): the launcher sets
only ports, ids and per-worker files, and passes the rest of the caller's environment
through, so ``GEMINI_API_KEYS=... ai-system-local`` gives the workers real keys.
"""
