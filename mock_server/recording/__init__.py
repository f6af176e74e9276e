"""Record a real Chat App once, replay it offline.

`chat-mock record` (command.py) runs a transparent recording proxy (proxy.py) in front of a real
app: every request goes to the app and its answer comes back unchanged, streams frame by frame;
each chat exchange is written to a recording directory (layout.py: readable YAML, one file per
exchange, written atomically) with credentials removed (redact.py). `chat-mock --app-dir DIR`
loads such a directory as an app of the mock (load.py: validated against the contract), whose
answers replay the recorded events under fresh ids, paced as recorded (replay.py).
"""
