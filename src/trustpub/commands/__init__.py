"""One module per CLI verb. Each exposes ``run(args) -> int``.

Command modules import their heavy dependencies inside ``run`` so that
``trustpub --help`` and ``trustpub --version`` stay fast.
"""
