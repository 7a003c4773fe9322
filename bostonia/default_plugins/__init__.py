"""Core behaviour written as plugins, registered by `bostonia.plugins` before any installed plugin: third-party
plugins use the very same hooks (and can override these)."""
