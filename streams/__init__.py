"""brandpulse: a real-time monitor of how brands behave on social media."""

__version__ = "0.1.0"
