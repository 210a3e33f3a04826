"""Repository-wide pytest set-up, loaded before anything is collected.

``pytest`` collects ``tests/`` and the doctests of ``pdejax/``; whichever comes first,
JAX must see four simulated CPU devices (the sharding tests) before it initialises its
backends, as ``tests/conftest.py`` also arranges when ``tests/`` is run on its own.
"""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
