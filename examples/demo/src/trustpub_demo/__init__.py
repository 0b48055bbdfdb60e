"""trustpub-demo: the example project of trustpub."""

__version__ = "1.0.0"


def greet(who: str) -> str:
    return f"hello, {who}"


def main() -> None:
    print(greet("world"))
