"""trustpub: publish Python distributions the way a careful release engineer would."""

__version__ = "0.1.0"
