// The WebTorrent tracker messages of trystero@0.22.0's torrent.js, built and read without any
// I/O so that they can be checked against what the JS produces. Stateless, thread-safe.
//
// Outgoing (JSON.stringify key order, matched byte for byte):
//   announce
//   {"action":"announce","info_hash","peer_id","numwant":10,"offers":[{"offer_id","offer"}]} answer
//   {"action":"announce","info_hash","peer_id","answer","offer_id","to_peer_id"}
// offer/answer are trystero's sealed {"type","sdp"} objects. Nothing is sent on leave.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::strategies::torrent {

inline constexpr std::size_t kHashLimit = 20;      // info_hash and offer_id length
inline constexpr std::size_t kOfferPoolSize = 10;  // offers per announce, and numwant
inline constexpr std::chrono::milliseconds kDefaultAnnounceInterval{33333};
inline constexpr std::chrono::milliseconds kMaxAnnounceInterval{120333};
inline constexpr std::size_t kDefaultRedundancy = 3;
// Tracker messages longer than this are dropped unread (an offer is a few KiB).
inline constexpr std::size_t kMaxTrackerMessageBytes = 512 * 1024;

// torrent.js getInfoHash(): the first 20 characters of sha1(rootTopic). Note that rootTopic is
// already trystero's topic hash of "Trystero@<appId>@<roomId>", so this hashes a hash.
std::string infoHash(std::string_view rootTopic);

struct OutgoingOffer {
  std::string offerId;
  std::string offer;  // JSON text of the sealed {"type","sdp"} object
};

// The periodic announce with our pre-made offers. Offers whose text is not a JSON object are
// left out.
std::string announceMessage(std::string_view infoHash, std::string_view peerId,
                            const std::vector<OutgoingOffer>& offers);

// The answer to a received offer. signal is the engine's {"peerId","answer"} JSON text; only its
// "answer" member is sent ("certain trackers will reject if answer contains extra fields").
// nullopt when signal has no answer object.
std::optional<std::string> answerMessage(std::string_view infoHash, std::string_view peerId,
                                         std::string_view signal, std::string_view offerId,
                                         std::string_view toPeerId);

// One message from a tracker, validated. Fields are set only when present with a usable type.
struct TrackerMessage {
  enum class Kind {
    None,    // no offer or answer (announce responses, scrape responses, ...)
    Offer,   // a peer's offer relayed to us: answer it with offerId to peerId
    Answer,  // a peer's answer to our offer offerId
    Invalid  // carried an offer/answer that must be dropped: see `problem`
  };
  std::optional<std::string> failure;  // "failure reason" (the rest is then ignored)
  std::optional<std::string> warning;  // "warning message"
  std::optional<std::string> infoHash;
  std::optional<double> intervalSeconds;  // "interval", a positive number
  Kind kind = Kind::None;
  std::string offerId;
  std::string peerId;   // the offering or answering peer
  std::string signal;   // {"peerId","offer"} / {"peerId","answer"} JSON text for the engine
  std::string problem;  // why it is Invalid (or why an unknown action was ignored)
};

// nullopt when text is not a JSON object. selfId is used to drop messages addressed (with
// to_peer_id) to another peer.
std::optional<TrackerMessage> parseTrackerMessage(std::string_view text, std::string_view selfId);

// The announce interval after a tracker asked for intervalSeconds, as torrent.js does it: only
// ever raised (intervals at or below the current one are ignored), and capped at 120,333 ms.
std::chrono::milliseconds nextAnnounceInterval(std::chrono::milliseconds current,
                                               double intervalSeconds);

}  // namespace trystero::strategies::torrent
