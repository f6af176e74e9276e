"""`chat-conformance load`: conformance under load, on Locust.

Locust users behave like chat app users; every answer is judged with the suite's own code
(conformance.checking, conformance.contract, conformance.sse), and what each user saw is kept as
plain observations (shippable from Locust workers to the master) so invariants over the whole run
can be checked at the end: acknowledged messages in history exactly once and in order, no user
seeing another's conversation, every stream ending with its terminal event, pagination without
duplicates while conversations are written.

Only `users` and `cli` import Locust (which monkey-patches the standard library with gevent);
the other modules are plain Python.
"""
