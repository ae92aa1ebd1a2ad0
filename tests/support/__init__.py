"""What several tests share: the committed speech models and synthesized speech (models,
speech), the command line in a subprocess (cli), waiting for a condition (waiting), the engine's
recorders (engine), the local service in a subprocess or in this process (service), the portal
stand-in on a private bus (portal), the app's windows (app), test media and the odd-input corpus
(media, corpus), a disk that fills up (disk) and a model hub on loopback (hub_server). Fixtures
stay in tests/conftest.py."""
