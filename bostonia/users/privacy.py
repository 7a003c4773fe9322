"""Who may open a conversation (and the memories drawn from it): its owner, and nobody else.

An admin can be allowed to read other users' conversations with `[privacy] admin_can_read_chats = true`;
every such read is then written to the audit log. Changing a conversation (sending, deleting,
cancelling) stays with its owner whatever the setting.
"""

from __future__ import annotations

from typing import Literal

from bostonia.audit.store import AuditLog
from bostonia.config import PrivacyConfig
from bostonia.identity import User

# `read`: look; `member`: take part (someone invited into a shared room may, and only them and the owner);
# `write`: change or manage it (the owner only).
Access = Literal["read", "member", "write"]


class ConversationAccessPolicy:
    def __init__(self, config: PrivacyConfig, audit: AuditLog) -> None:
        self.config = config
        self.audit = audit

    async def allows(self, viewer: User, *, owner_id: str, conversation_id: str, access: Access = "write") -> bool:
        if viewer.id == owner_id:
            return True
        if access != "read" or not viewer.is_admin or not self.config.admin_can_read_chats:
            return False
        await self.audit.record(
            actor_id=viewer.id,
            action="conversation.read",
            target_type="conversation",
            target_id=conversation_id,
            details={"owner_id": owner_id},
        )
        return True
