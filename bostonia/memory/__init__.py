"""Memory Nexus: what a character remembers of a conversation — every message indexed for recall, facts
extracted from it, rolling summaries, knowledge files — and the injector that brings it into the prompt."""
