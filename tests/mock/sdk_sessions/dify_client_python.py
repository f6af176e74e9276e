"""A session of the real `dify-client-python` SDK, unchanged, against the mock (run by real_sdks.py).

Every call goes through the SDK's own pydantic models, which require the fields real servers send
(the twelve-field usage block, `created_at` on message_end, ...): a missing field is an exception.
Prints one JSON line per observation.
"""

import json
import sys
from pathlib import Path

ARGS = json.loads(sys.argv[1])
sys.path.insert(0, ARGS["sdk_dir"])

from dify_client import Client, models  # noqa: E402

OPS = set(ARGS["operations"])  # the contract paths the mock serves
USER = "sdk-dify-client-python"


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
usage = blocking.metadata.usage
say(
    op="sendChatMessage",
    mode="blocking",
    answer=blocking.answer,
    app_mode=str(blocking.mode),
    total_price=usage.total_price,
    currency=usage.currency,
    latency=usage.latency,
)

events = list(
    client.chat_messages(
        models.ChatRequest(
            query="Can you explain why?",
            inputs={"book": "Die Hard"},
            user=USER,  # its ChatResponse has no
            response_mode=models.ResponseMode.STREAMING,  # conversation_id, so this starts a new conversation
        )
    )
)
kinds = [str(e.event) for e in events]
say(
    op="sendChatMessage",
    mode="streaming",
    events=kinds,
    answer="".join(e.answer for e in events if str(e.event) == "message"),
    end_created_at=events[-1].created_at,
    end_currency=events[-1].metadata.usage.currency,
)

stopped = client.stop_chat_messages(events[0].task_id, models.StopRequest(user=USER))
say(op="stopChatMessage", result=stopped.result)

liked = client.feedback_messages(blocking.message_id, models.FeedbackRequest(rating="like", user=USER))
say(op="createMessageFeedback", result=liked.result)

if "/messages/{message_id}/suggested" in OPS:
    suggested = client.suggest_messages(blocking.message_id, models.ChatSuggestRequest(user=USER))
    say(op="getSuggestedQuestions", result=suggested.result, count=len(suggested.data))

audio = Path(ARGS["fixtures"]) / "audio" / "hello.wav"
with audio.open("rb") as handle:
    text = client.audio_to_text(("hello.wav", handle, "audio/wav"), models.AudioToTextRequest(user=USER))
say(op="audioToText", text=text.text)

if "/files/upload" in OPS:
    upload = client.upload_files(
        ("poster.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"), models.UploadFileRequest(user=USER)
    )
    say(op="uploadFile", name=upload.name, size=upload.size)

if "/text-to-audio" in OPS:
    spoken = client.text_to_audio(models.TextToAudioRequest(text="Die Hard", user=USER))
    say(op="textToAudio", bytes=len(spoken))

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
        events=[str(e.event) for e in streamed],
        types=[type(e).__name__ for e in streamed],
    )
