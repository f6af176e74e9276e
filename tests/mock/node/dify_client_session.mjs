// The Node SDK `dify-client` (npm), unchanged, on every Chat App operation it has, against a mock
// at argv[2] with the app keys of argv[3] (JSON: {chat, agent, chatflow, voice}). Prints one JSON
// document: every exchange (operation, method, path, status, headers, body as the SDK received it)
// for the Python side to check against the contract, and what the SDK's user saw.
import { ChatClient } from "dify-client";

const [base, keysJson] = process.argv.slice(2);
const keys = JSON.parse(keysJson);
const exchanges = [];
const user = `node-sdk-${process.pid}`;
const poster = process.argv[4];

async function call(op, method, path, promise, stream = false) {
  const resp = await promise;
  let body = resp.data;
  if (stream) {
    body = "";
    for await (const chunk of resp.data) body += chunk.toString("utf8");
  } else if (typeof body !== "string") {
    body = JSON.stringify(body);
  }
  exchanges.push({ op, method, path, status: resp.status, headers: { ...resp.headers }, body });
  return stream ? body : (body ? JSON.parse(body) : null);
}

function events(text) {
  return text.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => JSON.parse(f.slice(6)));
}

const chat = new ChatClient(keys.chat, `${base}/v1`);
const seen = {};
seen.parameters = await call("getApplicationParameters", "GET", "/v1/parameters", chat.getApplicationParameters(user));
const first = await call("createChatMessage", "POST", "/v1/chat-messages",
  chat.createChatMessage({ book: "Die Hard" }, "Which movie is the best?", user));
seen.blocking = first;
const conv = first.conversation_id;
const streamed = await call("createChatMessage", "POST", "/v1/chat-messages",
  chat.createChatMessage({}, "Can you explain why?", user, true, conv), true);
seen.chatEvents = events(streamed).map((e) => e.event);
seen.chatStreamAnswer = events(streamed).filter((e) => e.event === "message").map((e) => e.answer).join("");
const history = await call("getConversationMessages", "GET", "/v1/messages", chat.getConversationMessages(user, conv));
seen.history = history.data.map((m) => m.answer);
seen.conversations = (await call("getConversations", "GET", "/v1/conversations", chat.getConversations(user))).data.map((c) => c.id);
seen.feedback = await call("messageFeedback", "POST", `/v1/messages/${first.id}/feedbacks`,
  chat.messageFeedback(first.id, "like", user));
seen.renamed = (await call("renameConversation", "POST", `/v1/conversations/${conv}/name`,
  chat.renameConversation(conv, "Die Hard talk", user))).name;

const form = new FormData();
form.append("file", new Blob([await (await import("node:fs/promises")).readFile(poster)], { type: "image/png" }), "poster.png");
form.append("user", user);
const upload = await call("fileUpload", "POST", "/v1/files/upload", chat.fileUpload(form));
seen.upload = upload;
const withFile = await call("createChatMessage", "POST", "/v1/chat-messages",
  chat.createChatMessage({ book: "Die Hard" }, "What is on this poster?", user, false, null,
    [{ type: "image", transfer_method: "local_file", upload_file_id: upload.id }]));
const fileHistory = await call("getConversationMessages", "GET", "/v1/messages",
  chat.getConversationMessages(user, withFile.conversation_id));
seen.userFiles = fileHistory.data[0].message_files.map((f) => f.belongs_to);

for (const app of ["agent", "chatflow", "voice"]) {
  const client = new ChatClient(keys[app], `${base}/v1`);
  const text = await call("createChatMessage", "POST", "/v1/chat-messages",
    client.createChatMessage({ book: "Die Hard" }, "Show me the Die Hard poster", user, true), true);
  seen[`${app}Events`] = [...new Set(events(text).map((e) => e.event))];
  seen[`${app}Conversation`] = events(text)[0].conversation_id;
}
seen.deleted = await call("deleteConversation", "DELETE", `/v1/conversations/${conv}`, chat.deleteConversation(conv, user));
seen.afterDelete = (await call("getConversations", "GET", "/v1/conversations", chat.getConversations(user))).data.map((c) => c.id);
seen.agentConversationsForChatKey = seen.afterDelete.includes(seen.agentConversation);
console.log(JSON.stringify({ exchanges, seen }));
