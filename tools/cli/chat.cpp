// `trystero chat ROOM`: lines from stdin go to every peer as strings on the action "chat";
// what peers send is printed. "/peers" lists the peers, "/quit" (or end of input) leaves.
#include <iostream>
#include <thread>

#include "commands.hpp"

namespace trystero::cli {

int runChat(const Options& options, Output& out) {
  Session session(options, out);
  auto chat = session.room().makeAction(kChatAction);
  auto queue = session.queue();
  chat.receive([queue, &out](const Payload& payload, const std::string& peerId, const Metadata&) {
    std::string text =
        payload.isText() ? payload.text()
        : payload.isJson()
            ? payload.json().dump()
            : "<" + humanBytes(static_cast<double>(payload.bytes().size())) + " of binary>";
    queue->push([&out, peerId, text] {
      out.line({{"event", "message"}, {"peerId", peerId}, {"text", text}},
               shortId(peerId) + ": " + text);
    });
  });
  session.onJoin = [&out](const std::string& peerId) {
    if (!out.json()) out.line({}, "* " + peerId + " joined");
  };
  session.onLeave = [&out](const std::string& peerId) {
    if (!out.json()) out.line({}, "* " + peerId + " left");
  };
  if (!out.json()) {
    out.line({}, "* in room '" + options.room + "' as " + selfId() + " (" + options.strategy +
                     "); type to talk, /peers, /quit");
  }

  bool inputDone = false;
  Future<void> lastSend;
  // std::getline blocks; the reader is detached so that a signal can end the program while it
  // waits for input.
  std::thread([queue, &inputDone, &session, &out, &chat, &lastSend] {
    std::string line;
    while (std::getline(std::cin, line)) {
      queue->push([line, &session, &out, &chat, &lastSend, &inputDone] {
        if (line == "/quit") {
          inputDone = true;
        } else if (line == "/peers") {
          std::string list;
          for (const auto& id : session.peers()) list += " " + id;
          out.line({{"event", "peers"}, {"peers", session.peers()}},
                   "* peers:" + (list.empty() ? std::string(" none") : list));
        } else if (!line.empty()) {
          lastSend = chat.send(line);
        }
      });
    }
    queue->push([&inputDone] { inputDone = true; });
  }).detach();

  int code = session.runUntil([&] { return inputDone; }, false);
  if (code == kOk && lastSend.valid()) {
    session.runUntil([&] { return lastSend.ready(); }, false);
  }
  return code;
}

}  // namespace trystero::cli
