"""A session of the real `dify-api-client` SDK, unchanged, against the mock (run by real_sdks.py).

Its pydantic models require the twelve-field usage block, `created_at` and `message_id` on every
message event, `message_files` on history items and `introduction` on conversations. Prints one
JSON line per observation.
"""

import json
import sys

ARGS = json.loads(sys.argv[1])
sys.path.insert(0, ARGS["sdk_dir"])

from dify_client import DifyClient as Client  # noqa: E402
from dify_client import models  # noqa: E402

OPS = set(ARGS["operations"])  # the contract paths the mock serves
USER = "sdk-dify-api-client"


def say(**observation):
    print(json.dumps(observation), flush=True)


client = Client(api_key=ARGS["keys"]["chat"], api_base=ARGS["base_url"])
blocking = client.chat_messages(
    models.ChatRequest(
        query="Which movie is the best?",
        inputs={"book": "Die Hard"},
        user=USER,
        response_mode=models.ResponseMode.BLOCKING,
    )
)
say(
    op="sendChatMessage",
    mode="blocking",
    answer=blocking.answer,
    app_mode=blocking.mode.value,
    total_price=blocking.metadata.usage.total_price,
)

events = list(
    client.chat_messages(
        models.ChatRequest(
            query="Can you explain why?",
            inputs={},
            user=USER,
            conversation_id=blocking.conversation_id,
            response_mode=models.ResponseMode.STREAMING,
        )
    )
)
say(
    op="sendChatMessage",
    mode="streaming",
    events=[e.event.value for e in events],
    answer="".join(e.answer for e in events if e.event.value == "message"),
    end_created_at=events[-1].created_at,
)

stopped = client.stop_chat_messages(events[0].task_id, models.StopRequest(user=USER))
say(op="stopChatMessage", result=stopped.result)
liked = client.feedback_messages(blocking.message_id, models.FeedbackRequest(rating="like", user=USER))
say(op="createMessageFeedback", result=liked.result)

history = client.get_conversation_history_messages(
    models.ConversationHistoryMessageRequest(
        conversation_id=blocking.conversation_id,
        user=USER,
        limit=2,
    )
)
say(
    op="listMessages",
    answers=[m.answer for m in history.data],
    has_more=history.has_more,
    files=[m.message_files for m in history.data],
)

conversations = client.get_conversations(models.ConversationRequest(user=USER, limit=5))
say(op="listConversations", ids=[c.id for c in conversations.data], has_more=conversations.has_more)

if "/messages/{message_id}/suggested" in OPS:
    suggested = client.suggest_messages(blocking.message_id, models.ChatSuggestRequest(user=USER))
    say(op="getSuggestedQuestions", result=suggested.result, count=len(suggested.data))

if "/files/upload" in OPS:
    upload = client.upload_files(
        ("poster.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"), models.UploadFileRequest(user=USER)
    )
    say(op="uploadFile", name=upload.name, size=upload.size)

for mode in ("agent", "chatflow", "voice"):  # the other apps' streams, through the SDK's event models
    key = ARGS["keys"].get(mode)
    if not key:
        continue
    other = Client(api_key=key, api_base=ARGS["base_url"])
    streamed = list(
        other.chat_messages(
            models.ChatRequest(
                query="Show me the Die Hard poster",
                inputs={"book": "Die Hard"},
                user=USER,
                response_mode=models.ResponseMode.STREAMING,
            )
        )
    )
    say(
        op="sendChatMessage",
        mode="streaming",
        app=mode,
        events=[e.event.value for e in streamed],
        types=[type(e).__name__ for e in streamed],
    )
