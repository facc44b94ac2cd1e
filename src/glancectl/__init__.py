"""glancectl: OpenStack Glance's image and task lifecycle on one machine."""

__version__ = "0.1.0"
