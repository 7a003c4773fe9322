"""Names of the chat capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.chat.cast import CastService
from bostonia.chat.hub import ConversationHub
from bostonia.chat.replies import ReplyService
from bostonia.chat.rooms import RoomService
from bostonia.chat.service import ChatService

Cast = NamedDependency[CastService]
Chat = NamedDependency[ChatService]
Rooms = NamedDependency[RoomService]
Hub = NamedDependency[ConversationHub]
Replies = NamedDependency[ReplyService]
