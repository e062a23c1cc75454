"""On-premises Livepatch server: stores, tiers and serves kernel live patches."""

__version__ = "0.1.0"
