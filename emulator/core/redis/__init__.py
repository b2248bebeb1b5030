"""The shared state on Redis (or Valkey): one store for several workers and hosts.

Each core piece has its Redis shape here, with the same methods as its in-memory twin in
emulator/core/: `store.py` (jobs and their files), `wallets.py`, `rate_limits.py`,
`scenarios.py` (queued faults and scripted steps), `journal.py` (one capped stream),
`uploads.py` (the Files API's files), `clock.py` (the offset and a virtual clock's start).
`link.py` is the connection and the per-request view of the run's epoch (clock offset, config
version, reset generation), read once per request, in the same round trip as the request's
first read. Every read-modify-write is one Lua script (`lua/`), so it is atomic across workers.
Imported only when a redis:// store is chosen: the memory store needs nothing installed.
"""
